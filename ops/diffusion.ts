/** @file Schedule coefficients as ops, and the probability-flow ODE sampler of a model (Euler / Heun). */
import * as z from 'zod';
import { defineOp, OpShapeError, type LowerCtx, type Tensor } from './define.ts';
import { ScheduleSchema, type Schedule } from '../dsl/ir/schema.ts';
import { alphaOf, scheduleAt, sigmaOf } from './schedules.ts';
import { sameDtype } from './shape.ts';
import { showType } from '../dsl/types.ts';

const Sched = z.object({ schedule: ScheduleSchema }).strict();

const coefficient = <K extends string>(kind: K, f: typeof alphaOf) =>
  defineOp({
    kind,
    params: Sched,
    arity: 1,
    shape: ([t]) => ({ dtype: sameDtype([t!], 'f32'), shape: [...t!.shape] }),
    lower: ([t], p, { tf }) => f(tf, p.schedule, t!),
    differentiable: true,
    fusion: 'elementwise',
  });

export const PfOdeParams = z
  .object({
    model: z.string().min(1),
    schedule: ScheduleSchema,
    solver: z.enum(['euler', 'heun']),
    steps: z.number().int().positive(),
    tMax: z.number().min(0).max(1).default(1),
    tMin: z.number().min(0).max(1).default(0),
  })
  .strict();
export type PfOdeParams = z.infer<typeof PfOdeParams>;

/**
 * Integrate dx/dt = α'(t)·x̂0 + σ'(t)·ε̂, ε̂ = (x − α x̂0)/σ, from t = tMax (x = σ(tMax)·z) down to tMin on a
 * uniform t grid (Karras spacing in σ for the VE schedule). Heun's correction is skipped on a step that ends at
 * σ = 0, where ε̂ is undefined (EDM's convention). NFE: Euler N, Heun 2N − 1 (or 2N when tMin > 0).
 */
export function pfOde(ctx: LowerCtx, z0: Tensor, p: PfOdeParams): Tensor {
  const { tf } = ctx;
  const model = ctx.model(p.model);
  const B = z0.shape[0]!;
  const velocity = (x: Tensor, t: number): Tensor => {
    const s = scheduleAt(p.schedule, t);
    const x0 = model([x, tf.fill([B, 1], t)]);
    const eps = tf.div(tf.sub(x, tf.mul(x0, s.alpha)), s.sigma);
    return tf.add(tf.mul(x0, s.dAlpha), tf.mul(eps, s.dSigma));
  };
  let x = tf.mul(z0, scheduleAt(p.schedule, p.tMax).sigma);
  for (let i = 0; i < p.steps; i++) {
    const t0 = p.tMax + ((p.tMin - p.tMax) * i) / p.steps;
    const t1 = p.tMax + ((p.tMin - p.tMax) * (i + 1)) / p.steps;
    const h = t1 - t0;
    const d0 = velocity(x, t0);
    const xe = tf.add(x, tf.mul(d0, h));
    if (p.solver === 'euler' || scheduleAt(p.schedule, t1).sigma < 1e-12) x = xe;
    else x = tf.add(x, tf.mul(tf.add(d0, velocity(xe, t1)), h / 2));
  }
  return x;
}

export const diffusion = {
  alpha: coefficient('alpha', alphaOf),
  sigma: coefficient('sigma', sigmaOf),
  pf_ode: defineOp({
    kind: 'pf_ode',
    params: PfOdeParams,
    arity: 1,
    shape: ([z], p, ctx) => {
      if (!ctx.model(p.model)) throw new OpShapeError(`no model has the role '${p.model}'`, 'unknown_model');
      if (z!.shape.length !== 2) throw new OpShapeError(`pf_ode expects noise f32[B,D], got ${showType(z!)}`);
      return { dtype: sameDtype([z!], 'f32'), shape: [...z!.shape] };
    },
    lower: ([z], p, ctx) => pfOde(ctx, z!, p),
    differentiable: true,
    fusion: 'opaque',
  }),
};

export type { Schedule };
