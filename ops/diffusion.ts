/** @file Schedule coefficients as ops, and the probability-flow ODE sampler of a model (Euler / Heun). */
import * as z from 'zod';
import { defineOp, OpShapeError, type LowerCtx, type Tensor } from './define.ts';
import { ScheduleSchema, type Schedule } from '../dsl/ir/schema.ts';
import { alphaExpr, alphaOf, scheduleAt, sigmaExpr, sigmaOf } from './schedules.ts';
import { sameDtype } from './shape.ts';
import { showType } from '../dsl/types.ts';
import { NULL_LABEL } from './labels.ts';

const Sched = z.object({ schedule: ScheduleSchema }).strict();

const coefficient = <K extends string>(kind: K, f: typeof alphaOf, e: typeof alphaExpr) =>
  defineOp({
    kind,
    params: Sched,
    arity: 1,
    shape: ([t]) => ({ dtype: sameDtype([t!], 'f32'), shape: [...t!.shape] }),
    lower: ([t], p, { tf }) => f(tf, p.schedule, t!),
    differentiable: true,
    fusion: 'elementwise',
    scalar: (p) => ([t]) => e(p.schedule, t!),
  });

export const PfOdeParams = z
  .object({
    model: z.string().min(1),
    schedule: ScheduleSchema,
    solver: z.enum(['euler', 'heun']),
    steps: z.number().int().positive(),
    tMax: z.number().min(0).max(1).default(1),
    tMin: z.number().min(0).max(1).default(0),
    /** classifier-free guidance scale ω for a conditional model (second input: labels): D∅ + ω(D_c − D∅) */
    guidance: z.number().default(1),
    /** run the flow backwards, data → noise: start at tMin from the input, end at tMax, return x/σ(tMax) */
    invert: z.boolean().default(false),
  })
  .strict();
export type PfOdeParams = z.infer<typeof PfOdeParams>;

/**
 * The probability-flow map Φ (noise → data) or, with `invert`, its inverse Φ⁻¹ (data → noise).
 * Integrate dx/dt = α'(t)·x̂0 + σ'(t)·ε̂, ε̂ = (x − α x̂0)/σ, from t = tMax (x = σ(tMax)·z) down to tMin on a
 * uniform t grid (Karras spacing in σ for the VE schedule). Heun's correction is skipped on a step that ends at
 * σ = 0, where ε̂ is undefined (EDM's convention). NFE: Euler N, Heun 2N − 1 (or 2N when tMin > 0).
 */
export function pfOde(ctx: LowerCtx, z0: Tensor, p: Omit<PfOdeParams, 'guidance' | 'invert'> & { guidance?: number; invert?: boolean }, label?: Tensor): Tensor {
  const guidance = p.guidance ?? 1;
  const { tf } = ctx;
  const model = ctx.model(p.model);
  const B = z0.shape[0]!;
  const nullLabel = label && guidance !== 1 ? tf.fill([B], NULL_LABEL, 'int32') : undefined;
  const denoise = (x: Tensor, t: Tensor): Tensor => {
    if (!label) return model([x, t]);
    const cond = model([x, t, label]);
    if (!nullLabel) return cond;
    const uncond = model([x, t, nullLabel]);
    return tf.add(uncond, tf.mul(tf.sub(cond, uncond), guidance));
  };
  const velocity = (x: Tensor, t: number): Tensor => {
    const s = scheduleAt(p.schedule, t);
    const x0 = denoise(x, tf.fill([B, 1], t));
    const eps = tf.div(tf.sub(x, tf.mul(x0, s.alpha)), s.sigma);
    return tf.add(tf.mul(x0, s.dAlpha), tf.mul(eps, s.dSigma));
  };
  // the inverse walks the same grid the other way, so Φ⁻¹(Φ(z)) = z up to the solver's error
  const [from, to] = p.invert ? [p.tMin, p.tMax] : [p.tMax, p.tMin];
  let x = p.invert ? z0 : tf.mul(z0, scheduleAt(p.schedule, p.tMax).sigma);
  for (let i = 0; i < p.steps; i++) {
    const t0 = from + ((to - from) * i) / p.steps;
    const t1 = from + ((to - from) * (i + 1)) / p.steps;
    const h = t1 - t0;
    // one step per tidy: a long solve in high dimension would otherwise hold every intermediate until the end
    const prev = x;
    x = tf.tidy(() => {
      const d0 = velocity(prev, t0);
      const xe = tf.add(prev, tf.mul(d0, h));
      if (p.solver === 'euler' || scheduleAt(p.schedule, t1).sigma < 1e-12) return xe;
      return tf.add(prev, tf.mul(tf.add(d0, velocity(xe, t1)), h / 2));
    });
    if (prev !== z0) prev.dispose();
  }
  return p.invert ? tf.div(x, scheduleAt(p.schedule, p.tMax).sigma) : x;
}

export const diffusion = {
  alpha: coefficient('alpha', alphaOf, alphaExpr),
  sigma: coefficient('sigma', sigmaOf, sigmaExpr),
  pf_ode: defineOp({
    kind: 'pf_ode',
    params: PfOdeParams,
    arity: [1, 2],
    shape: ([z, c], p, ctx) => {
      if (!ctx.model(p.model)) throw new OpShapeError(`no model has the role '${p.model}'`, 'unknown_model');
      if (z!.shape.length !== 2) throw new OpShapeError(`pf_ode expects noise f32[B,D], got ${showType(z!)}`);
      if (c && (c.dtype !== 'i32' || c.shape.length !== 1)) throw new OpShapeError(`pf_ode labels expected i32[B], got ${showType(c)}`, 'dtype_mismatch');
      if (!c && p.guidance !== 1) throw new OpShapeError('pf_ode: guidance needs labels (a second input)');
      if (p.invert && scheduleAt(p.schedule, p.tMin).sigma <= 0) throw new OpShapeError('pf_ode invert: start at a tMin where σ > 0 (the flow is singular at σ = 0)');
      if (p.tMin >= p.tMax) throw new OpShapeError(`pf_ode: tMin ${p.tMin} must be below tMax ${p.tMax}`);
      return { dtype: sameDtype([z!], 'f32'), shape: [...z!.shape] };
    },
    lower: ([z, c], p, ctx) => pfOde(ctx, z!, p, c),
    differentiable: true,
    fusion: 'opaque',
  }),
};

export type { Schedule };
