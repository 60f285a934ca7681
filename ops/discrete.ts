/**
 * @file Masked (absorbing-state) discrete diffusion (specs/dmmd.md §2): tokens are i32, MASK is the id `vocab`, the
 * schedule is linear, α_t = 1 − t (the spec's choice for the toys). Ops: softmax / log-softmax over the last axis,
 * the forward process, categorical draws, the posterior q(z_s | z_t, x), and the k-step ancestral sampler. Draws are
 * made in JS from the node's stream, like every other random op, so every backend sees the same tokens.
 */
import * as z from 'zod';
import { defineOp, OpShapeError, type LowerCtx, type Tensor } from './define.ts';
import { checkTime } from './shape.ts';
import { showType, resolveShape, type TensorType } from '../dsl/types.ts';
import type { Rng } from './rng.ts';

/** α_t of the linear schedule */
export const alphaMasked = (t: number) => 1 - t;

const isTokens = (x: TensorType) => x.dtype === 'i32';
const sameRows = (a: TensorType, b: TensorType) => a.shape.length === b.shape.length && a.shape.every((d, i) => d === b.shape[i]);


/** Each masked position of z_t reveals x w.p. (α_s − α_t)/(1 − α_t); revealed ones stay (host arrays, in place into `out`). */
export function posterior(zt: ArrayLike<number>, x: ArrayLike<number>, t: ArrayLike<number>, s: ArrayLike<number>, L: number, mask: number, rng: Rng, out: Int32Array): Int32Array {
  for (let r = 0; r < out.length / L; r++) {
    const at = alphaMasked(t[r]!);
    const reveal = at >= 1 ? 1 : (alphaMasked(s[r]!) - at) / (1 - at);
    for (let d = 0; d < L; d++) {
      const i = r * L + d;
      out[i] = zt[i] !== mask ? zt[i]! : rng.uniform() < reveal ? x[i]! : mask;
    }
  }
  return out;
}

/** one categorical draw per row of non-negative p [n, V] (rows need not be normalised) */
export function drawCategorical(p: ArrayLike<number>, V: number, rng: Rng): Int32Array {
  const out = new Int32Array(p.length / V);
  for (let r = 0; r < out.length; r++) {
    let total = 0;
    for (let v = 0; v < V; v++) total += p[r * V + v]!;
    out[r] = rng.categorical(p, total, r * V, V);
  }
  return out;
}

export const MaskedSampleParams = z
  .object({
    model: z.string().min(1),
    steps: z.int().min(1).max(4096),
    rows: z.union([z.int().positive(), z.string().min(1)]),
    length: z.int().min(1),
    vocab: z.int().min(2),
    /** size of the Gaussian input noise ε the model takes (0: none); fresh at every step */
    noise: z.int().min(0).default(0),
    /** p ∝ p^{1/τ} before each draw */
    temperature: z.number().positive().default(1),
    /** a residual model's base: this role's probabilities at (z, t) are fed as the model's last input */
    base: z.string().min(1).optional(),
  })
  .strict();
export type MaskedSampleParams = z.infer<typeof MaskedSampleParams>;

/**
 * The k-step ancestral sampler (spec §2.4): z ← all MASK; for t_j = 1 − j/k: p = x̂(z, t), x ~ Cat(p) per position,
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

const lastAxis = (kind: 'softmax' | 'log_softmax') =>
  defineOp({
    kind,
    params: z.object({}).strict(),
    arity: 1,
    shape: ([x]) => {
      if (x!.dtype !== 'f32' || x!.shape.length < 1) throw new OpShapeError(`${kind} expects f32 with at least one axis, got ${showType(x!)}`, 'dtype_mismatch');
      return { dtype: 'f32', shape: [...x!.shape] };
    },
    lower: ([x], _p, { tf }) => (kind === 'softmax' ? tf.softmax(x!) : tf.logSoftmax(x!)),
    differentiable: true,
    fusion: 'reduction',
  });

/** 1 for the tokens of the nucleus (the smallest set of the most probable tokens whose mass reaches p), else 0 */
export function nucleusMask(probs: ArrayLike<number>, V: number, p: number): Float32Array {
  const out = new Float32Array(probs.length);
  const idx = [...Array(V).keys()];
  for (let r = 0; r < probs.length / V; r++) {
    idx.sort((a, b) => probs[r * V + b]! - probs[r * V + a]!);
    let mass = 0;
    for (const v of idx) {
      out[r * V + v] = 1;
      mass += probs[r * V + v]!;
      if (mass >= p) break;
    }
  }
  return out;
}

