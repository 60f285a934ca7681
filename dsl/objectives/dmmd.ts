/**
 * @file Discrete Moment Matching Distillation (docs/methods/dmmd.md) and continuous MMD's alternating variant,
 * written with the DSL's own primitives.
 *
 * One D-MMD step (Algorithm 1): s ~ U(0,1), δ ~ U(0,1/k), t = min(1, s+δ); z_t ~ q(z_t | x_data); the student's soft
 * sample p_η = x̂_η(z_t, ε); hard x ~ Cat(p_η) and z_s ~ q(z_s | z_t, x), both without gradient. Then, with S the
 * λ/V smoothing of generatorSignal and x̂'_θ the tempered / top-p teacher (x̂_θ itself at τ 1 without top-p),
 *   L_GEN = Σ_{d masked in z_s} Σ_c p_η[d,c] (log S(x̂_φ(z_s)) − log S(x̂'_θ(z_s)))[d,c]     (teacher, auxiliary constant)
 *   L_AUX = −Σ_{d masked in z_s} Σ_c (target + x̂'_θ(z_s))[d,c] log x̂_φ(z_s)[d,c]          (target sg(p_η) or one-hot x)
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
 * The floored teacher log-probabilities of the `floor` signal: s_θ = (1/τ) log max(x̂_θ, floor), top-p's out-of-nucleus
 * tokens lowered by Δ. A per-position constant has no effect inside L_GEN (Σ_c p_η = 1), so s_θ needs no
 * renormalisation there.
 */
export function teacherLogits(pTeacher: F, temperature = 1, floor = 1e-8, topP?: { p: number; delta: number }): F {
  let s = temperature === 1 ? safeLog(pTeacher, floor) : (safeLog(pTeacher, floor).div(temperature) as F);
  // top-p: tokens outside the nucleus are lowered by Δ rather than set to −∞, which made training diverge
  if (topP && topP.p < 1) s = s.sub(outsideNucleus(pTeacher, topP.p).mul(topP.delta)) as F;
  return s;
}

/** 1 outside the top-p nucleus of each position, 0 inside */
const outsideNucleus = (p: F, nucleus: number): F => (p.graph.op('nucleus', [p], { p: nucleus }) as F).neg().add(1) as F;

/**
 * The distribution the student is distilled toward, as probabilities: x̂_θ^{1/τ}, with top-p's out-of-nucleus tokens
 * scaled by e^{−Δ} (the Δ lowering of the logits), renormalised per position. Built from the unfloored teacher, so a
 * token the teacher forbids (probability 0) stays at exactly 0 at any τ.
 */
export function teacherTarget(pTeacher: F, temperature = 1, topP?: { p: number; delta: number }): F {
  const nucleus = topP !== undefined && topP.p < 1;
  if (temperature === 1 && !nucleus) return pTeacher;
  let q = temperature === 1 ? pTeacher : (pTeacher.pow(1 / temperature) as F);
  if (nucleus) q = q.mul(outsideNucleus(pTeacher, topP.p).mul(-topP.delta).exp()) as F;
  const last = q.type.shape.length - 1;
  return q.div(q.sum([last], true).maximum(1e-30)) as F;
}

/** p ↦ (1 − λ)·p + λ/V over the last axis (V tokens): every token keeps at least λ/V */
export function smoothed(p: F, lambda: number): F {
  const V = p.type.shape[p.type.shape.length - 1];
  if (typeof V !== 'number') throw new Error('internal: smoothing needs a fixed vocabulary axis');
  return p.mul(1 - lambda).add(lambda / V) as F;
}

/**
 * How the generator's signal takes logs of probabilities that can be exactly 0 (docs/methods/dmmd.md, "the dead zone"):
 * - 'smooth': log S(x̂_φ) − log S(x̂'_θ) with S(p) = (1 − λ)p + λ/V applied to both, x̂'_θ = teacherTarget. A token
 *   the teacher forbids gets log(1 + (1 − λ)V·x̂_φ/λ) > 0 for any auxiliary mass, about (1 − λ)V/λ · x̂_φ when small.
 * - 'floor': log max(x̂_φ, f) − (1/τ) log max(x̂_θ, f). Both sides sit at log f for any token whose auxiliary and
 *   teacher mass are under f, so its signal is exactly 0 there (the dead zone).
 */
export type SignalLog = { kind: 'smooth'; lambda: number } | { kind: 'floor'; floor: number };

