/**
 * @file Copying diagnostics (docs/methods/copying.md): does a student G reproduce the teacher's own
 * noise→data map Φ? Inputs are host arrays of n rows in dimension d: the noises z, G(z), Φ(z) and, when the
 * teacher's inverse flow is at hand, z' = Φ⁻¹(G(z)).
 */
import { Matrix, SingularValueDecomposition } from 'ml-matrix';
import { munkres } from 'munkres';
import type { GmmSpec } from '../../dsl/ir/schema.ts';
import { Rng } from '../rng.ts';
import { logDet, mahalanobisSq } from '../subspace.ts';

export interface CopyingMetrics {
  /** E‖G(z) − Φ(z)‖² / E‖G(z) − Φ(π z)‖²: 0 copying, ≈ 1 a pairing independent of the teacher's */
  dCopy: number;
  /** E‖Φ⁻¹(G(z)) − z‖² / (2d): 0 copying, ≈ 1 independent (null without the inverse) */
  dNoise: number | null;
  /** 1 − dNoise clipped to [0, 1] (or 1 − dCopy without the inverse): the copying score */
  copyingScore: number;
  /** the best orthogonal R with z' ≈ z R: ‖R − I‖_F / √(2d), and the share of ‖z'‖² it leaves unexplained */
  procrustes: { rotationDistance: number; residual: number } | null;
  /** fraction of z whose G(z) and Φ(z) fall in the same mixture component; chance is Σπ_k² */
  modeAgreement: number | null;
  modeAgreementChance: number | null;
  /**
   * Mode agreement after the best relabelling of the student's modes (an exact assignment on the K × K table of
   * (student mode, teacher mode) counts): ≈ 1 with modeAgreement ≈ 0 is a consistent remap of whole modes (a
   * symmetry of the data, e.g. the ring turned by 45°); at chance both, an independent pairing.
   */
  modeAgreementRelabelled: number | null;
  /**
   * Pooled cosine between G(z) − μ_k and Φ(z) − μ_k over the z whose samples share component k: 1 when the student
   * also reproduces the teacher's position inside the mode, 0 when only the mode is shared. Scale-free; null when
   * fewer than 32 rows agree.
   */
  withinModeCorrelation: number | null;
  /**
   * For data on a subspace (F2): dCopy and the within-mode correlation of the in-plane and off-plane parts apart.
   * Off the plane both G and Φ carry noise of scale η that no pairing predicts; over d − r dimensions it gives the
   * total dCopy a floor that grows with d, so the in-plane part is the one that says whether the map is copied.
   */
  planes: { inPlane: PlaneMetrics; offPlane: PlaneMetrics } | null;
  /** transport energies E(M) = E‖M(z) − a·z‖² (a = σ_data) and the three ΔE candidates of docs/methods/copying.md */
  energy: {
    student: number;
    teacher: number;
    independent: number;
    independentTeacher: number;
    ot: number;
    otTeacher: number;
    /** (E_S − E_T) / E_T */
    e1: number;
    /** (E_S − E_OT) / (E_ind − E_OT), for the student and, computed the same way, for the teacher */
    e2Student: number;
    e2Teacher: number;
    /** (E_S − E_T) / (d · Var x) */
    e3: number;
  };
}

export interface PlaneMetrics {
  dCopy: number;
  withinModeCorrelation: number | null;
}

const row = (x: Float32Array, d: number, i: number) => x.subarray(i * d, (i + 1) * d);
const sqDist = (a: ArrayLike<number>, b: ArrayLike<number>, scaleB = 1) => {
  let s = 0;
  for (let j = 0; j < a.length; j++) s += (a[j]! - scaleB * b[j]!) ** 2;
  return s;
};

/** a fixed permutation of 0..n−1 with no fixed point (so π z is never z itself) */
export function derangement(n: number, seed: number): number[] {
  const rng = new Rng([seed, 'derangement']);
  const p = [...Array(n).keys()];
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng.uniform() * i); // Sattolo: a single n-cycle
    [p[i], p[j]] = [p[j]!, p[i]!];
  }
  return p;
}

/** mean of ‖M_i − a·z_{π(i)}‖² */
function transportEnergy(m: Float32Array, z: Float32Array, d: number, a: number, perm?: number[]): number {
  const n = m.length / d;
  let s = 0;
  for (let i = 0; i < n; i++) s += sqDist(row(m, d, i), row(z, d, perm ? perm[i]! : i), a);
  return s / n;
}

