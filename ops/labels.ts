/** @file Class conditions: label sources, the null condition, one-hot codes, and a row shuffle. */
import * as z from 'zod';
import { defineOp, OpShapeError } from './define.ts';
import { showType } from '../dsl/types.ts';
import { Rows } from './random.ts';

/** The null condition ∅ is the label −1: its one-hot code is all zeros, and a conditional teacher sees every class. */
export const NULL_LABEL = -1;

/**
 * Labels of a batch of n rows over k classes. 'balanced' gives row i the class ⌊i·k/n⌋ — equal groups in a fixed
 * layout, so per-class metrics can read samples by position; 'random' draws each row uniformly.
 */
export function labelsOf(n: number, k: number, layout: 'balanced' | 'random', uniform?: () => number): Int32Array {
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = layout === 'balanced' ? Math.floor((i * k) / n) : Math.min(k - 1, Math.floor(uniform!() * k));
  return out;
}

export const labels = {
  labels: defineOp({
    kind: 'labels',
    params: z.object({ classes: z.number().int().positive(), rows: Rows, layout: z.enum(['balanced', 'random']) }).strict(),
    arity: 0,
    shape: (_i, p) => ({ dtype: 'i32', shape: [p.rows] }),
    differentiable: false,
    // 'balanced' gives a row its class by its position in the whole batch
    rows: (p) => (p.layout === 'balanced' ? 'mixes' : 'rowwise'),
    random: 'output',
  }),
  null_label: defineOp({
    kind: 'null_label',
    params: z.object({ rows: Rows }).strict(),
    arity: 0,
    shape: (_i, p) => ({ dtype: 'i32', shape: [p.rows] }),
    differentiable: false,
    rows: 'rowwise',
  }),
  one_hot: defineOp({
    kind: 'one_hot',
    params: z.object({ depth: z.number().int().positive() }).strict(),
    arity: 1,
    shape: ([c], p) => {
      if (c!.dtype !== 'i32' || c!.shape.length < 1) throw new OpShapeError(`one_hot expects labels or tokens i32[B, ...], got ${showType(c!)}`, 'dtype_mismatch');
      return { dtype: 'f32', shape: [...c!.shape, p.depth] };
    },
    differentiable: false,
    rows: 'rowwise',
  }),
  shuffle: defineOp({
    kind: 'shuffle',
    params: z.object({}).strict(),
    arity: 1,
    shape: ([x]) => {
      if (x!.shape.length < 1) throw new OpShapeError(`shuffle permutes rows and needs rank ≥ 1, got ${showType(x!)}`);
      return { dtype: x!.dtype, shape: [...x!.shape] };
    },
    differentiable: true,
    rows: 'mixes',
    random: 'permutation',
  }),
};
