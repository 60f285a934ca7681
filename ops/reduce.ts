/** @file Reductions over axes (negative axes count from the end; no axes = all). */
import * as z from 'zod';
import { defineOp, type Tensor, type TF } from './define.ts';
import { normaliseAxes, reduceShape, sameDtype } from './shape.ts';

const ReduceParams = z.object({ axes: z.array(z.number().int()).optional(), keepDims: z.boolean().default(false) }).strict();

const reduction = <K extends string>(kind: K, f: (tf: TF, x: Tensor, axes: number[], keep: boolean) => Tensor) =>
  defineOp({
    kind,
    params: ReduceParams,
    arity: 1,
    shape: ([x], p) => ({ dtype: sameDtype([x!], 'f32'), shape: reduceShape(x!.shape, p.axes, p.keepDims) }),
    lower: ([x], p, { tf }) => f(tf, x!, normaliseAxes(p.axes, x!.rank), p.keepDims),
    differentiable: true,
    fusion: 'reduction',
  });

export const reduce = {
  sum: reduction('sum', (tf, x, a, k) => tf.sum(x, a, k)),
  mean: reduction('mean', (tf, x, a, k) => tf.mean(x, a, k)),
  max: reduction('max', (tf, x, a, k) => tf.max(x, a, k)),
  min: reduction('min', (tf, x, a, k) => tf.min(x, a, k)),
};