export const discrete = {
  nucleus: defineOp({
    kind: 'nucleus',
    hostReads: true,
    params: z.object({ p: z.number().gt(0).max(1) }).strict(),
    arity: 1,
    shape: ([q]) => {
      if (q!.dtype !== 'f32' || q!.shape.length < 1) throw new OpShapeError(`nucleus expects probabilities f32[..., V], got ${showType(q!)}`, 'dtype_mismatch');
      return { dtype: 'f32', shape: [...q!.shape] };
    },
    lower: ([q], p, { tf }) => tf.tensor(nucleusMask(q!.dataSync(), q!.shape[q!.shape.length - 1]!, p.p), q!.shape),
    differentiable: false,
    fusion: 'opaque',
  }),
  softmax: lastAxis('softmax'),
  log_softmax: lastAxis('log_softmax'),
  mask_diffuse: defineOp({
    kind: 'mask_diffuse',
    hostReads: true,
    params: z.object({ mask: z.int().min(1) }).strict(),
    arity: 2,
    shape: ([x, t]) => {
      if (!isTokens(x!) || x!.shape.length !== 2) throw new OpShapeError(`mask_diffuse expects tokens i32[B,L], got ${showType(x!)}`, 'dtype_mismatch');
      checkTime('mask_diffuse', x!.shape[0], t!);
      return { dtype: 'i32', shape: [...x!.shape] };
    },
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
    differentiable: false,
    fusion: 'source',
    random: true,
  }),
  categorical: defineOp({
    kind: 'categorical',
    hostReads: true,
    params: z.object({}).strict(),
    arity: 1,
    shape: ([p]) => {
      if (p!.dtype !== 'f32' || p!.shape.length < 2) throw new OpShapeError(`categorical expects probabilities f32[..., V], got ${showType(p!)}`, 'dtype_mismatch');
      return { dtype: 'i32', shape: p!.shape.slice(0, -1) };
    },
    // a hard draw per row of the last axis: no gradient flows through it (D-MMD's losses use the soft p instead)
    lower: ([p], _p, ctx) => {
      const V = p!.shape[p!.shape.length - 1]!;
      return ctx.tf.tensor(drawCategorical(p!.dataSync(), V, ctx.rng()), p!.shape.slice(0, -1), 'int32');
    },
    differentiable: false,
    fusion: 'opaque',
    random: true,
  }),
  mask_posterior: defineOp({
    kind: 'mask_posterior',
    hostReads: true,
    params: z.object({ mask: z.int().min(1) }).strict(),
    arity: 4,
    shape: ([zt, x, t, s]) => {
      if (!isTokens(zt!) || zt!.shape.length !== 2) throw new OpShapeError(`mask_posterior expects z_t i32[B,L], got ${showType(zt!)}`, 'dtype_mismatch');
      if (!isTokens(x!) || !sameRows(zt!, x!)) throw new OpShapeError(`mask_posterior expects x like z_t (${showType(zt!)}), got ${showType(x!)}`, 'dtype_mismatch');
      checkTime('mask_posterior', zt!.shape[0], t!);
      checkTime('mask_posterior', zt!.shape[0], s!);
      return { dtype: 'i32', shape: [...zt!.shape] };
    },
    lower: ([zt, x, t, s], p, ctx) => {
      const [B, L] = zt!.shape as [number, number];
      return ctx.tf.tensor(posterior(zt!.dataSync(), x!.dataSync(), t!.dataSync(), s!.dataSync(), L, p.mask, ctx.rng(), new Int32Array(B * L)), [B, L], 'int32');
    },
    differentiable: false,
    fusion: 'opaque',
    random: true,
  }),
  masked_sample: defineOp({
    kind: 'masked_sample',
    hostReads: true,
    params: MaskedSampleParams,
    arity: 0,
    shape: (_i, p, ctx) => {
      for (const role of [p.model, ...(p.base ? [p.base] : [])]) if (!ctx.model(role)) throw new OpShapeError(`no model has the role '${role}'`, 'unknown_model');
      return { dtype: 'i32', shape: [p.rows, p.length] };
    },
    lower: (_i, p, ctx) => {
      const [rows] = resolveShape([p.rows], ctx.dims);
      return ctx.tf.tensor(maskedSample(ctx, p, rows!, ctx.rng()), [rows!, p.length], 'int32');
    },
    differentiable: false,
    fusion: 'opaque',
    random: true,
  }),
};
