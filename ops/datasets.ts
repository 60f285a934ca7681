/** @file Toy datasets with exact densities: Gaussian mixtures with isotropic components. */
import type { GmmSpec } from '../dsl/ir/schema.ts';
import type { Rng } from './rng.ts';

export const gmmDim = (g: GmmSpec): number => g.means[0]!.length;

/** n rows of dimension D, row-major */
export function sampleGmm(g: GmmSpec, n: number, rng: Rng): Float32Array {
  const d = gmmDim(g);
  const total = g.weights.reduce((a, b) => a + b, 0);
  const out = new Float32Array(n * d);
  const eps = rng.normals(n * d);
  for (let i = 0; i < n; i++) {
    const k = rng.categorical(g.weights, total);
    for (let j = 0; j < d; j++) out[i * d + j] = g.means[k]![j]! + g.stds[k]! * eps[i * d + j]!;
  }
  return out;
}

/** exact log-density at one point */
export function gmmLogDensity(g: GmmSpec, x: ArrayLike<number>): number {
  const d = gmmDim(g);
  const total = g.weights.reduce((a, b) => a + b, 0);
  const terms = g.means.map((m, k) => {
    const s2 = g.stds[k]! ** 2;
    let r2 = 0;
    for (let j = 0; j < d; j++) r2 += (x[j]! - m[j]!) ** 2;
    return Math.log(g.weights[k]! / total) - r2 / (2 * s2) - (d / 2) * Math.log(2 * Math.PI * s2);
  });
  const mx = Math.max(...terms);
  return mx + Math.log(terms.reduce((a, t) => a + Math.exp(t - mx), 0));
}

/** mean and covariance of the mixture (row-major D×D) */
export function gmmMoments(g: GmmSpec): { mean: number[]; cov: number[] } {
  const d = gmmDim(g);
  const total = g.weights.reduce((a, b) => a + b, 0);
  const mean = new Array<number>(d).fill(0);
  g.means.forEach((m, k) => m.forEach((v, j) => (mean[j]! += (g.weights[k]! / total) * v)));
  const cov = new Array<number>(d * d).fill(0);
  g.means.forEach((m, k) => {
    const w = g.weights[k]! / total;
    for (let i = 0; i < d; i++)
      for (let j = 0; j < d; j++)
        cov[i * d + j]! += w * ((m[i]! - mean[i]!) * (m[j]! - mean[j]!) + (i === j ? g.stds[k]! ** 2 : 0));
  });
  return { mean, cov };
}
