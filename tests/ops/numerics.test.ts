import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadBackend } from '../../gpu/backend.ts';
import { gmmDenoiserBody as gmmDenoiser } from '../../gpu/models/gmm.ts';
import { toy } from '../../dsl/models.ts';
import { sampleGmm } from '../../ops/datasets.ts';
import { Rng } from '../../ops/rng.ts';
import { pipeline, buildIR } from '../../dsl/pipeline.ts';
import { dmdGradient, dmdLoss } from '../../dsl/objectives/dmd.ts';
import { evalNodes, maxAbsDiff } from '../helpers.ts';
import { energyDistance } from '../../ops/metrics/energy.ts';
import { encodeSafetensors, decodeSafetensors } from '../../runtime/safetensors.ts';
import { pfOde } from '../../gpu/lower/network.ts';
import type { LowerCtx, Tensor } from '../../gpu/lower/index.ts';

const be = await loadBackend('cpu');
const tf = be.tf;
const ring = toy.ring();

test('GMM denoiser equals a Monte-Carlo estimate of E[x0 | x_t] under each schedule', () => {
  const n = 200_000;
  const x0 = sampleGmm(ring.spec, n, new Rng([11]));
  for (const [kind, t] of [['rf', 0.5], ['vp', 0.6], ['ve', 0.4]] as const) {
    const schedule = kind === 've' ? { kind, sigmaMin: 0.002, sigmaMax: 80, rho: 7 } : { kind };
    const xt = [1.1, -0.4];
    const got = tf.tidy(() => gmmDenoiser.apply(tf, {}, [tf.tensor([xt]), tf.tensor([[t]])], { dataset: ring.name, schedule, conditional: false }, { dataset: () => ring.spec }).dataSync());
    // self-normalised importance weights p(x_t | x0)
    const { alpha, sigma } = (() => {
      if (kind === 'rf') return { alpha: 1 - t, sigma: t };
      if (kind === 'vp') return { alpha: Math.cos((Math.PI / 2) * t), sigma: Math.sin((Math.PI / 2) * t) };
      const a = 0.002 ** (1 / 7), b = 80 ** (1 / 7);
      return { alpha: 1, sigma: (a + t * (b - a)) ** 7 };
    })();
    let wsum = 0, m0 = 0, m1 = 0;
    const logw = new Float64Array(n);
    let mx = -Infinity;
    for (let i = 0; i < n; i++) {
      const r2 = (xt[0]! - alpha * x0[2 * i]!) ** 2 + (xt[1]! - alpha * x0[2 * i + 1]!) ** 2;
      logw[i] = -r2 / (2 * sigma * sigma);
      mx = Math.max(mx, logw[i]!);
    }
    for (let i = 0; i < n; i++) {
      const w = Math.exp(logw[i]! - mx);
      wsum += w; m0 += w * x0[2 * i]!; m1 += w * x0[2 * i + 1]!;
    }
    const mc = [m0 / wsum, m1 / wsum];
    assert.ok(maxAbsDiff(got, mc) < 0.03, `${kind}: closed form ${Array.from(got)} vs MC ${mc}`);
  }
});

for (const floor of [0, 0.8])
  test(`DMD generator gradient: d loss / dx = (p_fake − p_real)·w / (B·D), w = 1 / max(mean_d |x − x0_real|, ${floor})`, () => {
  const B = 4, D = 3;
  const def = pipeline('g', { batch: B, steps: 1, evalEvery: 0 }, (g) => {
    const x = g.noise([g.B, D]);
    const real = g.noise([g.B, D]);
    const fake = g.noise([g.B, D]);
    const grad = g.noGrad(() => dmdGradient({ x, real, fake, floor }));
    g.output('loss', dmdLoss(x, grad));
  });
  const ir = buildIR(def);
  const [xId, rId, fId] = [ir.nodes[0]!.id, ir.nodes[1]!.id, ir.nodes[2]!.id];
  const x = new Rng([1]).normals(B * D), real = new Rng([2]).normals(B * D), fake = new Rng([3]).normals(B * D);
  const feeds = { [rId]: tf.tensor(real, [B, D]), [fId]: tf.tensor(fake, [B, D]) };
  const g = tf.grad((xt: Tensor) => evalNodes(be, ir, { ...feeds, [xId]: xt }, ir.outputs.loss!))(tf.tensor(x, [B, D])).dataSync();
  const want = new Float64Array(B * D);
  for (let b = 0; b < B; b++) {
    let m = 0;
    for (let d = 0; d < D; d++) m += Math.abs(x[b * D + d]! - real[b * D + d]!) / D;
    m = Math.max(m, floor);
    for (let d = 0; d < D; d++) want[b * D + d] = (fake[b * D + d]! - real[b * D + d]!) / m / (B * D);
  }
  assert.ok(maxAbsDiff(g, want) < 1e-6, `${Array.from(g)} vs ${Array.from(want)}`);
});