/** exact optimal assignment cost between the first n rows of a·z and of m (Hungarian algorithm) */
export function otEnergy(m: Float32Array, z: Float32Array, d: number, a: number, n: number): number {
  const cost = [...Array(n).keys()].map((i) => [...Array(n).keys()].map((k) => sqDist(row(m, d, k), row(z, d, i), a)));
  const pairs = munkres(cost);
  return pairs.reduce((s, [i, k]) => s + cost[i]![k]!, 0) / n;
}

/** the mixture component with the largest posterior at σ → 0 */
export function component(g: GmmSpec, x: ArrayLike<number>): number {
  let best = 0;
  let bestV = -Infinity;
  g.means.forEach((_, k) => {
    const v = Math.log(g.weights[k]!) - mahalanobisSq(g, k, x) / 2 - logDet(g, k) / 2;
    if (v > bestV) [best, bestV] = [k, v];
  });
  return best;
}

/** orthogonal Procrustes: R = U Vᵀ from the SVD of zᵀ z' */
function procrustes(z: Float32Array, zr: Float32Array, d: number) {
  const n = z.length / d;
  const Z = new Matrix(n, d);
  const Zr = new Matrix(n, d);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < d; j++) {
      Z.set(i, j, z[i * d + j]!);
      Zr.set(i, j, zr[i * d + j]!);
    }
  const svd = new SingularValueDecomposition(Z.transpose().mmul(Zr));
  const R = svd.leftSingularVectors.mmul(svd.rightSingularVectors.transpose());
  const residual = Zr.clone().sub(Z.mmul(R)).norm('frobenius') ** 2 / Zr.norm('frobenius') ** 2;
  return { rotationDistance: R.clone().sub(Matrix.eye(d)).norm('frobenius') / Math.sqrt(2 * d), residual };
}

/** v ↦ (P v, v − P v) with P the projection on the orthonormal rows of `basis` */
function splitPlane(v: ArrayLike<number>, basis: number[][]): [Float64Array, Float64Array] {
  const d = v.length;
  const inP = new Float64Array(d);
  for (const u of basis) {
    let c = 0;
    for (let j = 0; j < d; j++) c += u[j]! * v[j]!;
    for (let j = 0; j < d; j++) inP[j]! += c * u[j]!;
  }
  const off = new Float64Array(d);
  for (let j = 0; j < d; j++) off[j] = v[j]! - inP[j]!;
  return [inP, off];
}

const dot = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let s = 0;
  for (let j = 0; j < a.length; j++) s += a[j]! * b[j]!;
  return s;
};

/**
 * dCopy and the within-mode correlation for each part of a split (the whole space when `parts` returns one part):
 * near/far pair errors and, over the rows whose components agree, the pooled cosine of the offsets from the mean.
 */
function pairingParts(o: { G: Float32Array; T: Float32Array; d: number; perm: number[]; comps?: [number[], number[]]; gmm?: GmmSpec; parts: (v: ArrayLike<number>) => ArrayLike<number>[] }): PlaneMetrics[] {
  const { G, T, d, perm } = o;
  const n = G.length / d;
  let acc: { near: number; far: number; gt: number; gg: number; tt: number }[] | undefined;
  let agreeing = 0;
  const diff = (a: ArrayLike<number>, b: ArrayLike<number>) => Float64Array.from({ length: d }, (_, j) => a[j]! - b[j]!);
  for (let i = 0; i < n; i++) {
    const near = o.parts(diff(row(G, d, i), row(T, d, i)));
    const far = o.parts(diff(row(G, d, i), row(T, d, perm[i]!)));
    acc ??= near.map(() => ({ near: 0, far: 0, gt: 0, gg: 0, tt: 0 }));
    near.forEach((p, k) => {
      acc![k]!.near += dot(p, p);
      acc![k]!.far += dot(far[k]!, far[k]!);
    });
    if (o.comps && o.gmm && o.comps[0][i] === o.comps[1][i]) {
      agreeing++;
      const mu = o.gmm.means[o.comps[0][i]!]!;
      const g = o.parts(diff(row(G, d, i), mu));
      const t = o.parts(diff(row(T, d, i), mu));
      g.forEach((p, k) => {
        acc![k]!.gt += dot(p, t[k]!);
        acc![k]!.gg += dot(p, p);
        acc![k]!.tt += dot(t[k]!, t[k]!);
      });
    }
  }
  // a correlation over a handful of agreeing rows says nothing: at least 32 of them, or none reported
  const enough = o.comps && agreeing >= Math.min(32, n);
  return (acc ?? []).map((a) => ({ dCopy: a.near / a.far, withinModeCorrelation: enough && a.gg > 0 && a.tt > 0 ? a.gt / Math.sqrt(a.gg * a.tt) : null }));
}

