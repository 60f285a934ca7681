/**
 * @file Gaussian mixtures whose components are anisotropic in one shared way (F2 of docs/methods/copying.md):
 * std σ_k inside the span of an orthonormal basis U (r × D), std η off it. Everything splits into the in-span part
 * P·v = Uᵀ(U v) and the rest, so densities, samples and the exact denoiser stay closed form in any dimension.
 */
import type { GmmSpec } from '../dsl/ir/schema.ts';

/** per-component variance inside and outside the span (isotropic mixtures: both σ_k²) */
function variances(g: GmmSpec, k: number): { inSpan: number; offSpan: number; rank: number } {
  const s2 = g.stds[k]! ** 2;
  if (!g.subspace) return { inSpan: s2, offSpan: s2, rank: 0 };
  return { inSpan: s2, offSpan: g.subspace.eta ** 2, rank: g.subspace.basis.length };
}

/** ‖P v‖² for one vector (0 without a subspace) */
function inSpanSq(g: GmmSpec, v: ArrayLike<number>, at = 0): number {
  if (!g.subspace) return 0;
  let s = 0;
  for (const u of g.subspace.basis) {
    let c = 0;
    for (let j = 0; j < u.length; j++) c += u[j]! * v[at + j]!;
    s += c * c;
  }
  return s;
}

/** squared Mahalanobis distance of v − mean_k under component k's covariance */
export function mahalanobisSq(g: GmmSpec, k: number, x: ArrayLike<number>, at = 0): number {
  const m = g.means[k]!;
  const d = m.length;
  const diff = new Float64Array(d);
  let all = 0;
  for (let j = 0; j < d; j++) (diff[j] = x[at + j]! - m[j]!), (all += diff[j]! ** 2);
  const { inSpan, offSpan } = variances(g, k);
  if (!g.subspace) return all / inSpan;
  const p = inSpanSq(g, diff);
  return p / inSpan + (all - p) / offSpan;
}

/** log det of component k's covariance */
export function logDet(g: GmmSpec, k: number): number {
  const d = g.means[k]!.length;
  const { inSpan, offSpan, rank } = variances(g, k);
  return g.subspace ? rank * Math.log(inSpan) + (d - rank) * Math.log(offSpan) : d * Math.log(inSpan);
}

/** a random orthonormal r × d basis (Gram–Schmidt on Gaussian rows) */
export function randomBasis(r: number, d: number, normals: (n: number) => Float32Array): number[][] {
  const rows: number[][] = [];
  while (rows.length < r) {
    const v = Array.from(normals(d));
    for (const u of rows) {
      const c = u.reduce((a, x, j) => a + x * v[j]!, 0);
      for (let j = 0; j < d; j++) v[j]! -= c * u[j]!;
    }
    const n = Math.hypot(...v);
    if (n > 1e-6) rows.push(v.map((x) => x / n));
  }
  return rows;
}