test('energy distance: zero in expectation for equal laws, positive for shifted ones', () => {
  const a = new Rng([1]).normals(2000), b = new Rng([2]).normals(2000);
  const shifted = b.map((v) => v + 1);
  assert.ok(Math.abs(energyDistance(a, b, 2)) < 0.01);
  // closed form in 1-D for N(0,1) vs N(1,1): 2E|X−Y| − 2E|X−X'| with X−Y ~ N(−1, 2), X−X' ~ N(0, 2)
  const e = energyDistance(new Rng([3]).normals(8000), new Rng([4]).normals(8000).map((v) => v + 1), 1);
  const s = Math.sqrt(2), mu = 1;
  const eAbs = s * Math.sqrt(2 / Math.PI) * Math.exp(-(mu * mu) / (2 * s * s)) + mu * (1 - 2 * normCdf(-mu / s));
  assert.ok(Math.abs(e - (2 * eAbs - 2 * s * Math.sqrt(2 / Math.PI))) < 0.03, `ED ${e}`);
  assert.ok(energyDistance(a, shifted, 2) > 0.3);
});
function normCdf(z: number) { return 0.5 * (1 + erf(z / Math.SQRT2)); }
function erf(x: number) { const t = 1 / (1 + 0.3275911 * Math.abs(x)); const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-x * x); return x >= 0 ? y : -y; }

test('probability-flow ODE: Heun converges faster than Euler to the 256-step solution', () => {
  const ctx = { tf, dims: {}, rng: () => new Rng([0]), dataset: () => ring.spec, detach: (t: Tensor) => be.detach(t),
    model: () => (ins: Tensor[]) => gmmDenoiser.apply(tf, {}, ins, { dataset: ring.name, schedule: { kind: 'rf' }, conditional: false }, { dataset: () => ring.spec }) } as LowerCtx;
  const z = tf.tensor(new Rng([5]).normals(64), [32, 2]);
  const run = (solver: 'euler' | 'heun', steps: number) => pfOde(ctx, z, { model: 't', schedule: { kind: 'rf' }, solver, steps, tMax: 1, tMin: 0 }).dataSync();
  const ref = run('heun', 256);
  const err = (s: 'euler' | 'heun', n: number) => maxAbsDiff(run(s, n), ref);
  assert.ok(err('heun', 64) < 5e-3, `heun 64 error ${err('heun', 64)}`);
  assert.ok(err('heun', 16) < err('euler', 16));
  assert.ok(err('euler', 32) < err('euler', 8));
});

test('safetensors: the layout PyTorch reads (u64 header length, JSON, F32 data) round-trips', () => {
  const t = { 'l0.weight': { shape: [2, 2], data: Float32Array.from([1, 2, 3, 4]) }, 'l0.bias': { shape: [2], data: Float32Array.from([-1, 0.5]) } };
  const buf = encodeSafetensors(t, { role: 'x' });
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString());
  assert.deepEqual(header['l0.bias'], { dtype: 'F32', shape: [2], data_offsets: [0, 8] });
  assert.equal((8 + n) % 8, 0);
  const back = decodeSafetensors(buf);
  assert.deepEqual(Array.from(back.tensors['l0.weight']!.data), [1, 2, 3, 4]);
  assert.equal(back.metadata.role, 'x');
  assert.throws(() => decodeSafetensors(buf.subarray(0, buf.length - 3)), /does not fit/);
});

