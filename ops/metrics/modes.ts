/** @file Mode coverage of a Gaussian mixture: which modes hold their share of samples, and what lies off every mode. */
import type { GmmSpec } from '../../dsl/ir/schema.ts';

export interface ModeStats {
  modesCovered: number;
  modesTotal: number;
  /** fraction of samples farther than 3σ from every mode */
  offModeFraction: number;
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
  for (let i = 0; i < n; i++) {
    let hit = -1;
    let best = Infinity;
    for (let k = 0; k < K; k++) {
      let r2 = 0;
      for (let j = 0; j < d; j++) r2 += (x[i * d + j]! - g.means[k]![j]!) ** 2;
      const z = Math.sqrt(r2) / g.stds[k]!;
      if (z <= 3 && z < best) {
        best = z;
        hit = k;
      }
    }
    if (hit < 0) off++;
    else {
      counts[hit]!++;
      sqDistances[hit]! += (best * g.stds[hit]!) ** 2;
    }
  }
  const total = g.weights.reduce((a, b) => a + b, 0);
  const covered = counts.filter((c, k) => c >= 0.25 * n * (g.weights[k]! / total)).length;
  return { modesCovered: covered, modesTotal: K, offModeFraction: off / n, counts, sqDistances };
}
