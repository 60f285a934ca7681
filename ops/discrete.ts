/**
 * @file Masked (absorbing-state) discrete diffusion (docs/methods/dmmd.md): tokens are i32, MASK is the id `vocab`, the
 * schedule is linear, α_t = 1 − t (our choice; the D-MMD paper, arXiv 2603.20155, names none). Ops: softmax /
 * log-softmax over the last axis, the forward process, categorical draws, the posterior q(z_s | z_t, x), and the k-step
 * ancestral sampler. Draws are made in JS from the node's stream, like every other random op, so every backend sees
 * the same tokens.
 */
import * as z from 'zod';
import { defineOp, OpShapeError } from './define.ts';
import { checkTime } from './shape.ts';
import { showType, type TensorType } from '../dsl/types.ts';
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

const lastAxis = <K extends 'softmax' | 'log_softmax'>(kind: K) =>
  defineOp({
    kind,
    params: z.object({}).strict(),
    arity: 1,
    shape: ([x]) => {
      if (x!.dtype !== 'f32' || x!.shape.length < 1) throw new OpShapeError(`${kind} expects f32 with at least one axis, got ${showType(x!)}`, 'dtype_mismatch');
      return { dtype: 'f32', shape: [...x!.shape] };
    },
    differentiable: true,
    // over the last axis: rows meet only when there is no other axis
    rows: (_p, [x]) => (x!.shape.length > 1 ? 'rowwise' : 'mixes'),
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
    params: z.object({ p: z.number().gt(0).max(1) }).strict(),
    arity: 1,
    shape: ([q]) => {
      if (q!.dtype !== 'f32' || q!.shape.length < 1) throw new OpShapeError(`nucleus expects probabilities f32[..., V], got ${showType(q!)}`, 'dtype_mismatch');
      return { dtype: 'f32', shape: [...q!.shape] };
    },
    differentiable: false,
    rows: 'rowwise',
  }),
  softmax: lastAxis('softmax'),
  log_softmax: lastAxis('log_softmax'),
  mask_diffuse: defineOp({
    kind: 'mask_diffuse',
    params: z.object({ mask: z.int().min(1) }).strict(),
    arity: 2,
    shape: ([x, t]) => {
      if (!isTokens(x!) || x!.shape.length !== 2) throw new OpShapeError(`mask_diffuse expects tokens i32[B,L], got ${showType(x!)}`, 'dtype_mismatch');
      checkTime('mask_diffuse', x!.shape[0], t!);
      return { dtype: 'i32', shape: [...x!.shape] };
    },
    // z_t: each token becomes MASK with probability 1 − α_t
    differentiable: false,
    rows: 'rowwise',
    random: 'output',
  }),
  categorical: defineOp({
    kind: 'categorical',
    params: z.object({}).strict(),
    arity: 1,
    shape: ([p]) => {
      if (p!.dtype !== 'f32' || p!.shape.length < 2) throw new OpShapeError(`categorical expects probabilities f32[..., V], got ${showType(p!)}`, 'dtype_mismatch');
      return { dtype: 'i32', shape: p!.shape.slice(0, -1) };
    },
    // a hard draw per row of the last axis: no gradient flows through it (D-MMD's losses use the soft p instead)
    differentiable: false,
    rows: 'rowwise',
    random: 'output',
  }),
  mask_posterior: defineOp({
    kind: 'mask_posterior',
    params: z.object({ mask: z.int().min(1) }).strict(),
    arity: 4,
    shape: ([zt, x, t, s]) => {
      if (!isTokens(zt!) || zt!.shape.length !== 2) throw new OpShapeError(`mask_posterior expects z_t i32[B,L], got ${showType(zt!)}`, 'dtype_mismatch');
      if (!isTokens(x!) || !sameRows(zt!, x!)) throw new OpShapeError(`mask_posterior expects x like z_t (${showType(zt!)}), got ${showType(x!)}`, 'dtype_mismatch');
      checkTime('mask_posterior', zt!.shape[0], t!);
      checkTime('mask_posterior', zt!.shape[0], s!);
      return { dtype: 'i32', shape: [...zt!.shape] };
    },
    differentiable: false,
    rows: 'rowwise',
    random: 'output',
  }),
  masked_sample: defineOp({
    kind: 'masked_sample',
    params: MaskedSampleParams,
    arity: 0,
    shape: (_i, p, ctx) => {
      for (const role of [p.model, ...(p.base ? [p.base] : [])]) if (!ctx.model(role)) throw new OpShapeError(`no model has the role '${role}'`, 'unknown_model');
      return { dtype: 'i32', shape: [p.rows, p.length] };
    },
    differentiable: false,
    rows: 'rowwise',
    random: 'output',
  }),
};
