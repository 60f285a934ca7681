/** F2 (a ring embedded in R^d with a low-dimensional span): samples, moments, the exact denoiser against Monte
 * Carlo; mode statistics in high d; the pairing metrics as graph ops on couplings with known answers. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadBackend } from '../../gpu/backend.ts';
import { toy } from '../../dsl/models.ts';
import { gmmMoments, sampleGmm, gmmLogDensity } from '../../ops/datasets.ts';
import { gmmDenoise } from '../../gpu/models/gmm.ts';
import { modeStats } from '../../ops/metrics/modes.ts';
import { component } from '../../ops/metrics/copying.ts';
import { Rng } from '../../ops/rng.ts';
import { GraphBuilder } from '../../dsl/builder.ts';
import { evalNodes } from '../helpers.ts';
import type { GmmSpec } from '../../dsl/ir/schema.ts';

const be = await loadBackend('cpu');
const tf = be.tf;

test('F2 samples: the in-plane std is σ, the off-plane std is η, and the covariance equals gmmMoments', () => {
  const ring = toy.embeddedRing({ dim: 6 });
  const g = ring.spec;
  const n = 60000;
  const x = sampleGmm(g, n, new Rng(['f2-samples']));
  const { mean, cov } = gmmMoments(g);
  const d = 6;
  const emp = new Array(d * d).fill(0);
  const m = new Array(d).fill(0);
  for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) m[j] += x[i * d + j]! / n;
  for (let i = 0; i < n; i++) for (let a = 0; a < d; a++) for (let b = 0; b < d; b++) emp[a * d + b] += ((x[i * d + a]! - m[a]) * (x[i * d + b]! - m[b])) / n;
  for (let j = 0; j < d; j++) assert.ok(Math.abs(m[j] - mean[j]!) < 0.01);
  for (let k = 0; k < d * d; k++) assert.ok(Math.abs(emp[k] - cov[k]!) < 0.01, `cov[${k}] ${emp[k]} vs ${cov[k]}`);
  // the variance off the plane is η² = 0.0025: the trace of the covariance minus its in-plane part
  const planeVar = g.subspace!.basis.reduce((s, u) => s + u.reduce((a, ui, i) => a + u.reduce((b, uj, j) => b + ui * uj * cov[i * d + j]!, 0), 0), 0);
  const trace = [...Array(d).keys()].reduce((s, i) => s + cov[i * d + i]!, 0);
  assert.ok(Math.abs((trace - planeVar) / (d - 2) - 0.05 ** 2) < 1e-9);
});

test('F2 exact denoiser E[x0 | x_t] against a Monte-Carlo posterior mean (rf, d = 5, three noise levels)', () => {
  const g = toy.embeddedRing({ dim: 5, seed: 3 }).spec;
  const d = 5;
  const n = 200000;
  const x0 = sampleGmm(g, n, new Rng(['f2-mc']));
  const rng = new Rng(['f2-query']);
  for (const t of [0.3, 0.6, 0.9]) {
    const xt = Array.from(sampleGmm(g, 1, rng)).map((v) => (1 - t) * v + t * rng.normals(1)[0]!);
    // weights ∝ N(x_t; (1 − t) x0, t² I)
    const logw = new Float64Array(n);
    for (let i = 0; i < n; i++) {
      let r2 = 0;
      for (let j = 0; j < d; j++) r2 += (xt[j]! - (1 - t) * x0[i * d + j]!) ** 2;
      logw[i] = -r2 / (2 * t * t);
    }
    const mx = logw.reduce((a, b) => Math.max(a, b), -Infinity);
    let z = 0;
    const est = new Array(d).fill(0);
    for (let i = 0; i < n; i++) {
      const w = Math.exp(logw[i]! - mx);
      z += w;
      for (let j = 0; j < d; j++) est[j] += w * x0[i * d + j]!;
    }
    const exact = tf.tidy(() => Array.from(gmmDenoise(tf, g, { kind: 'rf' }, tf.tensor([xt], [1, d]), tf.tensor([[t]]), undefined).dataSync()));
    for (let j = 0; j < d; j++) assert.ok(Math.abs(est[j] / z - exact[j]!) < 0.03, `t ${t}, coordinate ${j}: MC ${est[j] / z} vs exact ${exact[j]}`);
  }
});

test('a subspace mixture with η = σ is the isotropic mixture: same denoiser, same log-density', () => {
  const iso = toy.gaussians({ dim: 4, modes: 3 }).spec;
  const basis = [[1, 0, 0, 0], [0, 0.6, 0.8, 0]];
  const sub: GmmSpec = { ...iso, subspace: { basis, eta: iso.stds[0]! } };
  const x = tf.tensor([[0.3, -0.2, 0.5, 1.1], [2, 0, -1, 0.4]]);
  const t = tf.tensor([[0.4], [0.8]]);
  const a = gmmDenoise(tf, iso, { kind: 'rf' }, x, t).dataSync();
  const b = gmmDenoise(tf, sub, { kind: 'rf' }, x, t).dataSync();
  for (let i = 0; i < a.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) < 1e-5);
  assert.ok(Math.abs(gmmLogDensity(iso, [0.3, -0.2, 0.5, 1.1]) - gmmLogDensity(sub, [0.3, -0.2, 0.5, 1.1])) < 1e-9);
});

test('mode statistics in high d: the mixture’s own samples are on-mode and every mode is covered (F1 d 64, F2 d 128)', () => {
  for (const g of [toy.gaussians({ dim: 64 }).spec, toy.embeddedRing({ dim: 128 }).spec]) {
    const d = g.means[0]!.length;
    const s = modeStats(g, sampleGmm(g, 4000, new Rng(['modes-high-d', d])), d);
    assert.equal(s.modesCovered, s.modesTotal);
    assert.ok(s.offModeFraction < 0.01, `off-mode ${s.offModeFraction} at d ${d}`);
  }
});

test('pairing ops: identity coupling → 0, a fixed shuffle of an independent draw → ≈ 1; transport energy with the OT coupling ≤ paired', () => {
  const n = 512;
  const d = 4;
  const rng = new Rng(['pairing-ops']);
  const z = rng.normals(n * d);
  const w = rng.normals(n * d);
  const g = new GraphBuilder('t', { B: n });
  const a = g.noise([n, d]);
  const b = g.noise([n, d]);
  const ops = { same: g.pairingError(a, a), indep: g.pairingError(a, b), gauss: g.pairingError(a, b, { baseline: 'gaussian' }), paired: g.transportEnergy(a, b), ot: g.transportEnergy(a, b, { coupling: 'ot', rows: 128 }) };
  const ir = g.toIR({ steps: 1, evalEvery: 0 });
  const feeds = { [a.id]: tf.tensor(z, [n, d]), [b.id]: tf.tensor(w, [n, d]) };
  const v = Object.fromEntries(Object.entries(ops).map(([k, p]) => [k, evalNodes(be, ir, feeds, p.id).dataSync()[0]!]));
  assert.equal(v.same, 0);
  assert.ok(Math.abs(v.indep! - 1) < 0.1, `independent ${v.indep}`);
  assert.ok(Math.abs(v.gauss! - 1) < 0.1, `gaussian baseline ${v.gauss}`);
  assert.ok(v.ot! < v.paired!, `OT ${v.ot} < paired ${v.paired}`);
});

test('copying metrics split by plane: in-plane copy with independent off-plane noise; a reflection inside each mode', async () => {
  const { copyingMetrics } = await import('../../ops/metrics/copying.ts');
  const d = 16;
  const g = toy.embeddedRing({ dim: d, seed: 2 }).spec;
  const n = 2048;
  const teacher = sampleGmm(g, n, new Rng(['split-teacher']));
  const P = (v: number[]) => g.subspace!.basis.reduce((acc, u) => { const c = u.reduce((s, uj, j) => s + uj * v[j]!, 0); return acc.map((a, j) => a + c * u[j]!); }, new Array(d).fill(0));
  // the student keeps the teacher's in-plane point and draws its own off-plane noise (η)
  const noise = new Rng(['split-noise']);
  const student = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    const t = Array.from(teacher.subarray(i * d, (i + 1) * d));
    const e = Array.from(noise.normals(d), (v) => 0.05 * v);
    const pe = P(e);
    const pt = P(t);
    for (let j = 0; j < d; j++) student[i * d + j] = pt[j]! + e[j]! - pe[j]!;
  }
  const z = new Rng(['split-z']).normals(n * d);
  const m = copyingMetrics({ z, student, teacher, d, gmm: g, sigmaData: 0.5 });
  assert.ok(m.planes, 'a subspace mixture gets the split');
  assert.ok(m.planes.inPlane.dCopy < 1e-6, `in-plane dCopy ${m.planes.inPlane.dCopy}`);
  assert.ok(Math.abs(m.planes.offPlane.dCopy - 1) < 0.1, `off-plane dCopy ${m.planes.offPlane.dCopy}`);
  assert.ok(m.planes.inPlane.withinModeCorrelation! > 0.999);
  assert.ok(Math.abs(m.planes.offPlane.withinModeCorrelation!) < 0.05);
  assert.equal(m.modeAgreement, 1);
  // the whole-space dCopy mixes both: here the off-plane share 14·η² of the far error sets it
  assert.ok(m.dCopy > 0.01 && m.dCopy < m.planes.offPlane.dCopy);

  // the student reflects every point through its component's mean: same mode, position anti-correlated
  const comps = [...Array(n).keys()].map((i) => component(g, teacher.subarray(i * d, (i + 1) * d)));
  const mirror = teacher.map((v, k) => 2 * g.means[comps[Math.floor(k / d)]!]![k % d]! - v);
  const r = copyingMetrics({ z, student: mirror, teacher, d, gmm: g, sigmaData: 0.5 });
  assert.ok(r.modeAgreement! > 0.99);
  assert.ok(r.withinModeCorrelation! < -0.99, `within-mode correlation ${r.withinModeCorrelation}`);

  // the student turns the ring by 45° (in the plane): every sample lands in the next mode, a consistent remap
  const [u, v] = g.subspace!.basis;
  const c = Math.SQRT1_2;
  const turned = new Float32Array(n * d);
  for (let i = 0; i < n; i++) {
    const x = Array.from(teacher.subarray(i * d, (i + 1) * d));
    const a = x.reduce((s, xj, j) => s + xj * u![j]!, 0);
    const b = x.reduce((s, xj, j) => s + xj * v![j]!, 0);
    const [a2, b2] = [c * a - c * b, c * a + c * b];
    for (let j = 0; j < d; j++) turned[i * d + j] = x[j]! + (a2 - a) * u![j]! + (b2 - b) * v![j]!;
  }
  const t = copyingMetrics({ z, student: turned, teacher, d, gmm: g, sigmaData: 0.5 });
  assert.ok(t.modeAgreement! < 0.05, `mode agreement ${t.modeAgreement}`);
  assert.ok(t.modeAgreementRelabelled! > 0.95, `after relabelling ${t.modeAgreementRelabelled}`);
  assert.equal(t.withinModeCorrelation, null, 'too few rows agree for a within-mode correlation');
  // an independent pairing: both at chance level
  const perm = [...Array(n).keys()].map((i) => (i * 7 + 3) % n);
  const shuffled = new Float32Array(n * d);
  perm.forEach((p, i) => shuffled.set(teacher.subarray(p * d, (p + 1) * d), i * d));
  const sh = copyingMetrics({ z, student: shuffled, teacher, d, gmm: g, sigmaData: 0.5 });
  assert.ok(sh.modeAgreementRelabelled! < 0.3, `independent: ${sh.modeAgreementRelabelled}`);
});

test('F1 at a fixed separation: nearest means Δ component stds apart and per-coordinate variance 0.25 at every d', () => {
  for (const dim of [1, 2, 3, 4, 16, 128]) {
    const g = toy.separatedGaussians({ dim, separation: 6 }).spec;
    const s = g.stds[0]!;
    let nearest = Infinity;
    for (let a = 0; a < 8; a++) for (let b = a + 1; b < 8; b++) nearest = Math.min(nearest, Math.hypot(...g.means[a]!.map((v, j) => v - g.means[b]![j]!)));
    assert.ok(Math.abs(nearest / s - 6) < 1e-9, `d ${dim}: nearest means ${nearest / s} stds apart`);
    const { cov } = gmmMoments(g);
    const trace = [...Array(dim).keys()].reduce((a, i) => a + cov[i * dim + i]!, 0);
    assert.ok(Math.abs(trace / dim - 0.25) < 1e-9, `d ${dim}: variance per coordinate ${trace / dim}`);
    // every sample's nearest component is its own one almost always: the Bayes error of 6σ apart is Φ(−3) per neighbour
    const x = sampleGmm(g, 4000, new Rng(['sep', dim]));
    const comps = [...Array(4000).keys()].map((i) => component(g, x.subarray(i * dim, (i + 1) * dim)));
    const counts = new Array(8).fill(0);
    for (const c of comps) counts[c]++;
    assert.ok(counts.every((c) => Math.abs(c / 4000 - 1 / 8) < 0.03), `d ${dim}: mode masses ${counts}`);
  }
});
