/** @file Reductions over axes (negative axes count from the end; no axes = all). */
import * as z from 'zod';
import { defineOp } from './define.ts';
import { normaliseAxes, reduceShape, sameDtype } from './shape.ts';

const ReduceParams = z.object({ axes: z.array(z.number().int()).optional(), keepDims: z.boolean().default(false) }).strict();

const reduction = <K extends string>(kind: K) =>
  defineOp({
    kind,
    params: ReduceParams,
    arity: 1,
    shape: ([x], p) => ({ dtype: sameDtype([x!], 'f32'), shape: reduceShape(x!.shape, p.axes, p.keepDims) }),
    differentiable: true,
    // reducing axis 0 meets every row of the batch
    rows: (p, [x]) => (x!.shape.length > 0 && normaliseAxes(p.axes, x!.shape.length).includes(0) ? 'mixes' : 'rowwise'),
  });

export const reduce = {
  sum: reduction('sum'),
  mean: reduction('mean'),
  max: reduction('max'),
  min: reduction('min'),
};
