/**
 * @file AMD (Adaptive Matching Distillation, docs/methods/amd.md) as DSL objectives, built from the same primitives a
 * user has. Each piece stands alone: classifier-free guidance, the group-normalised advantage, the adaptive
 * coefficients, the decomposed matching vector, and the RLS weights of the fake score's loss.
 * The paper leaves most equations implicit; every inferred choice is an option, defaults in AMD_DEFAULTS.
 */
import type { Port, Scalar } from '../port.ts';
import type { GraphBuilder, Model } from '../builder.ts';
import type { Schedule } from '../ir/schema.ts';
import type { ScheduleName } from '../../ops/schedules.ts';
import type { Shape } from '../types.ts';
import { dmdLoss } from './dmd.ts';

type F = Port<'f32', Shape>;
type Labels = Port<'i32', Shape>;

export interface AmdOptions {
  /** s in α = 1 + s·ã, β = 1 − s·ã (value not in the paper, sweep 0.25–0.75) */
  s: number;
  /** ε in ã = (r − mean_g r)/(std_g r + ε) */
  eps: number;
  /** ã is clipped to [−clip, clip]; 1 matches the weight range 1 ± s the reviewers quote */
  clip: number;
  /** hard forbidden-zone rule: with τ set, a sample is in the zone when ã < −τ and gets α = 1 − s, β = 1 + s (others 1, 1) */
  tau?: number;
  /** λ_rls in ρ = 1 + λ·relu(−ã) */
  lambdaRls: number;
  /** RLS weight form: 'relu' 1 + λ·relu(−ã) (default); 'beta' ρ = β; 'mask' 1 + λ·1[ã < 0] (ablation (a)) */
  rls: 'relu' | 'beta' | 'mask';
  /** ρ's advantage is clipped below at −rlsClip instead of −clip (the upper clip stays): ρ is positive for any ã ≤ 0,
   * so only β needs the symmetric clip, and a lower clip of 1 saturates every sample of a zone holding < half its group */
  rlsClip?: number;
  /** which DSA coefficient moves: 'both' (Eq. 13), 'alpha' (β = 1) or 'beta' (α = 1): the ablations; 'off' (α = β = 1)
   * keeps s for the 'beta' form of ρ only */
  dsa: 'both' | 'alpha' | 'beta' | 'off';
}

export const AMD_DEFAULTS: AmdOptions = { s: 0.5, eps: 1e-4, clip: 1, lambdaRls: 1, rls: 'relu', dsa: 'both' };

/**
 * A soft lower clip of a log-density reward: T·asinh(r/T). It is r where |r| ≪ T and T·log(2|r|/T)·sign(r) beyond,
 * so it compresses a far-off sample's reward like the hard clip at −T does, but its slope T/√(T² + r²) never
 * vanishes: the advantage still ranks a deep sample of a low-density region below a shallow one. (A temperature
 * alone, r/T, does nothing here: the group normalisation of ã removes any affine change of r.)
 */
export function softClipReward(g: GraphBuilder, r: F, temperature: number): F {
  const y = r.div(temperature).abs();
  const asinh = y.add(y.square().add(1).sqrt()).log(); // asinh|y|, cancellation-free for the negative side
  return g.where(r.lt(0), asinh.neg(), asinh).mul(temperature) as F;
}

/** classifier-free guidance of a conditional denoiser: D∅ + ω(D_c − D∅), with both branches returned */
export function cfg(g: GraphBuilder, model: Model, xt: F, t: F, labels: Labels, omega: number) {
  const cond = model(xt, t, labels);
  const uncond = model(xt, t, g.nullLabel(xt.type.shape[0]!));
  return { cond, uncond, guided: uncond.add(cond.sub(uncond).mul(omega)) as F };
}

/**
 * Group-normalised, clipped advantage: groups are the samples sharing a label (`classes` > 0),
 * or the whole batch. Population std; a group whose rewards are all equal gets ã = 0, never NaN.
 * `reward`: f32[B,1]. Returns f32[B,1].
 */
export function groupAdvantage(g: GraphBuilder, reward: F, o: { labels?: Labels; classes?: number; eps: number; clip: number }): F {
  return clipAdvantage(normalisedAdvantage(g, reward, o), o.clip);
}

/** ã clipped to [−lower, upper] (upper defaults to lower) */
export const clipAdvantage = (a: F, lower: number, upper = lower): F => a.maximum(-lower).minimum(upper) as F;

/** `groupAdvantage` before its clip: (r − mean_g r)/(std_g r + ε) */
export function normalisedAdvantage(g: GraphBuilder, reward: F, o: { labels?: Labels; classes?: number; eps: number }): F {
  let dev: F;
  let std: F;
  if (o.labels && o.classes) {
    const member = g.oneHot(o.labels, o.classes); // [B,K]
    const count = member.sum([0], true).maximum(1); // [1,K]
    const perRow = (groupStat: F) => member.mul(groupStat).sum([1], true); // [1,K] → [B,1]
    dev = reward.sub(perRow(member.mul(reward).sum([0], true).div(count)));
    std = perRow(member.mul(dev.square()).sum([0], true).div(count)).sqrt();
  } else {
    dev = reward.sub(reward.mean([0], true));
    std = dev.square().mean([0], true).sqrt();
  }
  return dev.div(std.add(o.eps)) as F;
}

