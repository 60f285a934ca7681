/**
 * @file Gaussian diffusion's posterior q(z_s | z_t, x) and the k-step ancestral sampler of an x-prediction model —
 * the generator of continuous MMD (docs/methods/dmmd.md). With α_{t|s} = α_t/α_s and σ²_{t|s} = σ_t² − α²_{t|s}σ_s²:
 *   mean = (α_{t|s} σ_s² / σ_t²) z_t + (α_s σ²_{t|s} / σ_t²) x,   variance = σ²_{t|s} σ_s² / σ_t².
 * Draws come from the node's stream in JS, like every random op.
 */
import * as z from 'zod';
import { defineOp, OpShapeError } from './define.ts';
import { checkTime } from './shape.ts';
import { ScheduleSchema, type Schedule } from '../dsl/ir/schema.ts';
import { scheduleAt } from './schedules.ts';
import { resolveShape, showType } from '../dsl/types.ts';
import type { Rng } from './rng.ts';

/** per-row posterior coefficients: z_s = a·z_t + b·x + c·ξ */
export function posteriorCoefficients(sch: Schedule, t: number, s: number): { a: number; b: number; c: number } {
  const T = scheduleAt(sch, t);
  const S = scheduleAt(sch, s);
  if (s <= 0 || S.sigma <= 0) return { a: 0, b: 1, c: 0 }; // the last step lands on the prediction
  const ats = T.alpha / S.alpha;
  const var_ts = Math.max(T.sigma ** 2 - ats ** 2 * S.sigma ** 2, 0);
  return { a: (ats * S.sigma ** 2) / T.sigma ** 2, b: (S.alpha * var_ts) / T.sigma ** 2, c: Math.sqrt((var_ts * S.sigma ** 2) / T.sigma ** 2) };
}

/** z_s for rows of z_t and x [n, D] with per-row times */
export function gaussPosterior(sch: Schedule, zt: ArrayLike<number>, x: ArrayLike<number>, t: ArrayLike<number>, s: ArrayLike<number>, D: number, rng: Rng): Float32Array {
  const n = zt.length / D;
  const out = new Float32Array(n * D);
  const xi = rng.normals(n * D);
  for (let r = 0; r < n; r++) {
    const { a, b, c } = posteriorCoefficients(sch, t[r]!, s[r]!);
    for (let d = 0; d < D; d++) out[r * D + d] = a * zt[r * D + d]! + b * x[r * D + d]! + c * xi[r * D + d]!;
  }
  return out;
}

export const AncestralParams = z
  .object({ model: z.string().min(1), schedule: ScheduleSchema, steps: z.int().min(1).max(4096), rows: z.union([z.int().positive(), z.string().min(1)]), dim: z.int().positive() })
  .strict();
export type AncestralParams = z.infer<typeof AncestralParams>;

export const ancestral = {
  gauss_posterior: defineOp({
    kind: 'gauss_posterior',
    params: z.object({ schedule: ScheduleSchema }).strict(),
    arity: 4,
    shape: ([zt, x, t, s]) => {
      if (zt!.dtype !== 'f32' || zt!.shape.length !== 2) throw new OpShapeError(`gauss_posterior expects z_t f32[B,D], got ${showType(zt!)}`);
      if (x!.shape.join() !== zt!.shape.join()) throw new OpShapeError(`gauss_posterior expects x like z_t (${showType(zt!)}), got ${showType(x!)}`);
      for (const u of [t!, s!]) checkTime('gauss_posterior', zt!.shape[0], u);
      return { dtype: 'f32', shape: [...zt!.shape] };
    },
    differentiable: false,
    rows: 'rowwise',
    random: 'output',
  }),
  ancestral_sample: defineOp({
    kind: 'ancestral_sample',
    params: AncestralParams,
    arity: 0,
    shape: (_i, p, ctx) => {
      if (!ctx.model(p.model)) throw new OpShapeError(`no model has the role '${p.model}'`, 'unknown_model');
      return { dtype: 'f32', shape: [p.rows, p.dim] };
    },
    differentiable: false,
    rows: 'rowwise',
    random: 'output',
  }),
};