test("denoisingLoss weighting 'snr': mean((1 + ((1 − t)/t)²)·(D(x_t) − x0)²) under rectified flow, by hand", async () => {
  const { GraphBuilder } = await import('../../dsl/builder.ts');
  const { mlp } = await import('../../dsl/models.ts');
  const { denoisingLoss } = await import('../../dsl/objectives/dmd.ts');
  const g = new GraphBuilder('w', { B: 6 });
  const model = g.frozen('m', mlp({ in: 2, out: 2, time: true }));
  const x0 = g.noise([g.B, 2]);
  const plain = denoisingLoss(g, model, x0, { schedule: 'rf' });
  const weighted = denoisingLoss(g, model, x0, { schedule: 'rf', weighting: 'snr' });
  const ir = g.toIR({ steps: 1, evalEvery: 0 });
  // the model: D(x_t, t) = x_t / 2, so every term is known by hand from the drawn t and ε
  const models = { m: (ins: Tensor[]) => tf.mul(ins[0]!, 0.5) };
  const x0v = new Rng([3]).normals(12);
  const feeds = () => ({ [x0.id]: tf.tensor(x0v, [6, 2]) });
  const read = (id: string) => tf.tidy(() => evalNodes(be, ir, feeds(), id, models).dataSync());
  // each loss draws its own t (a uniform) and ε (a randn), in declaration order after x0
  const ts = ir.nodes.filter((n) => n.op === 'uniform');
  const es = ir.nodes.filter((n) => n.op === 'randn' && n.id !== x0.id);
  for (const [k, loss, w] of [[0, plain, false], [1, weighted, true]] as const) {
    const t = read(ts[k]!.id);
    const eps = read(es[k]!.id);
    let want = 0;
    for (let i = 0; i < 6; i++)
      for (let j = 0; j < 2; j++) {
        const xt = (1 - t[i]!) * x0v[i * 2 + j]! + t[i]! * eps[i * 2 + j]!;
        want += (w ? 1 + ((1 - t[i]!) / t[i]!) ** 2 : 1) * (xt / 2 - x0v[i * 2 + j]!) ** 2;
      }
    want /= 12;
    const got = read(loss.id)[0]!;
    assert.ok(Math.abs(got - want) <= 1e-5 * Math.abs(want), `${w ? 'snr' : 'none'}: ${got} vs ${want}`);
  }
});

test('mode stats: the emptiest mode’s mass ratio is measured on the on-mode samples, so off-mode mass does not hide it', async () => {
  const { modeStats } = await import('../../ops/metrics/modes.ts');
  const g = { kind: 'gmm' as const, means: [[-2, 0], [2, 0]], stds: [0.2, 0.2], weights: [1, 1] };
  // 30 samples on mode 0, 10 on mode 1, 10 far from both
  const pts = [...Array(30).fill([-2, 0.1]), ...Array(10).fill([2, -0.1]), ...Array(10).fill([0, 5])].flat();
  const s = modeStats(g, Float32Array.from(pts), 2);
  assert.equal(s.offModeFraction, 0.2);
  assert.equal(s.minModeMassRatio, 0.5); // (10 / 40) / (1 / 2)
  assert.equal(s.maxModeMassRatio, 1.5); // (30 / 40) / (1 / 2)
  assert.deepEqual(s.counts, [30, 10]);
  assert.deepEqual(s.modeShares, [0.75, 0.25]);
  assert.deepEqual(s.modeWeights, [0.5, 0.5]);
  const none = modeStats(g, Float32Array.from(Array(10).fill([0, 5]).flat()), 2);
  assert.equal(none.minModeMassRatio, 0);
  assert.equal(none.modesCovered, 0);
  assert.equal(none.modesWithinFactor2, 0);
});

