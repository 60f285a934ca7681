/** @file Sources: Gaussian noise, uniform draws, samples of a dataset, constants. Rows are drawn independently. */
import * as z from 'zod';
import { defineOp, OpShapeError } from './define.ts';
import { gmmDim } from './datasets.ts';

const ShapeParam = z.array(z.union([z.number().int().nonnegative(), z.string().min(1)]));
export const Rows = z.union([z.number().int().positive(), z.string().min(1)]);

export const random = {
  /** standard Gaussian noise */
  randn: defineOp({
    kind: 'randn',
    params: z.object({ shape: ShapeParam }).strict(),
    arity: 0,
    shape: (_i, p) => ({ dtype: 'f32', shape: p.shape }),
    differentiable: false,
    rows: 'rowwise',
    random: 'output',
    normalsOnly: true,
  }),
  /** U[low, high) */
  uniform: defineOp({
    kind: 'uniform',
    params: z.object({ shape: ShapeParam, low: z.number(), high: z.number() }).strict(),
    arity: 0,
    shape: (_i, p) => ({ dtype: 'f32', shape: p.shape }),
    differentiable: false,
    rows: 'rowwise',
    random: 'output',
  }),
  /** i.i.d. rows of a dataset: f32 points of a mixture, i32 sequences of a token set */
  sample_data: defineOp({
    kind: 'sample_data',
    params: z.object({ dataset: z.string(), rows: Rows }).strict(),
    arity: 0,
    shape: (_i, p, ctx) => {
      const ds = ctx.dataset(p.dataset);
      if (!ds) throw new OpShapeError(`unknown dataset '${p.dataset}'`, 'unknown_dataset');
      return ds.kind === 'tokens' ? { dtype: 'i32', shape: [p.rows, ds.length] } : { dtype: 'f32', shape: [p.rows, gmmDim(ds)] };
    },
    differentiable: false,
    rows: 'rowwise',
    random: 'output',
  }),
  fill: defineOp({
    kind: 'fill',
    params: z.object({ shape: ShapeParam, value: z.number() }).strict(),
    arity: 0,
    shape: (_i, p) => ({ dtype: 'f32', shape: p.shape }),
    differentiable: false,
    rows: 'rowwise',
  }),
  scalar: defineOp({
    kind: 'scalar',
    params: z.object({ value: z.number(), dtype: z.enum(['f32', 'i32']).default('f32') }).strict(),
    arity: 0,
    shape: (_i, p) => ({ dtype: p.dtype, shape: [] }),
    differentiable: false,
    rows: 'rowwise',
  }),
};
