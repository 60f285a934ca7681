/** @file Toy datasets with exact densities: Gaussian mixtures, isotropic or with a low-dimensional span (ops/subspace.ts). */
import type { GmmSpec } from '../dsl/ir/schema.ts';
import type { Rng } from './rng.ts';
import { logDet, mahalanobisSq } from './subspace.ts';

export const gmmDim = (g: GmmSpec): number => g.means[0]!.length;

/** n rows of dimension D, row-major */
export function sampleGmm(g: GmmSpec, n: number, rng: Rng): Float32Array {
  const d = gmmDim(g);
  const total = g.weights.reduce((a, b) => a + b, 0);
  const out = new Float32Array(n * d);
  const eps = rng.normals(n * d);
  for (let i = 0; i < n; i++) {
    const k = rng.categorical(g.weights, total);
    if (!g.subspace) {
      for (let j = 0; j < d; j++) out[i * d + j] = g.means[k]![j]! + g.stds[k]! * eps[i * d + j]!;
      continue;
    }
    // x = m + η ξ + (σ − η) P ξ: std σ inside the span, η off it
    const { basis, eta } = g.subspace;
    for (let j = 0; j < d; j++) out[i * d + j] = g.means[k]![j]! + eta * eps[i * d + j]!;
    for (const u of basis) {
      let c = 0;
      for (let j = 0; j < d; j++) c += u[j]! * eps[i * d + j]!;
      for (let j = 0; j < d; j++) out[i * d + j]! += (g.stds[k]! - eta) * c * u[j]!;
    }
  }
  return out;
}

/** exact log-density at one point */
export function gmmLogDensity(g: GmmSpec, x: ArrayLike<number>): number {
  const d = gmmDim(g);
  const total = g.weights.reduce((a, b) => a + b, 0);
  const terms = g.means.map((_, k) => Math.log(g.weights[k]! / total) - mahalanobisSq(g, k, x) / 2 - (d * Math.log(2 * Math.PI) + logDet(g, k)) / 2);
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
    const inner = g.stds[k]! ** 2;
    const outer = g.subspace ? g.subspace.eta ** 2 : inner;
    for (let i = 0; i < d; i++)
      for (let j = 0; j < d; j++) {
        // σ²P + η²(I − P)
        const p = g.subspace ? g.subspace.basis.reduce((a, u) => a + u[i]! * u[j]!, 0) : 0;
        cov[i * d + j]! += w * ((m[i]! - mean[i]!) * (m[j]! - mean[j]!) + (i === j ? outer : 0) + (inner - outer) * p);
      }
  });
  return { mean, cov };
}
