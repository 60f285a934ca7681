/**
 * @file Token datasets with an exactly known law (docs/methods/dmmd.md): every sequence of the support with its
 * probability. The two-coin set and the closed Markov language, sampling, and the exact masked-diffusion oracle
 * x̂(z)_d = q(x_d | the tokens revealed in z).
 */
import type { TokensSpec } from '../dsl/ir/schema.ts';
import { Rng } from './rng.ts';

/** q(00) = q(11) = ½: one step from all-MASK gives 01 or 10 half the time, even with a perfect denoiser */
export function twoCoins(): TokensSpec {
  return { kind: 'tokens', length: 2, vocab: 2, support: [[0, 0], [1, 1]], probs: [0.5, 0.5] };
}

export interface MarkovOptions {
  vocab?: number;
  length?: number;
  /** probability of each token's first allowed successor (the second gets the rest) */
  pHigh?: number;
  seed?: number;
}

/** the successor table of the closed Markov language: two allowed successors per token, drawn from the seed */
function markovSuccessors(o: MarkovOptions = {}): [number, number][] {
  const V = o.vocab ?? 6;
  const rng = new Rng(['markov-language', o.seed ?? 0]);
  return Array.from({ length: V }, () => {
    const a = Math.floor(rng.uniform() * V);
    let b = Math.floor(rng.uniform() * (V - 1));
    if (b >= a) b++;
    return [a, b];
  });
}

/**
 * q(x) ∝ π₀(x₁) Π T(x_i | x_{i−1}) · 1[x_L = x₁] with π₀ uniform and two successors per token (pHigh, 1 − pHigh):
 * every chain path enumerated (V·2^{L−1}), the closed ones kept and renormalised.
 */
export function markovLanguage(o: MarkovOptions = {}): TokensSpec {
  const V = o.vocab ?? 6;
  const L = o.length ?? 8;
  const pHigh = o.pHigh ?? 0.75;
  const succ = markovSuccessors(o);
  const support: number[][] = [];
  const probs: number[] = [];
  const walk = (seq: number[], p: number) => {
    if (seq.length === L) {
      if (seq[L - 1] === seq[0]) (support.push([...seq]), probs.push(p));
      return;
    }
    const [a, b] = succ[seq[seq.length - 1]!]!;
    walk([...seq, a], p * pHigh);
    walk([...seq, b], p * (1 - pHigh));
  };
  for (let v = 0; v < V; v++) walk([v], 1 / V);
  const z = probs.reduce((s, x) => s + x, 0);
  if (!support.length) throw new Error(`the Markov language (V ${V}, L ${L}, seed ${o.seed ?? 0}) has no closed sequence`);
  return { kind: 'tokens', length: L, vocab: V, support, probs: probs.map((p) => p / z) };
}

/** base-V code of a sequence (L ≤ 20 at V ≤ 6 stays an exact double) */
export const encode = (x: ArrayLike<number>, V: number, at = 0, L = x.length): number => {
  let c = 0;
  for (let i = 0; i < L; i++) c = c * V + x[at + i]!;
  return c;
};

/** q as a map code → probability */
export function tokenTable(ds: TokensSpec): Map<number, number> {
  const m = new Map<number, number>();
  ds.support.forEach((s, i) => {
    const c = encode(s, ds.vocab);
    m.set(c, (m.get(c) ?? 0) + ds.probs[i]!);
  });
  return m;
}

/** n sequences drawn from q, row-major Int32Array [n, L] */
export function sampleTokens(ds: TokensSpec, n: number, rng: Rng): Int32Array {
  const L = ds.length;
  const total = ds.probs.reduce((a, b) => a + b, 0);
  const out = new Int32Array(n * L);
  for (let i = 0; i < n; i++) out.set(ds.support[rng.categorical(ds.probs, total)]!, i * L);
  return out;
}

/**
 * The exact x-prediction of masked diffusion: for each row of z (MASK = vocab), the q-weighted token marginals of
 * the support sequences consistent with its revealed tokens; revealed positions get their own one-hot. A row that
 * no support sequence matches gets the unconditional marginals at its masked positions.
 */
export function oracleMarginals(ds: TokensSpec, z: ArrayLike<number>, rows: number): Float32Array {
  const { length: L, vocab: V, support, probs } = ds;
  const out = new Float32Array(rows * L * V);
  const w = new Float64Array(L * V);
  for (let r = 0; r < rows; r++) {
    const o = r * L;
    w.fill(0);
    let total = 0;
    for (let k = 0; k < support.length; k++) {
      const s = support[k]!;
      let ok = true;
      for (let d = 0; d < L && ok; d++) ok = z[o + d] === V || z[o + d] === s[d];
      if (!ok) continue;
      total += probs[k]!;
      for (let d = 0; d < L; d++) w[d * V + s[d]!] += probs[k]!;
    }
    if (total === 0)
      support.forEach((s, k) => {
        total += probs[k]!;
        for (let d = 0; d < L; d++) w[d * V + s[d]!] += probs[k]!;
      });
    for (let d = 0; d < L; d++) {
      const zd = z[o + d]!;
      for (let v = 0; v < V; v++) out[(o + d) * V + v] = zd === V ? w[d * V + v]! / total : Number(v === zd);
    }
  }
  return out;
}