test('mode coverage: a mode is covered when it holds at least half its weight’s share of the on-mode samples', async () => {
  const { modeStats } = await import('../../ops/metrics/modes.ts');
  const g = { kind: 'gmm' as const, means: [[-3, 0], [0, 0], [3, 0]], stds: [0.2, 0.2, 0.2], weights: [1, 1, 1] };
  const at = (counts: number[], off: number) => Float32Array.from([...counts.flatMap((c, k) => Array(c).fill([3 * (k - 1), 0.1])), ...Array(off).fill([0, 5])].flat());
  // 30/10/10 on the modes, 50 off: on-mode shares 0.6/0.2/0.2 against 1/3 each, ratios 1.8/0.6/0.6: all covered, all
  // within a factor 2, however much lies off-mode
  const a = modeStats(g, at([30, 10, 10], 50), 2);
  assert.deepEqual([a.modesCovered, a.modesWithinFactor2, a.offModeFraction], [3, 3, 0.5]);
  assert.ok(Math.abs(a.minModeMassRatio - 0.6) < 1e-12 && Math.abs(a.maxModeMassRatio - 1.8) < 1e-12);
  // the same on-mode samples beside 80 off-mode ones: still 3 (the old rule, ≥ ¼ of a mode's share of all samples, read 1)
  assert.equal(modeStats(g, at([12, 4, 4], 80), 2).modesCovered, 3);
  // 40/8/2, nothing off-mode: ratios 2.4/0.48/0.12, so only mode 0 is covered (the old rule counted mode 1 too, with
  // 8 ≥ ¼·50/3) and none is within a factor 2
  const c = modeStats(g, at([40, 8, 2], 0), 2);
  assert.deepEqual([c.modesCovered, c.modesWithinFactor2, c.offModeFraction], [1, 0, 0]);
  assert.ok(Math.abs(c.minModeMassRatio - 0.12) < 1e-12 && Math.abs(c.maxModeMassRatio - 2.4) < 1e-12);
  // exactly half and exactly twice its share are inside the rule: 2 modes of weights 1 and 2 (shares 1/3, 2/3),
  // samples 1/6 and 5/6 on-mode: ratios 0.5 and 1.25
  const h = modeStats({ ...g, means: g.means.slice(0, 2), stds: [0.2, 0.2], weights: [1, 2] }, at([10, 50], 0), 2);
  assert.deepEqual([h.modesCovered, h.modesWithinFactor2, h.minModeMassRatio], [2, 2, 0.5]);
});

test("a model's named output: the MLP's 'features' are its last hidden activations; an unknown output is one issue", async () => {
  const { TFJS_MODELS } = await import('../../gpu/models/index.ts');
  const { mlp: mlpDef } = await import('../../ops/models/mlp.ts');
  const { GraphBuilder } = await import('../../dsl/builder.ts');
  const { mlp } = await import('../../dsl/models.ts');
  const { GraphError } = await import('../../dsl/errors.ts');
  const cfg = mlpDef.config.parse({ in: 3, out: 2, hidden: 5, layers: 2 });
  const w = mlpDef.init(cfg, new Rng([7]));
  const weights = Object.fromEntries(Object.entries(w).map(([k, t]) => [k, tf.tensor(t.data, t.shape)]));
  const x = tf.tensor(new Rng([8]).normals(12), [4, 3]);
  const env = { dataset: () => { throw new Error(); } };
  const got = TFJS_MODELS.mlp.apply(tf, weights, [x], cfg, { ...env, output: 'features' }).dataSync();
  const silu = (a: Tensor) => tf.mul(a, tf.sigmoid(a));
  const h1 = silu(tf.add(tf.matMul(x, weights['l0.weight']!), weights['l0.bias']!));
  const want = silu(tf.add(tf.matMul(h1, weights['l1.weight']!), weights['l1.bias']!)).dataSync();
  assert.ok(maxAbsDiff(got, want) < 1e-6);
  // and the main output is one more layer on top of them
  const main = TFJS_MODELS.mlp.apply(tf, weights, [x], cfg, env).dataSync();
  assert.ok(maxAbsDiff(main, tf.add(tf.matMul(tf.tensor(want, [4, 5]), weights['l2.weight']!), weights['l2.bias']!).dataSync()) < 1e-5);

  const g = new GraphBuilder('o', { B: 4 });
  const net = g.trainable('net', mlp({ in: 3, out: 2, hidden: 5 }));
  const z = g.noise([g.B, 3]);
  assert.deepEqual(net.output('features')(z).type.shape, ['B', 5]);
  net.output('logits')(z);
  assert.equal(g.issues.length, 1);
  assert.match(new GraphError(g.issues).message, /model 'net' \(mlp\) has no output 'logits'; its outputs: the main one, 'features'/);
});

