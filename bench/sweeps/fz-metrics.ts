/** @file What the forbidden-zone benchmark measures on class-conditional samples (docs/methods/amd.md). */
import type { GmmSpec } from '../../dsl/ir/schema.ts';
import { gmmLogDensity, sampleGmm } from '../../ops/datasets.ts';
import { energyDistance } from '../../ops/metrics/energy.ts';
import { Rng } from '../../ops/rng.ts';
import { modeStats } from '../../ops/metrics/modes.ts';

export interface Region {
  center: readonly number[];
  radius: number;
}

export interface FzMetrics {
  /** P(x ∈ R | c = 0) */
  trappedMass: number;
  /** energy distance to the true p(x | c), averaged over the classes */
  energyDistance: number;
  /** modes (of all classes) holding ≥ 50% of their expected mass within 3σ */
  modesCovered: number;
  /** mean true log p(x | c) (precision proxy) */
  meanLogDensity: number;
  /** entropy (nats) of the mode assignment within each class, averaged over classes; ln(modes per class) is the most */
  modeEntropy: number;
  /** within-mode std / σ, averaged over modes holding ≥ 10 samples (mode concentration shows as < the reference) */
  withinModeSpread: number;
  /** AUROC of −ã for predicting x ∈ R among class-0 samples (null when one side is empty) */
  auroc: number | null;
  /** mean ã over the batch: DSA's mean α is 1 + s·meanAdvantage, its average guidance 1 + ᾱ(ω − 1) */
  meanAdvantage: number | null;
  /** std / mean of the RLS weight ρ over class-0 samples in R: 0 when ρ is constant there, i.e. when RLS cannot tell a
   * deep sample from a shallow one (null without ρ or with < 2 such samples) */
  zoneRhoSpread: number | null;
}

/** the mixture restricted to class c */
export const classSpec = (g: GmmSpec, c: number): GmmSpec => {
  const keep = g.means.map((_, k) => k).filter((k) => (g.classes ?? [])[k] === c);
  return { kind: 'gmm', means: keep.map((k) => g.means[k]!), stds: keep.map((k) => g.stds[k]!), weights: keep.map((k) => g.weights[k]!) };
};

const inRegion = (r: Region, x: Float32Array, i: number) => Math.hypot(x[2 * i]! - r.center[0]!, x[2 * i + 1]! - r.center[1]!) < r.radius;

/** Mann–Whitney AUROC of `score` for `positive`, ties counted half */
export function auroc(score: number[], positive: boolean[]): number | null {
  const idx = score.map((_, i) => i).sort((a, b) => score[a]! - score[b]!);
  const nPos = positive.filter(Boolean).length;
  const nNeg = positive.length - nPos;
  if (nPos === 0 || nNeg === 0) return null;
  let rankSum = 0;
  for (let i = 0; i < idx.length; ) {
    let j = i;
    while (j + 1 < idx.length && score[idx[j + 1]!] === score[idx[i]!]) j++;
    const rank = (i + j) / 2 + 1;
    for (let k = i; k <= j; k++) if (positive[idx[k]!]) rankSum += rank;
    i = j + 1;
  }
  return (rankSum - (nPos * (nPos + 1)) / 2) / (nPos * nNeg);
}

/** per class: the true samples the energy distance compares with (fixed by the seed) */
export function fzTargets(g: GmmSpec, classes: number, n: number, seed: number): Float32Array[] {
  return [...Array(classes).keys()].map((c) => sampleGmm(classSpec(g, c), n, new Rng([seed, 'fz-target', c])));
}

/** per-class mode statistics: modes holding ≥ 50% of their share within 3σ, assignment entropy, within-mode spreads */
function classModes(spec: GmmSpec, rows: Float32Array) {
  const K = spec.means.length;
  const { counts, sqDistances } = modeStats(spec, rows, 2);
  const covered = counts.filter((c) => c >= 0.5 * (rows.length / 2 / K)).length;
  const held = counts.reduce((a, b) => a + b, 0);
  const entropy = held ? -counts.reduce((a, c) => (c ? a + (c / held) * Math.log(c / held) : a), 0) : 0;
  const spreads = counts.map((c, k) => (c >= 10 ? Math.sqrt(sqDistances[k]! / (2 * c)) / spec.stds[k]! : NaN)).filter((v) => !Number.isNaN(v));
  return { covered, entropy, spreads };
}

/** std / mean (population std) */
const relativeSpread = (v: number[]) => {
  const m = v.reduce((a, b) => a + b, 0) / v.length;
  return Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / v.length) / m;
};

/** `samples` [n,2] with `labels` per row, the advantage ã and the RLS weight ρ per row */
export function fzMetrics(
  g: GmmSpec,
  region: Region,
  samples: Float32Array,
  labels: Float32Array,
  advantage: Float32Array | undefined,
  targets: Float32Array[],
  rho?: Float32Array,
): FzMetrics {
  const n = labels.length;
  const classes = targets.length;
  let covered = 0;
  let entropy = 0;
  let logp = 0;
  let ed = 0;
  const spreads: number[] = [];
  for (let c = 0; c < classes; c++) {
    const rows = [...Array(n).keys()].filter((i) => labels[i] === c);
    const xs = new Float32Array(rows.length * 2);
    rows.forEach((i, j) => ((xs[2 * j] = samples[2 * i]!), (xs[2 * j + 1] = samples[2 * i + 1]!)));
    const spec = classSpec(g, c);
    const m = classModes(spec, xs);
    covered += m.covered;
    entropy += m.entropy / classes;
    spreads.push(...m.spreads);
    ed += energyDistance(xs, targets[c]!, 2) / classes;
    for (let j = 0; j < rows.length; j++) logp += gmmLogDensity(spec, [xs[2 * j]!, xs[2 * j + 1]!]) / n;
  }
  const zero = [...Array(n).keys()].filter((i) => labels[i] === 0);
  const trapped = zero.map((i) => inRegion(region, samples, i));
  return {
    trappedMass: trapped.filter(Boolean).length / Math.max(zero.length, 1),
    energyDistance: ed,
    modesCovered: covered,
    meanLogDensity: logp,
    modeEntropy: entropy,
    withinModeSpread: spreads.length ? spreads.reduce((a, b) => a + b, 0) / spreads.length : NaN,
    auroc: advantage ? auroc(zero.map((i) => -advantage[i]!), trapped) : null,
    meanAdvantage: advantage ? advantage.reduce((a, b) => a + b, 0) / n : null,
    zoneRhoSpread: rho && trapped.filter(Boolean).length >= 2 ? relativeSpread(zero.filter((_, j) => trapped[j]).map((i) => rho[i]!)) : null,
  };
}
