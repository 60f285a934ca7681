/** @file The part of a mixture's energy distance that the mode masses alone make.
 *
 * With the components held exact, samples spread over the modes with shares p instead of the weights w have energy
 * distance −Σᵢⱼ δᵢ δⱼ Dᵢⱼ to the mixture, δ = p − w, Dᵢⱼ = E|Xᵢ − Xⱼ′| between components i and j (the within-mode
 * terms cancel because Σ δ = 0; −D is negative definite on such δ, so the value is ≥ 0). Set beside a student's
 * energy distance it says how much of it comes from unbalanced modes rather than from samples off or misshapen
 * inside the modes. It is not an additive part: the shares are of the on-mode samples, and samples off the modes
 * can offset an imbalance, so it can exceed a student's energy distance when much of its mass lies off the modes. */
import type { GmmSpec } from '../../dsl/ir/schema.ts';
import { gmmDim, sampleGmm } from '../datasets.ts';
import type { Rng } from '../rng.ts';

/** exact samples drawn per component for D: enough for D's error (~1e-3 relative) to sit far below the metric's use */
export const COMPONENT_SAMPLES = 256;

/** Dᵢⱼ = E|Xᵢ − Xⱼ′| between the mixture's components, estimated from `m` exact draws of each (U-statistic on the
 * diagonal) */
export function componentDistances(g: GmmSpec, rng: Rng, m = COMPONENT_SAMPLES): number[][] {
  const d = gmmDim(g);
  const K = g.means.length;
  const draws = g.means.map((_, k) => sampleGmm({ ...g, weights: g.weights.map((_, j) => (j === k ? 1 : 0)) }, m, rng));
  const D = g.means.map(() => new Array<number>(K).fill(0));
  for (let i = 0; i < K; i++)
    for (let j = i; j < K; j++) {
      const a = draws[i]!;
      const b = draws[j]!;
      let s = 0;
      for (let p = 0; p < m; p++)
        for (let q = i === j ? p + 1 : 0; q < m; q++) {
          let r2 = 0;
          for (let c = 0; c < d; c++) {
            const v = a[p * d + c]! - b[q * d + c]!;
            r2 += v * v;
          }
          s += Math.sqrt(r2);
        }
      D[i]![j] = D[j]![i] = i === j ? s / ((m * (m - 1)) / 2) : s / (m * m);
    }
  return D;
}

/** −Σᵢⱼ δᵢ δⱼ Dᵢⱼ with δ = shares − weights (weights normalised here); 0 when the shares are the weights. Shares that
 * are all 0 (no sample on any mode) have no mass split to speak of: NaN (null in summary.json). */
export function massEnergyDistance(D: readonly (readonly number[])[], shares: readonly number[], weights: readonly number[]): number {
  const onMode = shares.reduce((a, b) => a + b, 0);
  if (onMode === 0) return NaN;
  const total = weights.reduce((a, b) => a + b, 0);
  const delta = shares.map((s, k) => s / onMode - weights[k]! / total);
  let e = 0;
  for (let i = 0; i < delta.length; i++) for (let j = 0; j < delta.length; j++) e -= delta[i]! * delta[j]! * D[i]![j]!;
  // rounding can leave −1e-17 for balanced shares
  return Math.max(0, e);
}
