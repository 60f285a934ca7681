/**
 * @file Exact metrics of sampled token sequences against a token dataset whose law q is known (docs/methods/dmmd.md).
 *
 * - invalidRate: P_g(q(x) = 0), the direct measure of factorization error.
 * - tv: ½ Σ|ĝ − q|; tvFloor is the same for n fresh data samples (what sampling noise alone gives).
 * - gm (tabular reference): for a softmax over all sequences converged on q, ∇ log p(x) = e_x − p, so
 *   GM = ‖g − q‖²; estimated without bias by the split-half product (ĝ₁ − q)·(ĝ₂ − q) over two independent halves.
 * - gmAR: the AR reference with p(·|c) = q(·|c) on the support (uniform off it):
 *   GM = Σ_i Σ_{c = x<i} ‖g(c,·) − g(c) q(·|c)‖², split-half as above; gmBigram: the same for the position-shared
 *   bigram MLE of q (blind to the closure x_L = x_1), with a start context.
 * - ppl: per-token exp(−mean log q_ε(x) / L), q_ε = (1 − 1e-3) q + 1e-3 uniform over V^L (the generative-PPL analog).
 * - sampleEntropy: mean over sequences of the entropy (nats) of the sequence's own token histogram; sampleEntropyData
 *   is its exact value under q. entropy: plug-in H(ĝ) with the Miller–Madow correction (K−1)/2n, vs entropyData = H(q).
 * - supportRecall: q-mass of the sequences seen at least once; supportRecallFloor: the same for n data samples.
 * - forwardKL: KL(q ‖ ĝ_ε) with ĝ_ε = (1 − 1e-3) ĝ + 1e-3 uniform: penalises dropped sequences.
 */
import type { TokensSpec } from '../../dsl/ir/schema.ts';
import { encode, sampleTokens, tokenTable } from '../tokens.ts';
import { Rng } from '../rng.ts';

export interface DiscreteMetrics {
  invalidRate: number;
  tv: number;
  tvFloor: number;
  gm: number;
  gmAR: number;
  gmBigram: number;
  ppl: number;
  sampleEntropy: number;
  sampleEntropyData: number;
  entropy: number;
  entropyData: number;
  supportRecall: number;
  supportRecallFloor: number;
  forwardKL: number;
  samples: number;
}

const SMOOTH = 1e-3;

/** histogram of sequence codes over rows [from, to) */
function histogram(x: ArrayLike<number>, L: number, V: number, from: number, to: number): Map<number, number> {
  const h = new Map<number, number>();
  for (let r = from; r < to; r++) {
    const c = encode(x, V, r * L, L);
    h.set(c, (h.get(c) ?? 0) + 1);
  }
  return h;
}

/** (ĝ₁ − q)·(ĝ₂ − q) over every sequence: unbiased for ‖g − q‖² when the halves are independent */
export function splitHalfGm(h1: Map<number, number>, n1: number, h2: Map<number, number>, n2: number, q: Map<number, number>): number {
  const keys = new Set([...h1.keys(), ...h2.keys(), ...q.keys()]);
  let s = 0;
  for (const k of keys) s += ((h1.get(k) ?? 0) / n1 - (q.get(k) ?? 0)) * ((h2.get(k) ?? 0) / n2 - (q.get(k) ?? 0));
  return s;
}

/** a context of position i in a sequence stored at `at` of a flat array (the AR prefix, the previous token, …) */
type Context = (seq: ArrayLike<number>, at: number, i: number) => string;

/** the reference model p(·|context) fitted to q: q-mass of each (context, token), normalised once; uniform off the support */
function reference(ds: TokensSpec, context: Context): (key: string) => Float64Array {
  const mass = new Map<string, Float64Array>();
  ds.support.forEach((s, k) => {
    for (let i = 0; i < ds.length; i++) {
      const key = context(s, 0, i);
      let row = mass.get(key);
      if (!row) mass.set(key, (row = new Float64Array(ds.vocab)));
      row[s[i]!] += ds.probs[k]!;
    }
  });
  for (const row of mass.values()) {
    const z = row.reduce((a, b) => a + b, 0);
    for (let v = 0; v < row.length; v++) row[v]! /= z;
  }
  const uniform = new Float64Array(ds.vocab).fill(1 / ds.vocab);
  return (key) => mass.get(key) ?? uniform;
}