test("the MLP's Fourier features along directions: sin(k·u_d·x), cos(k·u_d·x) for u_d = (cos πd/n, sin πd/n), and closed under a rotation by π/n", async () => {
  const { TFJS_MODELS } = await import('../../gpu/models/index.ts');
  const { mlp: mlpDef, mlpWidths } = await import('../../ops/models/mlp.ts');
  const n = 4, K = 3;
  const cfg = mlpDef.config.parse({ in: 2, out: 1, hidden: 6, layers: 1, fourier: K, fourierDirections: n });
  assert.equal(mlpWidths(cfg)[0], 2 + 2 * K * n);
  const w = mlpDef.init(cfg, new Rng([5]));
  const weights = Object.fromEntries(Object.entries(w).map(([k, t]) => [k, tf.tensor(t.data, t.shape)]));
  const env = { dataset: () => { throw new Error(); }, output: 'features' };
  // the model's input row, by hand: [x, then per direction d: sin(k·u_d·x) for k = 1..K, then cos(k·u_d·x)]
  const features = (x: number[]) => [
    ...x,
    ...Array.from({ length: n }, (_, d) => {
      const p = x[0]! * Math.cos((Math.PI * d) / n) + x[1]! * Math.sin((Math.PI * d) / n);
      const k = Array.from({ length: K }, (_, i) => (i + 1) * p);
      return [...k.map(Math.sin), ...k.map(Math.cos)];
    }).flat(),
  ];
  const xs = [[0.3, -1.2], [2.1, 0.7], [-0.5, -0.4]];
  const got = tf.tidy(() => TFJS_MODELS.mlp.apply(tf, weights, [tf.tensor(xs)], cfg, env).dataSync());
  const silu = (a: Tensor) => tf.mul(a, tf.sigmoid(a));
  const want = tf.tidy(() => silu(tf.add(tf.matMul(tf.tensor(xs.map(features)), weights['l0.weight']!), weights['l0.bias']!)).dataSync());
  assert.ok(maxAbsDiff(got, want) < 1e-5, `directional features: ${maxAbsDiff(got, want)}`);
  // rotating x by π/n shifts the directions by one: the Fourier part of the features is a signed permutation of x's
  const r = (x: number[]) => [x[0]! * Math.cos(Math.PI / n) - x[1]! * Math.sin(Math.PI / n), x[0]! * Math.sin(Math.PI / n) + x[1]! * Math.cos(Math.PI / n)];
  for (const x of xs) {
    const a = features(x).slice(2).map(Math.abs).sort((p, q) => p - q);
    const b = features(r(x)).slice(2).map(Math.abs).sort((p, q) => p - q);
    assert.ok(maxAbsDiff(a, b) < 1e-12);
  }
  // per-coordinate features are not closed under that rotation (what the directions are for)
  const coord = (x: number[]) => x.flatMap((v) => [1, 2, 3].map((k) => Math.abs(Math.sin(k * v)))).sort((p, q) => p - q);
  assert.ok(maxAbsDiff(coord(xs[0]!), coord(r(xs[0]!))) > 0.1);
  assert.throws(() => mlpDef.outType(mlpDef.config.parse({ in: 3, out: 1, fourier: 2, fourierDirections: 4 }), [{ dtype: 'f32', shape: [4, 3] }], { dataset: () => undefined }), /fourierDirections needs a 2-D input/);
  assert.throws(() => mlpDef.outType(mlpDef.config.parse({ in: 2, out: 1, fourierDirections: 4 }), [{ dtype: 'f32', shape: [4, 2] }], { dataset: () => undefined }), /but fourier is 0/);
});
