/** @file TensorFlow.js lowerings of the sources: drawn in JS from the node's stream, so every backend sees the same draws. */
import type { LowerCtx, TfjsTable } from './context.ts';
import { resolveShape } from '../../dsl/types.ts';
import { gmmDim, sampleGmm } from '../../ops/datasets.ts';
import { sampleTokens } from '../../ops/tokens.ts';
import { labelsOf, NULL_LABEL } from '../../ops/labels.ts';
import { currentDraws } from '../kernels/gemm-pool.ts';

const size = (s: number[]) => s.reduce((a, b) => a * b, 1);

// tfjs-wasm copies a new tensor's values into its heap at once (its `write`), so on wasm the draws go through one
// reused buffer (allocating a fresh 64 KiB array costs about as much as drawing its normals); the other backends keep
// the array they are given
let scratch = new Float32Array(0);
function normalsFor(ctx: LowerCtx, n: number): Float32Array {
  if (ctx.tf.getBackend() !== 'wasm') return ctx.rng().normals(n);
  if (scratch.length < n) scratch = new Float32Array(n);
  const rng = ctx.rng();
  const out = scratch.subarray(0, n);
  // drawn ahead by the worker pool where the runtime asked for this stream's draws (the same bits)
  return currentDraws()?.take(rng.stateWords(), out) ? out : rng.normalsInto(out);
}

export const sourceLowerings = {
  randn: {
    lower: (_i, p, ctx) => {
      const shape = resolveShape(p.shape, ctx.dims);
      return ctx.tf.tensor(normalsFor(ctx, size(shape)), shape, 'float32');
    },
  },
  uniform: {
    lower: (_i, p, ctx) => {
      const shape = resolveShape(p.shape, ctx.dims);
      return ctx.tf.tensor(ctx.rng().uniforms(size(shape), p.low, p.high), shape, 'float32');
    },
  },
  sample_data: {
    lower: (_i, p, ctx) => {
      const ds = ctx.dataset(p.dataset);
      const [n] = resolveShape([p.rows], ctx.dims);
      if (ds.kind === 'tokens') return ctx.tf.tensor(sampleTokens(ds, n!, ctx.rng()), [n!, ds.length], 'int32');
      return ctx.tf.tensor(sampleGmm(ds, n!, ctx.rng()), [n!, gmmDim(ds)], 'float32');
    },
  },
  fill: { lower: (_i, p, ctx) => ctx.tf.fill(resolveShape(p.shape, ctx.dims), p.value, 'float32') },
  scalar: { lower: (_i, p, { tf }) => tf.scalar(p.value, p.dtype === 'i32' ? 'int32' : 'float32') },
  labels: {
    lower: (_i, p, ctx) => {
      const [n] = resolveShape([p.rows], ctx.dims);
      const rng = ctx.rng();
      return ctx.tf.tensor(labelsOf(n!, p.classes, p.layout, () => rng.uniform()), [n!], 'int32');
    },
  },
  null_label: { lower: (_i, p, ctx) => ctx.tf.fill(resolveShape([p.rows], ctx.dims), NULL_LABEL, 'int32') },
  // tf.oneHot maps −1 (the null condition) and any id ≥ depth (MASK) to a zero row
  one_hot: { lower: ([c], p, { tf }) => tf.cast(tf.oneHot(c!, p.depth), 'float32') },
  shuffle: {
    lower: ([x], _p, ctx) => {
      const rng = ctx.rng();
      const perm = shufflePermutation(x!.shape[0]!, () => rng.uniform());
      ctx.drew?.(perm, [perm.length]);
      return ctx.tf.gather(x!, ctx.tf.tensor1d(perm, 'int32'));
    },
  },
} satisfies Partial<TfjsTable>;

/** Fisher–Yates over 0..n−1 */
function shufflePermutation(n: number, uniform: () => number): Int32Array {
  const perm = Int32Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(uniform() * (i + 1));
    [perm[i], perm[j]] = [perm[j]!, perm[i]!];
  }
  return perm;
}
