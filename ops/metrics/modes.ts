/** @file Mode coverage of a Gaussian mixture: which modes hold their share of samples, and what lies off every mode. */
import type { GmmSpec } from '../../dsl/ir/schema.ts';
import { mahalanobisSq } from '../subspace.ts';

export interface ModeStats {
  modesCovered: number;
  modesTotal: number;
  /** fraction of samples farther than "3σ" from every mode: squared Mahalanobis distance above max(9, d + 3√(2d)),
   * the mean plus three standard deviations of χ²_d (in 2-D the plain 3σ disc; in high d a mode's own samples lie
   * near √d·σ, so a fixed 3σ would call them all off-mode) */
  offModeFraction: number;
  /** the smallest of the modes' mass ratios: (a mode's share of the on-mode samples) / (its weight's share); 1 when
   * the on-mode samples follow the weights, 0 when a mode is empty (and when no sample is on any mode) */
  minModeMassRatio: number;
  /** samples within 3σ of each mode */
  counts: number[];
  /** sum of their squared distances to the mode's mean */
  sqDistances: number[];
}

/** A mode counts as covered when at least a quarter of its expected share of samples lies within 3σ of it. */
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
  const covered = counts.filter((c, k) => c >= 0.25 * n * (g.weights[k]! / total)).length;
  // relative to the on-mode samples, so that mass between the modes (offModeFraction) does not hide an unbalanced student
  const on = n - off;
  const minModeMassRatio = on > 0 ? Math.min(...counts.map((c, k) => c / on / (g.weights[k]! / total))) : 0;
  return { modesCovered: covered, modesTotal: K, offModeFraction: off / n, minModeMassRatio, counts, sqDistances };
}
