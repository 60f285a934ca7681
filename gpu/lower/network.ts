/** @file TensorFlow.js lowerings of matmul, concat, reshape, model calls, the schedule coefficients and the
 * probability-flow ODE. */
import type { LowerCtx, Tensor, TF, TfjsTable } from './context.ts';
import { linalg } from '../linalg.ts';
import { NO_GRAD } from './context.ts';
import { resolveShape } from '../../dsl/types.ts';
import type { Schedule } from '../../dsl/ir/schema.ts';
import { scheduleAt } from '../../ops/schedules.ts';
import type { PfOdeParams } from '../../ops/diffusion.ts';
import { NULL_LABEL } from '../../ops/labels.ts';

/** α(t) as a tensor op (differentiable in t) */
export function alphaOf(tf: TF, s: Schedule, t: Tensor): Tensor {
  switch (s.kind) {
    case 'rf':
      return tf.sub(1, t);
    case 'vp':
      return tf.cos(tf.mul(t, Math.PI / 2));
    case 've':
      return tf.onesLike(t);
  }
}

/** σ(t) as a tensor op (differentiable in t) */
export function sigmaOf(tf: TF, s: Schedule, t: Tensor): Tensor {
  switch (s.kind) {
    case 'rf':
      return t;
    case 'vp':
      return tf.sin(tf.mul(t, Math.PI / 2));
    case 've': {
      const a = s.sigmaMin ** (1 / s.rho);
      const b = s.sigmaMax ** (1 / s.rho);
      return tf.pow(tf.add(a, tf.mul(t, b - a)), s.rho);
    }
  }
}

/** The probability-flow map of ops/diffusion.ts on tensors (one step per tidy: a long solve in high dimension would
 * otherwise hold every intermediate until the end). */
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
  const [from, to] = p.invert ? [p.tMin, p.tMax] : [p.tMax, p.tMin];
  let x = p.invert ? z0 : tf.mul(z0, scheduleAt(p.schedule, p.tMax).sigma);
  for (let i = 0; i < p.steps; i++) {
    const t0 = from + ((to - from) * i) / p.steps;
    const t1 = from + ((to - from) * (i + 1)) / p.steps;
    const h = t1 - t0;
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

export const networkLowerings = {
  matmul: { lower: ([a, b], _p, { tf }) => linalg(tf).matmul(a!, b!) },
  concat: { lower: (ins, p, { tf }) => tf.concat(ins, p.axis) },
  reshape: { lower: ([x], p, ctx) => ctx.tf.reshape(x!, resolveShape(p.shape, ctx.dims)) },
  // off the tape (ctx.grad absent) a call needs no gradient; on it, the updated role's weights and the inputs on the tape
  call: { lower: (ins, p, ctx) => ctx.model(p.model)(ins, ctx.grad ? { weights: ctx.grad.role === p.model, inputs: ctx.grad.inputs } : NO_GRAD, p.output) },
  alpha: { lower: ([t], p, { tf }) => alphaOf(tf, p.schedule, t!) },
  sigma: { lower: ([t], p, { tf }) => sigmaOf(tf, p.schedule, t!) },
  pf_ode: { lower: ([z, c], p, ctx) => pfOde(ctx, z!, p, c) },
} satisfies Partial<TfjsTable>;
