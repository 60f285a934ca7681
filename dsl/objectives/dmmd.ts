/**
 * @file Discrete Moment Matching Distillation (docs/methods/dmmd.md) and continuous MMD's alternating variant,
 * written with the DSL's own primitives.
 *
 * One D-MMD step (Algorithm 1): s ~ U(0,1), δ ~ U(0,1/k), t = min(1, s+δ); z_t ~ q(z_t | x_data); the student's soft
 * sample p_η = x̂_η(z_t, ε); hard x ~ Cat(p_η) and z_s ~ q(z_s | z_t, x), both without gradient. Then
 *   L_GEN = Σ_{d masked in z_s} Σ_c p_η[d,c] (log x̂_φ(z_s) − log x̂_θ(z_s))[d,c]           (teacher, auxiliary constant)
 *   L_AUX = −Σ_{d masked in z_s} Σ_c (target + x̂_θ(z_s))[d,c] log x̂_φ(z_s)[d,c]           (target sg(p_η) or one-hot x)
 * The gradient reaches η only through the soft p_η (the straight-through path of DiMO): never through the draw.
 */
import type { Port, Scalar } from '../port.ts';
import type { GraphBuilder, Model } from '../builder.ts';
import type { TokenToy } from '../models.ts';
import type { Shape } from '../types.ts';

type F = Port<'f32', Shape>;

/** log p with p clamped at `floor` (1e-8): revealed positions carry exact zeros */
export const safeLog = (p: F, floor = 1e-8): F => p.maximum(floor).log() as F;

/**
 * The teacher's log-probabilities as the generator's target: s_θ = (1/τ) log x̂_θ (temperature distillation).
 * A per-position constant has no effect inside L_GEN (Σ_c p_η = 1), so s_θ needs no renormalisation there.
 */
export function teacherLogits(pTeacher: F, temperature = 1, floor = 1e-8, topP?: { p: number; delta: number }): F {
  let s = temperature === 1 ? safeLog(pTeacher, floor) : (safeLog(pTeacher, floor).div(temperature) as F);
  // top-p: tokens outside the nucleus are lowered by Δ rather than set to −∞, which made training diverge
  if (topP && topP.p < 1) s = s.sub((pTeacher.graph.op('nucleus', [pTeacher], { p: topP.p }) as F).neg().add(1).mul(topP.delta)) as F;
  return s;
}

/** Algorithm 1's times: s ~ U(0,1), t = min(1, s + δ), δ ~ U(0, 1/k) — one student step of at most 1/k */
export function stepInterval(g: GraphBuilder, rows: string | number, k: number): { s: F; t: F } {
  const s = g.uniform([rows, 1], 0, 1);
  return { s, t: s.add(g.uniform([rows, 1], 0, 1 / k)).minimum(1) as F };
}

/** f32[B,L,1]: 1 where the tokens z are MASK */
export const maskedPositions = (z: Port<'i32', Shape>, mask: number, rows: string | number, length: number): F => z.eq(mask).cast('f32').reshape([rows, length, 1]) as F;

/** L_GEN = mean_b Σ_d Σ_c p_η (log x̂_φ − s_θ) · masked — `masked`: f32[B,L,1], 1 where z_s is MASK */
export function dmmdGeneratorLoss(o: { p: F; teacherLogits: F; aux: F; masked: F; weight?: F; floor?: number }): Scalar {
  let per = o.p.mul(safeLog(o.aux, o.floor).sub(o.teacherLogits)).mul(o.masked);
  if (o.weight) per = per.mul(o.weight);
  return per.sum([1, 2]).mean() as Scalar;
}

/** L_AUX = −mean_b Σ_d Σ_c (target + x̂_θ) log x̂_φ · masked: x̂_φ learns ½(E_g[x|z_s] + x̂_θ(z_s)) */
export function dmmdAuxLoss(o: { target: F; teacher: F; aux: F; masked: F; weight?: F }): Scalar {
  let per = o.target.add(o.teacher).mul(safeLog(o.aux)).mul(o.masked);
  if (o.weight) per = per.mul(o.weight);
  return per.sum([1, 2]).mean().neg() as Scalar;
}