/** the generator's per-token signal (log x̂_φ − log x̂_θ), as `log` says; L_GEN = Σ p_η · signal */
export function generatorSignal(o: { teacher: F; aux: F; log: SignalLog; temperature?: number; topP?: { p: number; delta: number } }): F {
  if (o.log.kind === 'floor') return safeLog(o.aux, o.log.floor).sub(teacherLogits(o.teacher, o.temperature ?? 1, o.log.floor, o.topP)) as F;
  const lambda = o.log.lambda;
  return smoothed(o.aux, lambda).log().sub(smoothed(teacherTarget(o.teacher, o.temperature ?? 1, o.topP), lambda).log()) as F;
}

/** Algorithm 1's times: s ~ U(0,1), t = min(1, s + δ), δ ~ U(0, 1/k) — one student step of at most 1/k */
export function stepInterval(g: GraphBuilder, rows: string | number, k: number): { s: F; t: F } {
  const s = g.uniform([rows, 1], 0, 1);
  return { s, t: s.add(g.uniform([rows, 1], 0, 1 / k)).minimum(1) as F };
}

/** f32[B,L,1]: 1 where the tokens z are MASK */
export const maskedPositions = (z: Port<'i32', Shape>, mask: number, rows: string | number, length: number): F => z.eq(mask).cast('f32').reshape([rows, length, 1]) as F;

/** L_GEN = mean_b Σ_d Σ_c p_η · signal · masked — signal: generatorSignal; `masked`: f32[B,L,1], 1 where z_s is MASK */
export function dmmdGeneratorLoss(o: { p: F; signal: F; masked: F; weight?: F }): Scalar {
  let per = o.p.mul(o.signal.stopGradient()).mul(o.masked);
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
  /** how the generator's signal takes logs (generatorSignal); default the λ = 0.3 smoothing */
  signalLog?: SignalLog;
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
  // the teacher distribution distilled toward (τ, top-p), from the unfloored x̂_θ: forbidden tokens stay at 0
  const pTarget = g.noGrad(() => teacherTarget(pTeacher, o.temperature ?? 1, o.topP));
  const signal = g.noGrad(() => generatorSignal({ teacher: pTeacher, aux: pAux, log: o.signalLog ?? { kind: 'smooth', lambda: 0.3 }, ...(o.temperature ? { temperature: o.temperature } : {}), ...(o.topP ? { topP: o.topP } : {}) }));
  const gen = dmmdGeneratorLoss({ p, signal, masked });
  const target = (o.softTarget ?? true) ? (p.stopGradient() as F) : (g.oneHot(x, V) as unknown as F);
  const aux = dmmdAuxLoss({ target, teacher: pTarget, aux: (o.residual ? o.aux(zs, s, pTeacher) : o.aux(zs, s)) as F, masked });
  return { gen, aux, p, zt, zs, x, t, s, base, masked, pTeacher, pTarget, pAux, signal, target };
}

/** mean over the positions where `masked` (f32[B,L,1]) is 1 of a per-position value f32[B,L,1] */
export const maskedMean = (v: F, masked: F): Scalar => v.mul(masked).sum().div(masked.sum().maximum(1)) as Scalar;

/** ½ Σ_c |a − b| per position: f32[B,L,1] */
export const positionTV = (a: F, b: F): F => a.sub(b).abs().sum([2], true).mul(0.5) as F;

/**
 * Where the generator's signal is blind, per position masked in z_s (docs/methods/dmmd.md, "the dead zone"):
 * forbiddenMass, the student's mass on tokens the (tempered) teacher gives probability 0 at z_s, and deadMass, the
 * part of it on which the signal is exactly 0. Also auxFitTV, the TV between x̂_φ(z_s) and its per-sample target
 * ½(target + x̂'_θ); its minimum is not 0: it includes the spread of the target among samples sharing z_s.
 */
export function dmmdDiagnostics(d: { p: F; pTarget: F; pAux: F; signal: F; target: F; masked: F }): Record<'forbiddenMass' | 'deadMass' | 'auxFitTV', Scalar> {
  const forbidden = d.pTarget.lt(1e-12).cast('f32') as F;
  const dead = forbidden.mul(d.signal.eq(0).cast('f32')) as F;
  const p = d.p.stopGradient() as F;
  return {
    forbiddenMass: maskedMean(p.mul(forbidden).sum([2], true) as F, d.masked),
    deadMass: maskedMean(p.mul(dead).sum([2], true) as F, d.masked),
    auxFitTV: maskedMean(positionTV(d.pAux, d.target.add(d.pTarget).mul(0.5) as F), d.masked),
  };
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
