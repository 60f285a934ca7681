/**
 * @file E[x | z] under a sampled Gaussian-posterior law, by self-normalised importance weights: a pool of draws
 * (x_i, μ_i, c_i) with z | i ~ N(μ_i, c_i² I). It measures a continuous-MMD auxiliary against the generator's
 * true conditional mean E_g[x | z_s] (docs/methods/dmmd.md, mmd-ring): x_i = x̂_η(z_t,i) and μ_i, c_i the posterior
 * q(z_s | z_t,i, x_i)'s mean and scale.
 */

export interface PosteriorPool {
  /** rows of D: the value averaged (x_i) and the Gaussian's mean μ_i */
  x: ArrayLike<number>;
  mu: ArrayLike<number>;
  /** the Gaussian's scale c_i per row (> 0) */
  c: ArrayLike<number>;
}

/**
 * Σ_i w_i x_i / Σ_i w_i with w_i = N(z; μ_i, c_i² I), over the rows i ≡ `offset` (mod `stride`) except `exclude`
 * (leave one out when z was drawn from row `exclude` itself). `ess`: the effective number of rows, (Σw)²/Σw².
 */
export function conditionalMean(pool: PosteriorPool, D: number, z: ArrayLike<number>, o: { exclude?: number; stride?: number; offset?: number } = {}): { mean: Float64Array; ess: number } {
  const n = pool.c.length;
  const stride = o.stride ?? 1;
  const logW = new Float64Array(n).fill(-Infinity);
  let top = -Infinity;
  for (let i = o.offset ?? 0; i < n; i += stride) {
    if (i === o.exclude) continue;
    const c = pool.c[i]!;
    let d2 = 0;
    for (let k = 0; k < D; k++) d2 += (z[k]! - pool.mu[i * D + k]!) ** 2;
    logW[i] = -D * Math.log(c) - d2 / (2 * c * c);
    if (logW[i]! > top) top = logW[i]!;
  }
  const mean = new Float64Array(D);
  let sum = 0;
  let sumSq = 0;
  for (let i = 0; i < n; i++) {
    if (logW[i] === -Infinity) continue;
    const w = Math.exp(logW[i]! - top);
    sum += w;
    sumSq += w * w;
    for (let k = 0; k < D; k++) mean[k] = mean[k]! + w * pool.x[i * D + k]!;
  }
  if (!(sum > 0)) throw new Error('conditionalMean: no pool row can have produced z');
  for (let k = 0; k < D; k++) mean[k] = mean[k]! / sum;
  return { mean, ess: (sum * sum) / sumSq };
}
