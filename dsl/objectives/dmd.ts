/** @file Matching objectives written with the DSL's own primitives — the same ones a user has. */
import type { Port, Scalar } from '../port.ts';
import { adam, type GraphBuilder, type Model } from '../builder.ts';
import type { Schedule } from '../ir/schema.ts';
import type { ScheduleName } from '../../ops/schedules.ts';
import type { Shape } from '../types.ts';

const featureAxes = (p: Port) => [...Array(p.type.shape.length).keys()].slice(1);

/** Over what DMD's normaliser mean|x − x0_real| is taken: each sample's features ('sample', DMD2's code), or the whole
 * batch ('batch': one scalar, which keeps the samples' relative weights — far-off samples are not damped). */
export type DmdNormalizer = 'sample' | 'batch';

/**
 * DMD2's distribution-matching vector, as its code computes it (docs/methods/dmd.md):
 * g = (x0_fake − x0_real) / mean_features|x − x0_real|, per sample, NaN-safe. Call it inside `g.noGrad`.
 */
export function dmdGradient(o: { x: Port<'f32', Shape>; real: Port<'f32', Shape>; fake: Port<'f32', Shape>; floor?: number; normalizer?: DmdNormalizer }): Port<'f32', Shape> {
  const gap = o.x.sub(o.real).abs();
  let norm = (o.normalizer ?? 'sample') === 'sample' ? gap.mean(featureAxes(o.x), true) : gap.mean();
  // in few dimensions the per-sample mean |x − x0_real| comes near 0 for a sample the teacher already maps onto itself,
  // and the vector explodes (DMD2's images average it over ~10⁵ features); `floor` bounds it from below
  if (o.floor) norm = norm.maximum(o.floor);
  return o.fake.sub(o.real).div(norm).nanToNum();
}

/** The pseudo-target loss 0.5·mean((x − sg(x − grad))²): its gradient with respect to x is grad / numel(x). */
export function dmdLoss(x: Port, grad: Port): Scalar {
  return x.sub(x.sub(grad).stopGradient()).square().mean().mul(0.5) as Scalar;
}

/** Mean squared error (DMD's regression loss on teacher noise→sample pairs, with MSE for LPIPS on vectors). */
export function regressionLoss(pred: Port, target: Port): Scalar {
  return pred.sub(target).square().mean() as Scalar;
}

/** How the x0 errors of a denoising loss are weighted over t: 'none' (plain x0-MSE) or 'snr' (λ(t) = 1 + α(t)²/σ(t)²,
 * under rectified flow 1 + ((1 − t)/t)²: the x0 form of DMD2's ε-loss, which weights low noise heavily, plus one so
 * that high noise keeps a weight). */
export type DenoisingWeighting = 'none' | 'snr';

/** Denoising score matching with an x0-prediction model: mean(λ(t)·(model(x_t, t, …cond) − x0)²), t ~ U[t0, t1]. */
export function denoisingLoss(g: GraphBuilder, model: Model, x0: Port<'f32', Shape>, o: { schedule: ScheduleName | Schedule; t?: readonly [number, number]; weighting?: DenoisingWeighting; cond?: readonly Port[] }): Scalar {
  const { t, xt } = g.diffuse(x0, { schedule: o.schedule, t: o.t ?? [0.001, 0.999] });
  const err = model(xt, t, ...(o.cond ?? [])).sub(x0).square();
  if ((o.weighting ?? 'none') === 'none') return err.mean() as Scalar;
  const snr = g.alpha(t, o.schedule).div(g.sigma(t, o.schedule)).square();
  return err.mul(snr.add(1)).mean() as Scalar;
}

/**
 * The DMD generator objective on samples x: diffuse with t ~ U[0.02, 0.98], query teacher and fake without
 * gradient, and return the pseudo-target loss plus the matching vector (for logging). `fakeCond` are extra inputs of
 * the fake score (a multi-step student's rung).
 */
export function dmd(g: GraphBuilder, o: { x: Port<'f32', Shape>; teacher: Model; fake: Model; schedule: ScheduleName | Schedule; t?: readonly [number, number]; normFloor?: number; normalizer?: DmdNormalizer; fakeCond?: readonly Port[] }) {
  const grad = g.noGrad(() => {
    const { t, xt } = g.diffuse(o.x, { schedule: o.schedule, t: o.t ?? [0.02, 0.98] });
    return dmdGradient({ x: o.x, real: o.teacher(xt, t), fake: o.fake(xt, t, ...(o.fakeCond ?? [])), ...(o.normFloor ? { floor: o.normFloor } : {}), ...(o.normalizer ? { normalizer: o.normalizer } : {}) });
  });
  return { loss: dmdLoss(o.x, grad), grad };
}

/**
 * A warm-up-only phase fitting each model to the teacher's denoiser on noised data, ‖m(x_t, t) − teacher(x_t, t)‖²:
 * the stand-in for "initialised from the teacher" when the teacher is closed form (no weights to copy).
 */
export function prefitToTeacher(g: GraphBuilder, models: readonly Model<string, 'trainable'>[], teacher: Model, data: () => Port<'f32', Shape>, o: { steps: number; t: readonly [number, number]; lr?: number }): void {
  for (const m of models) {
    const { t, xt } = g.diffuse(data(), { schedule: 'rf', t: o.t });
    g.minimize(m, m(xt, t).sub(teacher(xt, t)).square().mean() as Scalar, { optimizer: adam(o.lr ?? 1e-3), ratio: 0, warmup: o.steps });
  }
}