/** α (conditional-alignment weight) and β (matching / repulsion weight) from ã; `dsa` pins one of them to 1. */
export function adaptiveCoefficients(adv: F, o: { s: number; tau?: number; dsa?: AmdOptions['dsa'] }): { alpha: F; beta: F } {
  // α's shift (β's is its negative): sã, or −s·1[ã < −τ] under the hard rule
  const shift = (sign: 1 | -1) => (o.tau === undefined ? adv.mul(sign * o.s) : adv.lt(-o.tau).cast('f32').mul(-sign * o.s));
  const alphaMoves = o.dsa !== 'beta' && o.dsa !== 'off';
  const betaMoves = o.dsa !== 'alpha' && o.dsa !== 'off';
  return { alpha: (alphaMoves ? shift(1) : adv.mul(0)).add(1) as F, beta: (betaMoves ? shift(-1) : adv.mul(0)).add(1) as F };
}

/**
 * The decomposed matching vector: H = β(d_c − d_f) + α(ω − 1)(d_c − d_u), normalised by DMD's
 * n = mean|x − D^ω| and returned as the generator's gradient −H/n. It is computed as
 *   ((d_f − D^ω) − (β − 1)(d_c − d_f) − (α − 1)(ω − 1)(d_c − d_u)) / n,
 * the same value, so that with α = β = 1 it is DMD2's (d_f − D^ω)/n to the last bit.
 */
export function amdGradient(o: { x: F; cond: F; uncond: F; guided: F; fake: F; omega: number; alpha: F; beta: F }): F {
  const norm = o.x.sub(o.guided).abs().mean([1], true);
  const dm = o.cond.sub(o.fake);
  const ca = o.cond.sub(o.uncond);
  return o.fake
    .sub(o.guided)
    .sub(o.beta.sub(1).mul(dm))
    .sub(o.alpha.sub(1).mul(o.omega - 1).mul(ca))
    .div(norm)
    .nanToNum() as F;
}

/** Repulsive Landscape Sharpening weights, normalised to mean 1 over the batch. f32[B,1]. */
export function rlsWeights(adv: F, o: Pick<AmdOptions, 'lambdaRls' | 'rls' | 's'>): F {
  const rho =
    o.rls === 'beta' ? adv.mul(-o.s).add(1) : o.rls === 'mask' ? adv.lt(0).cast('f32').mul(o.lambdaRls).add(1) : adv.neg().relu().mul(o.lambdaRls).add(1);
  return rho.div(rho.mean()) as F;
}

/** The fake score's denoising loss, per-sample weighted: mean(ρ·(D_fake(x_t, t, c) − x0)²), t ~ U[t0, t1]. */
export function weightedDenoisingLoss(
  g: GraphBuilder,
  model: Model,
  x0: F,
  o: { labels: Labels; weights?: F; schedule: ScheduleName | Schedule; t?: readonly [number, number] },
): Scalar {
  const { t, xt } = g.diffuse(x0, { schedule: o.schedule, t: o.t ?? [0.001, 0.999] });
  const sq = model(xt, t, o.labels).sub(x0).square();
  return (o.weights ? sq.mul(o.weights) : sq).mean() as Scalar;
}

/**
 * The whole AMD generator objective on class-conditional samples x = G(z, c): diffuse, query the guided teacher
 * and the fake score without gradient, weight by the reward's advantage, and return DMD2's surrogate loss.
 * `advantage` is ã (f32[B,1], no gradient); pass a permuted one for the control arm.
 */
export function amd(
  g: GraphBuilder,
  o: { x: F; labels: Labels; teacher: Model; fake: Model; advantage: F; omega: number; s: number; tau?: number; dsa?: AmdOptions['dsa']; schedule: ScheduleName | Schedule; t?: readonly [number, number] },
) {
  const grad = g.noGrad(() => {
    const { t, xt } = g.diffuse(o.x, { schedule: o.schedule, t: o.t ?? [0.02, 0.98] });
    const { cond, uncond, guided } = cfg(g, o.teacher, xt, t, o.labels, o.omega);
    const fake = o.fake(xt, t, o.labels);
    const { alpha, beta } = adaptiveCoefficients(o.advantage, { s: o.s, ...(o.tau === undefined ? {} : { tau: o.tau }), ...(o.dsa ? { dsa: o.dsa } : {}) });
    return amdGradient({ x: o.x, cond, uncond, guided, fake, omega: o.omega, alpha, beta });
  });
  return { loss: dmdLoss(o.x, grad), grad };
}
