/** @file Schedule coefficients as ops, and the probability-flow ODE sampler of a model (Euler / Heun).
 * pf_ode: the probability-flow map Φ (noise → data) or, with `invert`, its inverse Φ⁻¹ (data → noise).
 * Integrate dx/dt = α'(t)·x̂0 + σ'(t)·ε̂, ε̂ = (x − α x̂0)/σ, from t = tMax (x = σ(tMax)·z) down to tMin on a
 * uniform t grid. Heun's correction is skipped on a step that ends at σ = 0, where ε̂ is undefined (EDM's
 * convention). NFE: Euler N, Heun 2N − 1 (or 2N when tMin > 0). The inverse walks the same grid the other way. */
import * as z from 'zod';
import { defineOp, OpShapeError } from './define.ts';
import { ScheduleSchema, type Schedule } from '../dsl/ir/schema.ts';
import { alphaExpr, scheduleAt, sigmaExpr } from './schedules.ts';
import { sameDtype } from './shape.ts';
import { showType } from '../dsl/types.ts';

const Sched = z.object({ schedule: ScheduleSchema }).strict();

const coefficient = <K extends string>(kind: K, e: typeof alphaExpr) =>
  defineOp({
    kind,
    params: Sched,
    arity: 1,
    shape: ([t]) => ({ dtype: sameDtype([t!], 'f32'), shape: [...t!.shape] }),
    differentiable: true,
    rows: 'rowwise',
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

export const diffusion = {
  alpha: coefficient('alpha', alphaExpr),
  sigma: coefficient('sigma', sigmaExpr),
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
    differentiable: true,
    rows: 'rowwise',
  }),
};

export type { Schedule };
