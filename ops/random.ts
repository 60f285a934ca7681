/** @file Sources: Gaussian noise, uniform draws, samples of a dataset. Drawn in JS from the node's stream. */
import * as z from 'zod';
import { defineOp } from './define.ts';
import { OpShapeError } from './define.ts';
import { resolveShape } from '../dsl/types.ts';
import { gmmDim, sampleGmm } from './datasets.ts';
import { sampleTokens } from './tokens.ts';

const ShapeParam = z.array(z.union([z.number().int().nonnegative(), z.string().min(1)]));
const size = (s: number[]) => s.reduce((a, b) => a * b, 1);

export const random = {
  randn: defineOp({
    kind: 'randn',
    params: z.object({ shape: ShapeParam }).strict(),
    arity: 0,
    shape: (_i, p) => ({ dtype: 'f32', shape: p.shape }),
    lower: (_i, p, ctx) => {
      const shape = resolveShape(p.shape, ctx.dims);
      return ctx.tf.tensor(ctx.rng().normals(size(shape)), shape, 'float32');
    },
    differentiable: false,
    fusion: 'source',
    random: true,
  }),
  uniform: defineOp({
    kind: 'uniform',
    params: z.object({ shape: ShapeParam, low: z.number(), high: z.number() }).strict(),
    arity: 0,
    shape: (_i, p) => ({ dtype: 'f32', shape: p.shape }),
    lower: (_i, p, ctx) => {
      const shape = resolveShape(p.shape, ctx.dims);
      return ctx.tf.tensor(ctx.rng().uniforms(size(shape), p.low, p.high), shape, 'float32');
    },
    differentiable: false,
    fusion: 'source',
    random: true,
  }),
  sample_data: defineOp({
    kind: 'sample_data',
    params: z.object({ dataset: z.string(), rows: z.union([z.number().int().positive(), z.string().min(1)]) }).strict(),
    arity: 0,
    shape: (_i, p, ctx) => {
      const ds = ctx.dataset(p.dataset);
      if (!ds) throw new OpShapeError(`unknown dataset '${p.dataset}'`, 'unknown_dataset');
      // token sets give i32 sequences, mixtures f32 points
      return ds.kind === 'tokens' ? { dtype: 'i32', shape: [p.rows, ds.length] } : { dtype: 'f32', shape: [p.rows, gmmDim(ds)] };
    },
    lower: (_i, p, ctx) => {
      const ds = ctx.dataset(p.dataset);
      const [n] = resolveShape([p.rows], ctx.dims);
      if (ds.kind === 'tokens') return ctx.tf.tensor(sampleTokens(ds, n!, ctx.rng()), [n!, ds.length], 'int32');
      return ctx.tf.tensor(sampleGmm(ds, n!, ctx.rng()), [n!, gmmDim(ds)], 'float32');
    },
    differentiable: false,
    fusion: 'source',
    random: true,
  }),
  fill: defineOp({
    kind: 'fill',
    params: z.object({ shape: ShapeParam, value: z.number() }).strict(),
    arity: 0,
    shape: (_i, p) => ({ dtype: 'f32', shape: p.shape }),
    lower: (_i, p, ctx) => ctx.tf.fill(resolveShape(p.shape, ctx.dims), p.value, 'float32'),
    differentiable: false,
    fusion: 'source',
  }),
  scalar: defineOp({
    kind: 'scalar',
    params: z.object({ value: z.number(), dtype: z.enum(['f32', 'i32']).default('f32') }).strict(),
    arity: 0,
    shape: (_i, p) => ({ dtype: p.dtype, shape: [] }),
    lower: (_i, p, { tf }) => tf.scalar(p.value, p.dtype === 'i32' ? 'int32' : 'float32'),
    differentiable: false,
    fusion: 'source',
  }),
};