/** E_g of the reference's expected gradient, per (context, token), from rows [from, to): counts of (c, v) − counts of c · p(v|c) */
function arGradient(x: ArrayLike<number>, ds: TokensSpec, from: number, to: number, context: Context, ref: (key: string) => Float64Array): Map<string, Float64Array> {
  const { length: L, vocab: V } = ds;
  const n = to - from;
  const acc = new Map<string, Float64Array>();
  for (let r = from; r < to; r++)
    for (let i = 0; i < L; i++) {
      const key = context(x, r * L, i);
      let a = acc.get(key);
      if (!a) acc.set(key, (a = new Float64Array(V)));
      const p = ref(key);
      for (let v = 0; v < V; v++) a[v] -= p[v]! / n;
      a[x[r * L + i]!] += 1 / n;
    }
  return acc;
}

const dot = (a: Map<string, Float64Array>, b: Map<string, Float64Array>) => {
  let s = 0;
  for (const [k, u] of a) {
    const w = b.get(k);
    if (w) for (let v = 0; v < u.length; v++) s += u[v]! * w[v]!;
  }
  return s;
};

const entropyOf = (counts: Iterable<number>, total: number) => {
  let h = 0;
  for (const c of counts) if (c > 0) h -= (c / total) * Math.log(c / total);
  return h;
};

/** entropy (nats) of the token histogram of one sequence */
function sequenceEntropy(x: ArrayLike<number>, at: number, L: number, V: number): number {
  const c = new Array<number>(V).fill(0);
  for (let i = 0; i < L; i++) c[x[at + i]!]!++;
  return entropyOf(c, L);
}

/** Every metric of docs/methods/dmmd.md for n sampled sequences (row-major [n, L]); the data floors use `seed`. */
export function discreteMetrics(ds: TokensSpec, x: ArrayLike<number>, n: number, seed = 0): DiscreteMetrics {
  const { length: L, vocab: V } = ds;
  const q = tokenTable(ds);
  const h = histogram(x, L, V, 0, n);
  const half = Math.floor(n / 2);
  const h1 = histogram(x, L, V, 0, half);
  const h2 = histogram(x, L, V, half, 2 * half);

  let invalid = 0;
  for (const [k, c] of h) if (!q.has(k)) invalid += c;
  const tvOf = (hist: Map<number, number>, m: number) => {
    let s = 0;
    for (const k of new Set([...hist.keys(), ...q.keys()])) s += Math.abs((hist.get(k) ?? 0) / m - (q.get(k) ?? 0));
    return s / 2;
  };
  const data = sampleTokens(ds, n, new Rng([seed, 'discrete-metrics-floor']));
  const hd = histogram(data, L, V, 0, n);

  // the split-half GM of a reference model converged on q: the AR one (exact conditionals) and the shared bigram
  const gmOf = (context: Context) => {
    const ref = reference(ds, context);
    return dot(arGradient(x, ds, 0, half, context, ref), arGradient(x, ds, half, 2 * half, context, ref));
  };
  const gmAR = gmOf((seq, at, i) => `${i}:${encode(seq, V, at, i)}`);
  const gmBigram = gmOf((seq, at, i) => (i === 0 ? 'start' : String(seq[at + i - 1])));

  const all = V ** L;
  let logq = 0;
  let sampleEntropy = 0;
  for (let r = 0; r < n; r++) {
    logq += Math.log((1 - SMOOTH) * (q.get(encode(x, V, r * L, L)) ?? 0) + SMOOTH / all);
    sampleEntropy += sequenceEntropy(x, r * L, L, V);
  }
  let sampleEntropyData = 0;
  ds.support.forEach((s, k) => (sampleEntropyData += ds.probs[k]! * sequenceEntropy(s, 0, L, V)));

  const recall = (hist: Map<number, number>) => [...q].reduce((a, [k, p]) => a + (hist.has(k) ? p : 0), 0);
  let forwardKL = 0;
  for (const [k, p] of q) if (p > 0) forwardKL += p * Math.log(p / ((1 - SMOOTH) * ((h.get(k) ?? 0) / n) + SMOOTH / all));

  return {
    invalidRate: invalid / n,
    tv: tvOf(h, n),
    tvFloor: tvOf(hd, n),
    gm: splitHalfGm(h1, half, h2, half, q),
    gmAR,
    gmBigram,
    ppl: Math.exp(-logq / n / L),
    sampleEntropy: sampleEntropy / n,
    sampleEntropyData,
    entropy: entropyOf(h.values(), n) + (h.size - 1) / (2 * n),
    entropyData: entropyOf(q.values(), 1),
    supportRecall: recall(h),
    supportRecallFloor: recall(hd),
    forwardKL,
    samples: n,
  };
}
