/** @file Mode coverage of a Gaussian mixture: which modes hold their share of samples, and what lies off every mode. */
import type { GmmSpec } from '../../dsl/ir/schema.ts';
import { mahalanobisSq } from '../subspace.ts';

/** A mode is covered when its mass ratio is at least this: half its share of the on-mode samples. */
export const COVERED_RATIO = 0.5;
/** "within a factor 2 of its share": a mass ratio in [1/2, 2] */
export const BALANCE_FACTOR = 2;

export interface ModeStats {
  /** modes whose mass ratio is ≥ 0.5: at least half their weight's share of the on-mode samples (off-mode samples
   * count for no mode, so a student with most of its mass between the modes can still cover them all; read
   * `offModeFraction` beside it) */
  modesCovered: number;
  modesTotal: number;
  /** fraction of samples farther than "3σ" from every mode: squared Mahalanobis distance above max(9, d + 3√(2d)),
   * the mean plus three standard deviations of χ²_d (in 2-D the plain 3σ disc; in high d a mode's own samples lie
   * near √d·σ, so a fixed 3σ would call them all off-mode) */
  offModeFraction: number;
  /** the smallest of the modes' mass ratios: (a mode's share of the on-mode samples) / (its weight's share); 1 when
   * the on-mode samples follow the weights, 0 when a mode is empty (and when no sample is on any mode) */
  minModeMassRatio: number;
  /** the largest mass ratio (0 when no sample is on any mode) */
  maxModeMassRatio: number;
  /** modes whose mass ratio lies in [1/2, 2]: within a factor 2 of their share */
  modesWithinFactor2: number;
  /** each mode's share of the on-mode samples (all 0 when no sample is on any mode) */
  modeShares: number[];
  /** each mode's weight as a share of the total weight */
  modeWeights: number[];
  /** samples within 3σ of each mode (a sample near several counts for the nearest, by Mahalanobis distance) */
  counts: number[];
  /** sum of their squared distances to the mode's mean */
  sqDistances: number[];
}

/**
 * Assign each sample to the nearest mode within 3σ (or to none: off-mode), then compare each mode's share of the
 * on-mode samples with its weight's share. Relative to the on-mode samples, so that mass between the modes
 * (`offModeFraction`, reported beside) neither hides an unbalanced student nor uncovers a balanced one.
 */
export function modeStats(g: GmmSpec, x: Float32Array, d: number): ModeStats {
  const n = x.length / d;
  const K = g.means.length;
  const counts = new Array<number>(K).fill(0);
  const sqDistances = new Array<number>(K).fill(0);
  let off = 0;
  const limit = Math.max(9, d + 3 * Math.sqrt(2 * d));
  for (let i = 0; i < n; i++) {
    let hit = -1;
    let best = Infinity;
    for (let k = 0; k < K; k++) {
      const z2 = mahalanobisSq(g, k, x, i * d);
      if (z2 <= limit && z2 < best) {
        best = z2;
        hit = k;
      }
    }
    if (hit < 0) off++;
    else {
      counts[hit]!++;
      let r2 = 0;
      for (let j = 0; j < d; j++) r2 += (x[i * d + j]! - g.means[hit]![j]!) ** 2;
      sqDistances[hit]! += r2;
    }
  }
  const total = g.weights.reduce((a, b) => a + b, 0);
  const modeWeights = g.weights.map((w) => w / total);
  const on = n - off;
  const modeShares = counts.map((c) => (on > 0 ? c / on : 0));
  const ratios = modeShares.map((s, k) => s / modeWeights[k]!);
  return {
    modesCovered: ratios.filter((r) => r >= COVERED_RATIO).length,
    modesTotal: K,
    offModeFraction: n > 0 ? off / n : 0,
    minModeMassRatio: Math.min(...ratios),
    maxModeMassRatio: Math.max(...ratios),
    modesWithinFactor2: ratios.filter((r) => r >= 1 / BALANCE_FACTOR && r <= BALANCE_FACTOR).length,
    modeShares,
    modeWeights,
    counts,
    sqDistances,
  };
}