export interface DmmdOptions {
  /** real data tokens i32[B,L] (z_t is forward-diffused data, not the student's own rollout) */
  x0: Port<'i32', Shape>;
  toy: TokenToy;
  student: Model;
  teacher: Model;
  aux: Model;
  /** student steps k: t − s ≤ 1/k */
  steps: number;
  /** the student's Gaussian input ε (the port), or none */
  eps?: F;
  /** the auxiliary learns from sg(p_η) (masked diffusion allows it) or from the hard one-hot x */
  softTarget?: boolean;
  /** teacher temperature τ in the generator target */
  temperature?: number;
  /** top-p distillation: the teacher's out-of-nucleus log-probabilities lowered by Δ (default 2) */
  topP?: { p: number; delta: number };
  /** probability floor of the log-probabilities in the generator's signal (default 1e-8) */
  logFloor?: number;
  /** student and auxiliary are residual models over the teacher (token_mlp `residual`): they take the teacher's
   * probabilities at their own input as the last input */
  residual?: boolean;
}

/** Both D-MMD losses on one minibatch, plus what they were built from (for logging). */
export function dmmd(g: GraphBuilder, o: DmmdOptions) {
  const B = o.x0.type.shape[0]!;
  const { mask, vocab: V, length: L } = o.toy;
  const { s, t } = stepInterval(g, B, o.steps);
  const zt = g.maskDiffuse(o.x0, t, mask);
  const base = o.residual ? g.noGrad(() => o.teacher(zt, t) as F) : undefined;
  const p = o.student(...[zt, t, ...(o.eps ? [o.eps] : []), ...(base ? [base] : [])]) as F;
  const { x, zs, masked, pTeacher, pAux } = g.noGrad(() => {
    const x = g.categorical(p);
    const zs = g.maskPosterior(zt, x, t, s, mask);
    const pTeacher = o.teacher(zs, s) as F;
    return { x, zs, masked: maskedPositions(zs, mask, B, L), pTeacher, pAux: (o.residual ? o.aux(zs, s, pTeacher) : o.aux(zs, s)) as F };
  });
  const floor = o.logFloor ?? 1e-8;
  const sTeacher = g.noGrad(() => teacherLogits(pTeacher, o.temperature ?? 1, floor, o.topP));
  const gen = dmmdGeneratorLoss({ p, teacherLogits: sTeacher, aux: pAux, masked, floor });
  const target = (o.softTarget ?? true) ? (p.stopGradient() as F) : (g.oneHot(x, V) as unknown as F);
  // the temperature-modified teacher for the auxiliary's regulariser: softmax(s_θ)
  const modified = (o.temperature ?? 1) !== 1 || (o.topP && o.topP.p < 1);
  const teacherProbs = modified ? (g.noGrad(() => sTeacher.softmax()) as F) : pTeacher;
  const aux = dmmdAuxLoss({ target, teacher: teacherProbs, aux: (o.residual ? o.aux(zs, s, pTeacher) : o.aux(zs, s)) as F, masked });
  return { gen, aux, p, zt, zs, x, t, s, masked, pTeacher, pAux };
}

/**
 * Continuous MMD, alternating variant, on samples of a one-step-per-interval generator: with x_η = x̂_η(z_t),
 * z_s drawn from the Gaussian posterior outside the gradient, L_MMD = w(s)·x_η·sg(x̂_φ(z_s) − x̂_θ(z_s)) and
 * L_AUX = ‖sg(x_η) − x̂_φ(z_s)‖² + ‖x̂_φ(z_s) − x̂_θ(z_s)‖². With L_s the squared error, D-MMD's general form
 * ∇_η[L_s(x_η, x̂_θ) − L_s(x_η, x̂_φ)] = 2·∇_η L_MMD (tests/dmmd).
 */
export function mmdLosses(o: { xEta: F; teacherAtZs: F; auxAtZs: F; auxAtZsGrad: F }) {
  const diff = o.auxAtZs.sub(o.teacherAtZs).stopGradient();
  const gen = o.xEta.mul(diff).sum([1]).mean() as Scalar;
  const aux = o.xEta.stopGradient().sub(o.auxAtZsGrad).square().sum([1]).add(o.auxAtZsGrad.sub(o.teacherAtZs.stopGradient()).square().sum([1])).mean() as Scalar;
  return { gen, aux };
}

/** D-MMD's general generator loss with the squared-error diffusion loss L_s(x, x̂) = ‖x − x̂‖². */
export function squaredErrorDmmd(o: { xEta: F; teacherAtZs: F; auxAtZs: F }): Scalar {
  const lTeacher = o.xEta.sub(o.teacherAtZs.stopGradient()).square().sum([1]);
  const lAux = o.xEta.sub(o.auxAtZs.stopGradient()).square().sum([1]);
  return lTeacher.sub(lAux).mean() as Scalar;
}
