/** @file Exact denoiser E[x0 | x_t] of a Gaussian mixture under any schedule — the closed-form teacher of the toys.
 * Given component k (mean μ_k, std s_k): x_t | k ~ N(α μ_k, (α² s_k² + σ²) I), so
 *   r_k(x_t) ∝ π_k N(x_t; α μ_k, v_k I),  v_k = α² s_k² + σ²,
 *   E[x0 | x_t, k] = μ_k + (α s_k² / v_k) (x_t − α μ_k),
 *   D(x_t, t) = Σ_k r_k E[x0 | x_t, k].
 * Conditional: D(x_t, t, c) sums over class c's components only; the null label −1 sums over all of them.
 * `corrupt` makes the teacher wrong on purpose inside a disc (AMD's forbidden zone, docs/methods/amd.md). */
import * as z from 'zod';
import { defineModel, type ModelEnv } from './model.ts';
import { OpShapeError } from '../define.ts';
import { ScheduleSchema, type GmmSpec } from '../../dsl/ir/schema.ts';
import { gmmDim } from '../datasets.ts';
import { showType, type TensorType } from '../../dsl/types.ts';

export const CorruptionSchema = z
  .object({
    /** the class whose conditional branch is corrupted */
    class: z.number().int().nonnegative(),
    center: z.array(z.number()),
    radius: z.number().positive(),
    /** width of the sigmoid edge of the disc */
    softness: z.number().positive(),
    /** corrupted only at t < tMax (low noise) */
    tMax: z.number().min(0).max(1),
    /** 'attractor': pull to center + shrink·(u − center); 'dead': the identity u (no pull at all) */
    kind: z.enum(['attractor', 'dead']),
    shrink: z.number().min(0).max(1),
  })
  .strict();
export type Corruption = z.infer<typeof CorruptionSchema>;

export const GmmDenoiserConfig = z
  .object({ dataset: z.string().min(1), schedule: ScheduleSchema, conditional: z.boolean().default(false), corrupt: CorruptionSchema.optional() })
  .strict();
export type GmmDenoiserConfig = z.infer<typeof GmmDenoiserConfig>;

/** the model's dataset, after checking the inputs against it: (x, [t], [c]) with x f32[B,D], t f32[B,1], c i32[B] */
function checkInputs(name: string, ins: TensorType[], env: ModelEnv, dataset: string, withTime: boolean, conditional: boolean): GmmSpec {
  const ds = env.dataset(dataset);
  if (!ds) throw new OpShapeError(`unknown dataset '${dataset}'`, 'unknown_dataset');
  if (ds.kind !== 'gmm') throw new OpShapeError(`${name} needs a Gaussian-mixture dataset; '${dataset}' holds ${ds.kind}`, 'unknown_dataset');
  const d = gmmDim(ds);
  const sig = ['x', ...(withTime ? ['t'] : []), ...(conditional ? ['c'] : [])];
  if (ins.length !== sig.length) throw new OpShapeError(`${name} takes (${sig.join(', ')}), got ${ins.length} input(s)`);
  const [x, t] = ins;
  if (x!.shape.length !== 2 || x!.shape[1] !== d) throw new OpShapeError(`${name} input expected f32[B,${d}], got ${showType(x!)}`);
  if (withTime && (t!.shape.length !== 2 || t!.shape[1] !== 1 || t!.shape[0] !== x!.shape[0]))
    throw new OpShapeError(`${name} time expected f32[${x!.shape[0]},1], got ${showType(t!)}`);
  const c = ins[sig.length - 1]!;
  if (conditional && (c.dtype !== 'i32' || c.shape.length !== 1 || c.shape[0] !== x!.shape[0]))
    throw new OpShapeError(`${name} class input expected i32[${x!.shape[0]}], got ${showType(c)}`, 'dtype_mismatch');
  return ds;
}

export const gmmDenoiser = defineModel<GmmDenoiserConfig>({
  kind: 'gmm_denoiser',
  config: GmmDenoiserConfig,
  outType(c, ins, env) {
    const ds = checkInputs('gmm_denoiser', ins, env, c.dataset, true, c.conditional);
    if (c.corrupt && !c.conditional) throw new OpShapeError('gmm_denoiser: corrupt needs conditional: true');
    if (c.corrupt && c.corrupt.center.length !== gmmDim(ds)) throw new OpShapeError(`gmm_denoiser: corrupt.center needs ${gmmDim(ds)} coordinates`);
    return { dtype: 'f32', shape: [ins[0]!.shape[0]!, gmmDim(ds)] };
  },
  init: () => ({}),
});

export const GmmLogDensityConfig = z.object({ dataset: z.string().min(1), conditional: z.boolean().default(false) }).strict();
export type GmmLogDensityConfig = z.infer<typeof GmmLogDensityConfig>;

/** log p(x) (or log p(x | c)) of the mixture, as f32[B,1]: the exact reward proxy of the toys. */
export const gmmLogDensity = defineModel<GmmLogDensityConfig>({
  kind: 'gmm_log_density',
  config: GmmLogDensityConfig,
  outType(c, ins, env) {
    const ds = checkInputs('gmm_log_density', ins, env, c.dataset, false, c.conditional);
    if (ds.subspace) throw new OpShapeError(`gmm_log_density: '${c.dataset}' is a subspace mixture, which it does not support`);
    return { dtype: 'f32', shape: [ins[0]!.shape[0]!, 1] };
  },
  init: () => ({}),
});
