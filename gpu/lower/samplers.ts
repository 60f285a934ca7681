/** @file TensorFlow.js lowerings of masked discrete diffusion, Gaussian ancestral sampling and the pairing metrics:
 * draws are made in JS from the node's stream (host reads), so every backend sees the same tokens. */
import type { LowerCtx, Tensor, TfjsTable } from './context.ts';
import { resolveShape } from '../../dsl/types.ts';
import type { Rng } from '../../ops/rng.ts';
import { alphaMasked, drawCategorical, nucleusMask, posterior, type MaskedSampleParams } from '../../ops/discrete.ts';
import { gaussPosterior, type AncestralParams } from '../../ops/ancestral.ts';
import { scheduleAt } from '../../ops/schedules.ts';
import { derangement, otEnergy } from '../../ops/metrics/copying.ts';

/**
 * The k-step ancestral sampler: z ← all MASK; for t_j = 1 − j/k: p = x̂(z, t), x ~ Cat(p) per position,
 * z ← q(z_s | z_t, x). At s = 0 every position is revealed.
 */
export function maskedSample(ctx: LowerCtx, p: MaskedSampleParams, rows: number, rng: Rng, model = ctx.model(p.model)): Int32Array {
  const base = p.base ? ctx.model(p.base) : undefined;
  const { tf } = ctx;
  const { length: L, vocab: V, steps: k } = p;
  let zt: Int32Array = new Int32Array(rows * L).fill(V);
  for (let j = 0; j < k; j++) {
    const t = 1 - j / k;
    const s = 1 - (j + 1) / k;
    const probs = tf.tidy(() => {
      const ins: Tensor[] = [tf.tensor(zt, [rows, L], 'int32'), tf.fill([rows, 1], t)];
      if (p.noise > 0) ins.push(tf.tensor(rng.normals(rows * p.noise), [rows, p.noise]));
      if (base) ins.push(base(ins.slice(0, 2)));
      let q = model(ins);
      if (p.temperature !== 1) q = tf.pow(tf.maximum(q, 0), 1 / p.temperature);
      return q.dataSync() as Float32Array;
    });
    const x = drawCategorical(probs, V, rng);
    zt = posterior(zt, x, new Float32Array(rows).fill(t), new Float32Array(rows).fill(s), L, V, rng, new Int32Array(rows * L));
  }
  return zt;
}

/** z ← σ(1)·N(0, I); for t_j = 1 − j/k: x̃ = model(z, t), z ← q(z_s | z_t, x̃); at s = 0, z = x̃ */
function ancestralSample(ctx: LowerCtx, p: AncestralParams, rows: number, rng: Rng): Float32Array {
  const { tf } = ctx;
  const model = ctx.model(p.model);
  const D = p.dim;
  const s1 = scheduleAt(p.schedule, 1).sigma;
  let zt: Float32Array = Float32Array.from(rng.normals(rows * D), (v) => v * s1);
  for (let j = 0; j < p.steps; j++) {
    const t = 1 - j / p.steps;
    const s = 1 - (j + 1) / p.steps;
    const x = tf.tidy(() => model([tf.tensor(zt, [rows, D]), tf.fill([rows, 1], t)]).dataSync() as Float32Array);
    zt = gaussPosterior(p.schedule, zt, x, new Float32Array(rows).fill(t), new Float32Array(rows).fill(s), D, rng);
  }
  return zt;
}

export const samplerLowerings = {
  softmax: { lower: ([x], _p, { tf }) => tf.softmax(x!) },
  log_softmax: { lower: ([x], _p, { tf }) => tf.logSoftmax(x!) },
  nucleus: {
    hostReads: true,
    lower: ([q], p, { tf }) => tf.tensor(nucleusMask(q!.dataSync(), q!.shape[q!.shape.length - 1]!, p.p), q!.shape),
  },
  mask_diffuse: {
    hostReads: true,
    // z_t: each token becomes MASK with probability 1 − α_t
    lower: ([x, t], p, ctx) => {
      const [B, L] = x!.shape as [number, number];
      const xs = x!.dataSync();
      const ts = t!.dataSync();
      const rng = ctx.rng();
      const out = new Int32Array(B * L);
      for (let i = 0; i < B * L; i++) out[i] = rng.uniform() < 1 - alphaMasked(ts[Math.floor(i / L)]!) ? p.mask : xs[i]!;
      return ctx.tf.tensor(out, [B, L], 'int32');
    },
  },
  categorical: {
    hostReads: true,
    lower: ([p], _p, ctx) => {
      const V = p!.shape[p!.shape.length - 1]!;
      return ctx.tf.tensor(drawCategorical(p!.dataSync(), V, ctx.rng()), p!.shape.slice(0, -1), 'int32');
    },
  },
  mask_posterior: {
    hostReads: true,
    lower: ([zt, x, t, s], p, ctx) => {
      const [B, L] = zt!.shape as [number, number];
      return ctx.tf.tensor(posterior(zt!.dataSync(), x!.dataSync(), t!.dataSync(), s!.dataSync(), L, p.mask, ctx.rng(), new Int32Array(B * L)), [B, L], 'int32');
    },
  },
  masked_sample: {
    hostReads: true,
    lower: (_i, p, ctx) => {
      const [rows] = resolveShape([p.rows], ctx.dims);
      return ctx.tf.tensor(maskedSample(ctx, p, rows!, ctx.rng()), [rows!, p.length], 'int32');
    },
  },
  gauss_posterior: {
    hostReads: true,
    lower: ([zt, x, t, s], p, ctx) => {
      const [B, D] = zt!.shape as [number, number];
      return ctx.tf.tensor(gaussPosterior(p.schedule, zt!.dataSync(), x!.dataSync(), t!.dataSync(), s!.dataSync(), D, ctx.rng()), [B, D]);
    },
  },
  ancestral_sample: {
    hostReads: true,
    lower: (_i, p, ctx) => {
      const [rows] = resolveShape([p.rows], ctx.dims);
      return ctx.tf.tensor(ancestralSample(ctx, p, rows!, ctx.rng()), [rows!, p.dim]);
    },
  },
  pairing_error: {
    hostReads: true,
    lower: ([a, b], p, { tf }) => {
      const [n, d] = a!.shape as [number, number];
      const A = a!.dataSync();
      const B = b!.dataSync();
      const perm = derangement(n, n);
      let paired = 0;
      let shuffled = 0;
      for (let i = 0; i < n; i++)
        for (let j = 0; j < d; j++) {
          paired += (A[i * d + j]! - B[i * d + j]!) ** 2;
          shuffled += (A[i * d + j]! - B[perm[i]! * d + j]!) ** 2;
        }
      return tf.scalar(p.baseline === 'gaussian' ? paired / n / (2 * d) : paired / Math.max(shuffled, 1e-30));
    },
  },
  transport_energy: {
    hostReads: true,
    lower: ([m, zz], p, { tf }) => {
      const [n, d] = m!.shape as [number, number];
      const M = m!.dataSync() as Float32Array;
      const Z = zz!.dataSync() as Float32Array;
      if (p.coupling === 'ot') return tf.scalar(otEnergy(M, Z, d, p.scale, Math.min(n, p.rows)));
      let s = 0;
      for (let i = 0; i < n * d; i++) s += (M[i]! - p.scale * Z[i]!) ** 2;
      return tf.scalar(s / n);
    },
  },
} satisfies Partial<TfjsTable>;