export function copyingMetrics(o: {
  z: Float32Array;
  student: Float32Array;
  teacher: Float32Array;
  d: number;
  /** Φ⁻¹(G(z)) */
  recovered?: Float32Array;
  gmm?: GmmSpec;
  /** the data scale a that puts noise and data in the same units */
  sigmaData: number;
  /** rows in the exact optimal assignment (O(n³)) */
  otRows?: number;
  seed?: number;
}): CopyingMetrics {
  const { z, student: G, teacher: T, d } = o;
  const n = z.length / d;
  const perm = derangement(n, o.seed ?? 0);
  let dNoise: number | null = null;
  if (o.recovered) {
    let s = 0;
    for (let i = 0; i < n * d; i++) s += (o.recovered[i]! - z[i]!) ** 2;
    dNoise = s / n / (2 * d);
  }
  const a = o.sigmaData;
  const otN = Math.min(n, o.otRows ?? 512);
  const eS = transportEnergy(G, z, d, a);
  const eT = transportEnergy(T, z, d, a);
  const eInd = transportEnergy(G, z, d, a, perm);
  const eIndT = transportEnergy(T, z, d, a, perm);
  const otS = otEnergy(G, z, d, a, otN);
  const otT = otEnergy(T, z, d, a, otN);
  let mean = 0;
  let sq = 0;
  for (let i = 0; i < n * d; i++) (mean += T[i]!), (sq += T[i]! ** 2);
  const varX = sq / (n * d) - (mean / (n * d)) ** 2;
  let modeAgreement: number | null = null;
  let chance: number | null = null;
  let comps: [number[], number[]] | undefined;
  let relabelled: number | null = null;
  if (o.gmm) {
    const gmm = o.gmm;
    comps = [0, 1].map((which) => [...Array(n).keys()].map((i) => component(gmm, row(which ? T : G, d, i)))) as [number[], number[]];
    modeAgreement = comps[0].filter((k, i) => k === comps![1][i]).length / n;
    const K = gmm.means.length;
    const table = [...Array(K)].map(() => new Array<number>(K).fill(0));
    comps[0].forEach((k, i) => table[k]![comps![1][i]!]!++);
    const best = munkres(table.map((r) => r.map((c) => n - c)));
    relabelled = best.reduce((a, [k, j]) => a + table[k]![j]!, 0) / n;
    const tot = gmm.weights.reduce((x, y) => x + y, 0);
    chance = gmm.weights.reduce((x, w) => x + (w / tot) ** 2, 0);
  }
  // dCopy and the within-mode correlation over the whole space, and (data on a plane) in and off the plane
  const pairing = { G, T, d, perm, comps, gmm: o.gmm };
  const whole = pairingParts({ ...pairing, parts: (v) => [v] })[0]!;
  const basis = o.gmm?.subspace?.basis;
  const planes = basis ? pairingParts({ ...pairing, parts: (v) => splitPlane(v, basis) }) : null;
  return {
    dCopy: whole.dCopy,
    dNoise,
    copyingScore: Math.min(1, Math.max(0, 1 - (dNoise ?? whole.dCopy))),
    procrustes: o.recovered ? procrustes(z, o.recovered, d) : null,
    modeAgreement,
    modeAgreementChance: chance,
    modeAgreementRelabelled: relabelled,
    withinModeCorrelation: whole.withinModeCorrelation,
    planes: planes ? { inPlane: planes[0]!, offPlane: planes[1]! } : null,
    energy: {
      student: eS,
      teacher: eT,
      independent: eInd,
      independentTeacher: eIndT,
      ot: otS,
      otTeacher: otT,
      e1: (eS - eT) / eT,
      e2Student: (eS - otS) / (eInd - otS),
      e2Teacher: (eT - otT) / (eIndT - otT),
      e3: (eS - eT) / (d * varX),
    },
  };
}
