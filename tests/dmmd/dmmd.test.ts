/** D-MMD and masked diffusion: the posterior against Bayes by enumeration, the sampler on the two-coin set, the
 * losses and their gradients against hand-computed values, where gradients may flow, the split-half GM estimator,
 * and the reduction of D-MMD's general form to continuous MMD for squared error. */
import { test } from 'node:test';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runIR } from '../../runtime/run.ts';
import { posteriorCoefficients } from '../../ops/ancestral.ts';
import { scheduleAt } from '../../ops/schedules.ts';
import assert from 'node:assert/strict';
import { loadBackend } from '../../gpu/backend.ts';
import { GraphBuilder } from '../../dsl/builder.ts';
import { buildIR } from '../../dsl/pipeline.ts';
import { gradientReach } from '../../dsl/ir/verify.ts';
import { compile } from '../../dsl/compile/index.ts';
import { evalNodes, maxAbsDiff } from '../helpers.ts';
import { Rng } from '../../ops/rng.ts';
import { posterior, alphaMasked, nucleusMask } from '../../ops/discrete.ts';
import { maskedSample } from '../../gpu/lower/samplers.ts';
import { markovLanguage, oracleMarginals, twoCoins, encode, sampleTokens } from '../../ops/tokens.ts';
import { discreteMetrics, splitHalfGm } from '../../ops/metrics/discrete.ts';
import { dmmd, dmmdAuxLoss, dmmdDiagnostics, dmmdGeneratorLoss, generatorSignal, mmdLosses, squaredErrorDmmd, teacherLogits, teacherTarget } from '../../dsl/objectives/dmmd.ts';
import { pipeline } from '../../dsl/pipeline.ts';
import { adam } from '../../dsl/builder.ts';
import { toy, tokenMlp } from '../../dsl/models.ts';
import { Executor } from '../../runtime/executor.ts';
import { initialWeights } from '../../runtime/init.ts';
import { tokenOracleBody as tokenOracle } from '../../gpu/models/token.ts';
import { PIPELINES } from '../../pipelines/index.ts';
import type { LowerCtx, Tensor } from '../../gpu/lower/index.ts';
import type { Port } from '../../dsl/port.ts';
import type { Shape } from '../../dsl/types.ts';

const be = await loadBackend('cpu');
const tf = be.tf;
const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-5) => assert.ok(maxAbsDiff(a, b) < tol, `${Array.from(a)} vs ${Array.from(b)}`);

test('masked posterior q(z_s | z_t, x) equals Bayes by brute-force enumeration of the forward process (V 2, L 2)', () => {
  const V = 2;
  const M = V; // MASK id
  const t = 0.7;
  const s = 0.3;
  // forward kernel of one position from a clean token: stays w.p. α, MASK w.p. 1 − α; from MASK: MASK
  const fwd = (from: number, to: number, a: number) => (from === M ? Number(to === M) : to === from ? a : to === M ? 1 - a : 0);
  const states = [0, 1, M];
  for (const x of [[0, 1], [1, 1]])
    for (const zt of [[M, M], [x[0]!, M], [M, x[1]!], [x[0]!, x[1]!]]) {
      // Bayes: q(z_s | z_t, x) ∝ q(z_s | x) q(z_t | z_s), per position and jointly
      const joint = new Map<string, number>();
      let norm = 0;
      for (const a of states)
        for (const b of states) {
          const w = fwd(x[0]!, a, alphaMasked(s)) * fwd(x[1]!, b, alphaMasked(s)) * fwd(a, zt[0]!, alphaMasked(t) / alphaMasked(s)) * fwd(b, zt[1]!, alphaMasked(t) / alphaMasked(s));
          joint.set(`${a}${b}`, w);
          norm += w;
        }
      // the op's law, estimated from draws
      const n = 40000;
      const rng = new Rng(['posterior-test', ...x, ...zt]);
      const counts = new Map<string, number>();
      const out = new Int32Array(2);
      for (let i = 0; i < n; i++) {
        posterior(zt, x, [t], [s], 2, M, rng, out);
        counts.set(`${out[0]}${out[1]}`, (counts.get(`${out[0]}${out[1]}`) ?? 0) + 1);
      }
      for (const [k, w] of joint) {
        const p = w / norm;
        const got = (counts.get(k) ?? 0) / n;
        assert.ok(Math.abs(got - p) < 4 * Math.sqrt((p * (1 - p)) / n) + 1e-9, `x ${x} z_t ${zt} z_s ${k}: op ${got}, Bayes ${p}`);
      }
    }
});

/** the ancestral sampler with the exact oracle of a token set */
function oracleSample(ds: ReturnType<typeof twoCoins>, steps: number, n: number, seed = 1): Int32Array {
  const model = (ins: Tensor[]) => tf.tensor(oracleMarginals(ds, ins[0]!.dataSync(), ins[0]!.shape[0]!), [ins[0]!.shape[0]!, ds.length, ds.vocab]);
  const ctx = { tf, dims: {}, model: () => model } as unknown as LowerCtx;
  return tf.tidy(() => maskedSample(ctx, { model: 'teacher', steps, rows: n, length: ds.length, vocab: ds.vocab, noise: 0, temperature: 1 }, n, new Rng([seed, 'sampler-test'])));
}

test('two-coin set: the 1-step exact teacher is 50% invalid, the 2-step one 25%, many steps ≈ 0 — as theory says', () => {
  const ds = twoCoins();
  const n = 20000;
  for (const [steps, want] of [[1, 0.5], [2, 0.25], [64, 0.5 / 64]] as const) {
    const m = discreteMetrics(ds, oracleSample(ds, steps, n), n);
    // with k uniform steps both coins are revealed in the same step w.p. 1/k·… : exactly ½·P(same step) invalid
    const se = Math.sqrt((want * (1 - want)) / n);
    assert.ok(Math.abs(m.invalidRate - want) < 4 * se + 1e-3, `${steps} step(s): invalid ${m.invalidRate}, theory ${want}`);
  }
});

test('the exact oracle: revealed tokens carry over, masked ones get q(x_d | revealed), unmatched rows fall back to marginals', () => {
  const ds = markovLanguage();
  const L = ds.length;
  const V = ds.vocab;
  const z = new Int32Array(L).fill(V);
  const s = ds.support[3]!;
  z[0] = s[0]!;
  const p = oracleMarginals(ds, z, 1);
  // position 0 revealed → its one-hot; the closure makes position L−1 equal to position 0
  close(p.subarray(0, V), Array.from({ length: V }, (_, v) => Number(v === s[0])));
  close(p.subarray((L - 1) * V, L * V), Array.from({ length: V }, (_, v) => Number(v === s[0])));
  // position 1 by enumeration
  const want = new Array(V).fill(0);
  let tot = 0;
  ds.support.forEach((q, k) => q[0] === s[0] && ((want[q[1]!] += ds.probs[k]!), (tot += ds.probs[k]!)));
  close(p.subarray(V, 2 * V), want.map((w) => w / tot));
  const oracle = tf.tidy(() => Array.from(tokenOracle.apply(tf, {}, [tf.tensor(z, [1, L], 'int32'), tf.zeros([1, 1])], { dataset: 'm' }, { dataset: () => ds }).dataSync()));
  close(oracle, p);
});

/** build a graph on fed inputs and evaluate one port (and its gradient with respect to a fed input) */
function run(feeds: Record<string, { data: number[]; shape: number[] }>, body: (ins: Record<string, Port<'f32', Shape>>) => Port, wrt?: string): { value: number[]; grad?: number[] } {
  const g = new GraphBuilder('t', { B: 2 });
  const ins: Record<string, Port<'f32', Shape>> = {};
  const fed: Record<string, Tensor> = {};
  for (const [k, v] of Object.entries(feeds)) {
    ins[k] = g.noise(v.shape);
    fed[ins[k]!.id] = tf.tensor(v.data, v.shape);
  }
  const out = body(ins);
  const ir = g.toIR({ steps: 1, evalEvery: 0 });
  const value = Array.from(evalNodes(be, ir, fed, out.id).dataSync());
  if (!wrt) return { value };
  const grad = tf.grad((x: Tensor) => evalNodes(be, ir, { ...fed, [ins[wrt]!.id]: x }, out.id))(fed[ins[wrt]!.id]!);
  return { value, grad: Array.from(grad.dataSync()) };
}

test('D-MMD losses and the generator gradient against hand-computed values', () => {
  // B 2, L 1, V 2; row 0 masked in z_s, row 1 revealed (contributes nothing)
  const p = [0.3, 0.7, 0.6, 0.4];
  const teacher = [0.8, 0.2, 0.5, 0.5];
  const auxP = [0.4, 0.6, 0.1, 0.9];
  const masked = [1, 0];
  const feeds = { p: { data: p, shape: [2, 1, 2] }, t: { data: teacher, shape: [2, 1, 2] }, a: { data: auxP, shape: [2, 1, 2] }, m: { data: masked, shape: [2, 1, 1] } };
  const gen = run(feeds, (i) => dmmdGeneratorLoss({ p: i.p!, signal: generatorSignal({ teacher: i.t!, aux: i.a!, log: { kind: 'floor', floor: 1e-8 } }), masked: i.m! }), 'p');
  const want = (0.3 * (Math.log(0.4) - Math.log(0.8)) + 0.7 * (Math.log(0.6) - Math.log(0.2))) / 2;
  close(gen.value, [want]);
  // ∂L/∂p = (log x̂_φ − log x̂_θ)·masked / B: mass moves to tokens the teacher likes more than the auxiliary does
  close(gen.grad!, [(Math.log(0.4) - Math.log(0.8)) / 2, (Math.log(0.6) - Math.log(0.2)) / 2, 0, 0]);
  const aux = run(feeds, (i) => dmmdAuxLoss({ target: i.p!, teacher: i.t!, aux: i.a!, masked: i.m! }), 'a');
  close(aux.value, [-((0.3 + 0.8) * Math.log(0.4) + (0.7 + 0.2) * Math.log(0.6)) / 2]);
  close(aux.grad!, [-(0.3 + 0.8) / 0.4 / 2, -(0.7 + 0.2) / 0.6 / 2, 0, 0]);
});

test('gradients reach the student only through its soft output: never through the draw, z_s, teacher or auxiliary', () => {
  const ir = buildIR(PIPELINES.dmmd!, { batch: 8, prefitSteps: 0 });
  const reach = gradientReach(ir, 'student');
  const student = ir.updates.find((u) => u.role === 'student' && u.ratio > 0)!;
  // the draw and the posterior are not differentiable; their outputs carry no gradient to the student
  for (const n of ir.nodes.filter((x) => ['categorical', 'mask_posterior', 'mask_diffuse'].includes(x.op))) assert.ok(!reach.has(n.id), `${n.op} %${n.id} is not on the student's gradient path`);
  for (const n of ir.nodes.filter((x) => x.op === 'call' && ['teacher', 'aux'].includes(String(x.params.model)) && x.noGrad)) assert.ok(!reach.has(n.id), `call ${n.params.model} %${n.id}`);
  assert.ok(reach.has(student.loss));
  // and the compiled student update runs the draw outside the gradient (a stop-gradient on its input)
  const plan = compile(ir);
  const u = plan.updates.find((x) => x.role === 'student' && x.ratio > 0)!;
  const cat = ir.nodes.find((x) => x.op === 'categorical')!;
  assert.ok(cat.inputs[0]!.endsWith('_sg') || plan.ir.nodes.find((x) => x.id === cat.id)?.inputs[0]!.endsWith('_sg'), 'the draw reads a detached copy of p');
  assert.ok(u.tape.length > 0);
  // the auxiliary's update does not differentiate the student
  const auxReach = gradientReach(ir, 'aux');
  for (const n of ir.nodes.filter((x) => x.op === 'call' && x.params.model === 'student')) assert.ok(!auxReach.has(n.id));
});

test('the split-half GM estimator is unbiased on a known distribution (and the naive ‖ĝ − q‖² is not)', () => {
  // q: the two-coin law over codes 0..3 (00, 01, 10, 11); g puts 10% on each invalid pair
  const q = new Map([[0, 0.5], [3, 0.5]]);
  const g = [0.4, 0.1, 0.1, 0.4];
  const exact = (0.4 - 0.5) ** 2 * 2 + 0.1 ** 2 * 2; // 0.04
  const n = 100;
  const reps = 4000;
  const rng = new Rng(['gm-unbiased']);
  let split = 0;
  let naive = 0;
  const est: number[] = [];
  for (let r = 0; r < reps; r++) {
    const h1 = new Map<number, number>();
    const h2 = new Map<number, number>();
    for (let i = 0; i < n; i++) {
      const a = rng.categorical(g, 1);
      const b = rng.categorical(g, 1);
      h1.set(a, (h1.get(a) ?? 0) + 1);
      h2.set(b, (h2.get(b) ?? 0) + 1);
    }
    const e = splitHalfGm(h1, n, h2, n, q);
    est.push(e);
    split += e / reps;
    naive += splitHalfGm(h1, n, h1, n, q) / reps;
  }
  const sd = Math.sqrt(est.reduce((a, e) => a + (e - split) ** 2, 0) / (reps - 1));
  assert.ok(Math.abs(split - exact) < 4 * (sd / Math.sqrt(reps)), `split-half mean ${split} vs exact ${exact} (se ${sd / Math.sqrt(reps)})`);
  const bias = (1 - g.reduce((a, p) => a + p * p, 0)) / n;
  assert.ok(Math.abs(naive - (exact + bias)) < 0.1 * bias && naive - exact > 0.5 * bias, `naive ${naive} carries the +(1 − Σg²)/n = ${bias} bias`);
});

test('exact metrics on data samples: no invalid sequence, TV at its floor, GM ≈ 0, recall and entropy at the data values', () => {
  const ds = markovLanguage();
  const n = 20000;
  const x = sampleTokens(ds, n, new Rng(['metrics-data']));
  const m = discreteMetrics(ds, x, n, 7);
  assert.equal(m.invalidRate, 0);
  assert.ok(Math.abs(m.tv - m.tvFloor) < 0.02, `tv ${m.tv} vs floor ${m.tvFloor}`);
  assert.ok(Math.abs(m.gm) < 3e-4 && Math.abs(m.gmAR) < 3e-3 && Math.abs(m.gmBigram) < 3e-3, `GM ${m.gm} / AR ${m.gmAR} / bigram ${m.gmBigram}`);
  assert.ok(Math.abs(m.sampleEntropy - m.sampleEntropyData) < 0.02);
  assert.ok(Math.abs(m.entropy - m.entropyData) < 0.05, `H ${m.entropy} vs ${m.entropyData}`);
  assert.ok(m.supportRecall > 0.99);
  // a collapsed sampler: one sequence repeated — valid, but GM, recall and entropy expose it
  const one = new Int32Array(n * ds.length);
  for (let i = 0; i < n; i++) one.set(ds.support[0]!, i * ds.length);
  const c = discreteMetrics(ds, one, n);
  assert.equal(c.invalidRate, 0);
  assert.ok(c.gm > 0.5 && c.supportRecall < 0.1 && c.entropy < 0.01, JSON.stringify(c));
  assert.ok(encode([1, 2], 6) === 8);
});

test('D-MMD with the squared-error loss is continuous MMD: ∇ of the general form = 2·∇ L_MMD, and L_AUX matches', () => {
  const feeds = { x: { data: [0.5, -1, 2, 0.25], shape: [2, 2] }, t: { data: [0.1, 0.2, 1.5, -0.5], shape: [2, 2] }, a: { data: [-0.3, 0.4, 1, 0], shape: [2, 2] } };
  const general = run(feeds, (i) => squaredErrorDmmd({ xEta: i.x!, teacherAtZs: i.t!, auxAtZs: i.a! }), 'x');
  const mmd = run(feeds, (i) => mmdLosses({ xEta: i.x!, teacherAtZs: i.t!, auxAtZs: i.a!, auxAtZsGrad: i.a! }).gen, 'x');
  close(general.grad!, mmd.grad!.map((v) => 2 * v));
  // both equal 2(x̂_φ − x̂_θ)/B and (x̂_φ − x̂_θ)/B
  close(mmd.grad!, [-0.2, 0.1, -0.25, 0.25]);
  // the auxiliary loss: ‖sg(x_η) − x̂_φ‖² + ‖x̂_φ − x̂_θ‖², minimised at ½(x_η + x̂_θ)
  const aux = run(feeds, (i) => mmdLosses({ xEta: i.x!, teacherAtZs: i.t!, auxAtZs: i.a!, auxAtZsGrad: i.a! }).aux, 'a');
  const x = feeds.x.data;
  const t = feeds.t.data;
  const a = feeds.a.data;
  close(aux.grad!, a.map((v, k) => (2 * (v - x[k]!) + 2 * (v - t[k]!)) / 2));
});

test('the dmmd pipeline end to end: trains, evaluates exactly, reports the teacher at the same k; same seed, same metrics', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'distillery-dmmd-'));
  const ir = buildIR(PIPELINES.dmmd!, { batch: 32, steps: 6, evalEvery: 3, k: 2, teacher: 'learned', teacherSteps: 5 });
  const a = await runIR(ir, { seed: 3, backend: 'cpu', out: path.join(dir, 'a'), quiet: true, evalSamples: 256 });
  const b = await runIR(ir, { seed: 3, backend: 'cpu', out: path.join(dir, 'b'), quiet: true, evalSamples: 256 });
  const m = a.metrics as Record<string, unknown> & { teacherBySteps: Record<string, { invalidRate: number }> };
  for (const k of ['invalidRate', 'tv', 'gm', 'gmAR', 'supportRecall', 'sampleEntropy']) assert.equal(typeof m[k], 'number', k);
  assert.deepEqual(Object.keys(m.teacherBySteps), ['1', '2', '4', '8', '16', '32', '64', '256']);
  assert.deepEqual(a.metrics, b.metrics);
  assert.ok(fs.existsSync(path.join(dir, 'a', 'report.html')));
});

test('Gaussian posterior q(z_s | z_t, x): its coefficients equal the regression of z_s on z_t under the forward process (rf)', async () => {
  const sch = { kind: 'rf' } as const;
  const [t, s, x] = [0.8, 0.35, 1.3];
  const rng = new Rng(['gauss-posterior']);
  const n = 200000;
  const S = scheduleAt(sch, s);
  const T = scheduleAt(sch, t);
  const ats = T.alpha / S.alpha;
  const sts = Math.sqrt(T.sigma ** 2 - ats ** 2 * S.sigma ** 2);
  const e = rng.normals(2 * n);
  let mz = 0, ms = 0, czz = 0, czs = 0, css = 0;
  const zs = new Float64Array(n);
  const zt = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    zs[i] = S.alpha * x + S.sigma * e[i]!;
    zt[i] = ats * zs[i]! + sts * e[n + i]!;
    mz += zt[i]! / n;
    ms += zs[i]! / n;
  }
  for (let i = 0; i < n; i++) (czz += (zt[i]! - mz) ** 2 / n), (czs += (zt[i]! - mz) * (zs[i]! - ms) / n), (css += (zs[i]! - ms) ** 2 / n);
  const slope = czs / czz;
  const { a, b, c } = posteriorCoefficients(sch, t, s);
  assert.ok(Math.abs(slope - a) < 0.01, `slope ${slope} vs a ${a}`);
  assert.ok(Math.abs(ms - slope * mz - b * x) < 0.01, `intercept vs b·x`);
  assert.ok(Math.abs(Math.sqrt(css - slope * czs) - c) < 0.01, `residual sd vs c ${c}`);
});

test('mmd-ring (continuous MMD) compiles and trains a few steps; its ancestral sampler reports energy distance', async () => {
  for (const aux of ['prefit', 'residual']) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'distillery-mmd-'));
    const ir = buildIR(PIPELINES['mmd-ring']!, { batch: 32, steps: 4, evalEvery: 2, prefitSteps: 3, aux, ema: 0.9 });
    const sm = await runIR(ir, { seed: 1, backend: 'cpu', out: dir, quiet: true, evalSamples: 256 });
    assert.ok(Number.isFinite((sm.metrics as { energyDistance: number }).energyDistance), aux);
    assert.equal(sm.energyDistanceByStep.length, 2);
  }
});

test("mmd-ring's residual auxiliary is exactly the teacher before training: its MLP's last layer starts at 0", async () => {
  const ir = buildIR(PIPELINES['mmd-ring']!, { batch: 16, aux: 'residual', prefitSteps: 0 });
  const w = initialWeights(ir, 3, () => ({}));
  const aux = w.get('aux')!;
  const last = Object.entries(aux).filter(([k]) => k.startsWith('l3.'));
  assert.equal(last.length, 2);
  for (const [k, t] of last) assert.ok(Array.from(t.data).every((v) => v === 0), k);
  // the other layers keep the usual init, and the student's last layer is not scaled
  assert.ok(Array.from(aux['l2.weight']!.data).some((v) => v !== 0));
  assert.ok(Array.from(w.get('student')!['l3.weight']!.data).some((v) => v !== 0));
});

test('top-p distillation: the nucleus mask, and the teacher target lowered by Δ outside it, not set to −∞', async () => {
  close(nucleusMask([0.5, 0.3, 0.15, 0.05], 4, 0.85), [1, 1, 1, 0]);
  close(nucleusMask([0.1, 0.6, 0.3, 0.0], 4, 0.5), [0, 1, 0, 0]);
  const got = run({ p: { data: [0.5, 0.3, 0.15, 0.05, 0.25, 0.25, 0.25, 0.25], shape: [2, 1, 4] } }, (i) => teacherLogits(i.p!, 1, 1e-8, { p: 0.85, delta: 2 }));
  close(got.value, [Math.log(0.5), Math.log(0.3), Math.log(0.15), Math.log(0.05) - 2, ...Array(4).fill(Math.log(0.25))], 1e-5);
});

test('smoothed signal: log S(x̂_φ) − log S(x̂_θ) with S(p) = (1 − λ)p + λ/V, and its gradient, by hand (V 2, λ 0.3)', () => {
  const p = [0.3, 0.7, 0.6, 0.4];
  const teacher = [0.8, 0.2, 0.5, 0.5];
  const auxP = [0.4, 0.6, 0.1, 0.9];
  const feeds = { p: { data: p, shape: [2, 1, 2] }, t: { data: teacher, shape: [2, 1, 2] }, a: { data: auxP, shape: [2, 1, 2] }, m: { data: [1, 0], shape: [2, 1, 1] } };
  const S = (q: number) => 0.7 * q + 0.15;
  const sig = [Math.log(S(0.4) / S(0.8)), Math.log(S(0.6) / S(0.2))];
  const gen = run(feeds, (i) => dmmdGeneratorLoss({ p: i.p!, signal: generatorSignal({ teacher: i.t!, aux: i.a!, log: { kind: 'smooth', lambda: 0.3 } }), masked: i.m! }), 'p');
  close(gen.value, [(0.3 * sig[0]! + 0.7 * sig[1]!) / 2]);
  close(gen.grad!, [sig[0]! / 2, sig[1]! / 2, 0, 0]);
});

test('the dead zone: 0.2 of student mass on forbidden tokens gets exactly 0 gradient under the 0.05 floor, and a push down when smoothed', () => {
  // V 6, one position: the teacher allows tokens 0 and 1; the student puts 0.05 on each of the four others; the
  // auxiliary sits at its optimum ½(p + x̂_θ), so 0.025 on each forbidden token — under the floor
  const teacher = [0.75, 0.25, 0, 0, 0, 0];
  const p = [0.6, 0.2, 0.05, 0.05, 0.05, 0.05];
  const auxP = p.map((q, c) => (q + teacher[c]!) / 2);
  const feeds = { p: { data: [...p, ...p], shape: [2, 1, 6] }, t: { data: [...teacher, ...teacher], shape: [2, 1, 6] }, a: { data: [...auxP, ...auxP], shape: [2, 1, 6] }, m: { data: [1, 0], shape: [2, 1, 1] } };
  const grad = (log: { kind: 'smooth'; lambda: number } | { kind: 'floor'; floor: number }) =>
    run(feeds, (i) => dmmdGeneratorLoss({ p: i.p!, signal: generatorSignal({ teacher: i.t!, aux: i.a!, log }), masked: i.m! }), 'p').grad!.slice(0, 6);
  const floored = grad({ kind: 'floor', floor: 0.05 });
  for (const c of [2, 3, 4, 5]) assert.equal(floored[c], 0, `floor: token ${c} gets no signal`);
  const smooth = grad({ kind: 'smooth', lambda: 0.3 });
  // by hand: S(q) = 0.7q + 0.05 (λ/V = 0.05); forbidden: log(S(0.025)/0.05) = log 1.35; allowed: log(S(0.675)/S(0.75)), log(S(0.225)/S(0.25))
  const want = [Math.log((0.7 * 0.675 + 0.05) / (0.7 * 0.75 + 0.05)), Math.log((0.7 * 0.225 + 0.05) / (0.7 * 0.25 + 0.05)), ...Array(4).fill(Math.log(1.35))].map((v) => v / 2);
  close(smooth, want);
  // a descent step on p moves mass off the forbidden tokens: their gradient exceeds every allowed token's
  for (const c of [2, 3, 4, 5]) assert.ok(smooth[c]! > Math.max(smooth[0]!, smooth[1]!));
  // the diagnostics see the same: 0.2 forbidden, all of it dead under the floor, none when smoothed
  const diag = (log: { kind: 'smooth'; lambda: number } | { kind: 'floor'; floor: number }) =>
    ['forbiddenMass', 'deadMass'].map((k) =>
      run(feeds, (i) => dmmdDiagnostics({ p: i.p!, pTarget: i.t!, pAux: i.a!, signal: generatorSignal({ teacher: i.t!, aux: i.a!, log }), target: i.p!, masked: i.m! })[k as 'deadMass']).value[0]!,
    );
  close(diag({ kind: 'floor', floor: 0.05 }), [0.2, 0.2]);
  close(diag({ kind: 'smooth', lambda: 0.3 }), [0.2, 0]);
});

test('tempered / top-p teacher target: x̂_θ^{1/τ} with e^{−Δ} outside the nucleus, renormalised; zeros stay exactly 0', () => {
  const pT = [0.5, 0.3, 0.2, 0, 0.25, 0.25, 0.25, 0.25];
  const feeds = { p: { data: pT, shape: [2, 1, 4] } };
  const norm = (v: number[]) => v.map((x) => x / v.reduce((a, b) => a + b, 0));
  const tau = 0.7;
  const got = run(feeds, (i) => teacherTarget(i.p!, tau)).value;
  close(got, [...norm([0.5, 0.3, 0.2, 0].map((x) => x ** (1 / tau))), 0.25, 0.25, 0.25, 0.25]);
  assert.equal(got[3], 0, 'a forbidden token keeps exactly 0 at τ 0.7');
  // top-p 0.7 keeps tokens 0 and 1 of the first row (0.5 + 0.3 ≥ 0.7): token 2 scaled by e^{−2}, token 3 stays 0
  const both = run(feeds, (i) => teacherTarget(i.p!, tau, { p: 0.7, delta: 2 })).value;
  close(both.slice(0, 4), norm([0.5 ** (1 / tau), 0.3 ** (1 / tau), 0.2 ** (1 / tau) * Math.exp(-2), 0]));
  assert.equal(both[3], 0);
  // the old target, softmax((1/τ) log max(p, 0.05)), put mass on the impossible token
  const old = run(feeds, (i) => teacherLogits(i.p!, tau, 0.05).softmax()).value;
  assert.ok(old[3]! > 0.02, `old target's forbidden mass ${old[3]}`);
});

test('inside dmmd(): at τ 0.7 and top-p, the auxiliary regresses toward the exact tempered teacher, not softmax of floored logs', async () => {
  const data = toy.markov({ seed: 0 });
  const tau = 0.7;
  const pipe = pipeline('dmmd-target', { batch: 64, steps: 1, evalEvery: 0 }, (g) => {
    const net = { length: data.length, vocab: data.vocab, hidden: 16, layers: 1 };
    const teacher = g.frozen('teacher', data.oracle());
    // residual models start at the (smoothed) teacher: log x̂_φ is far lower on forbidden tokens, so the target's
    // mass there shows in the loss
    const student = g.trainable('student', tokenMlp({ ...net, residual: true, smoothing: 0.01 }));
    const aux = g.trainable('aux', tokenMlp({ ...net, residual: true, smoothing: 0.01 }));
    const d = dmmd(g, { x0: g.tokens(data), toy: data, student, teacher, aux, steps: 2, temperature: tau, topP: { p: 0.9, delta: 2 }, residual: true });
    g.minimize(aux, d.aux, { optimizer: adam(1e-3) });
    g.minimize(student, d.gen, { optimizer: adam(1e-3) });
    // the closed form built with other ops: exp(log(p)/τ) (0 for p = 0), e^{−Δ} outside the nucleus, renormalised
    const q = g.noGrad(() => {
      const powed = d.pTeacher.maximum(1e-30).log().div(tau).exp().mul(d.pTeacher.gt(0).cast('f32'));
      const scaled = powed.mul((g.op('nucleus', [d.pTeacher], { p: 0.9 }) as typeof d.p).sub(1).mul(2).exp());
      return scaled.div(scaled.sum([2], true));
    });
    g.output('auxLoss', d.aux);
    g.output('auxLossClosedForm', dmmdAuxLoss({ target: d.target, teacher: q as typeof d.p, aux: aux(d.zs, d.s, d.pTeacher) as typeof d.p, masked: d.masked }));
    g.output('targetMassOnForbidden', d.pTarget.mul(d.pTeacher.eq(0).cast('f32')).mul(d.masked).sum());
    g.output('teacherForbiddenCount', d.pTeacher.eq(0).cast('f32').mul(d.masked).sum());
    g.evaluate({ samples: g.maskedSample(student, data, { steps: 2, base: teacher }), target: data, teacher });
  });
  const ir = buildIR(pipe, {});
  const exe = new Executor(be, compile(ir), 5, initialWeights(ir, 5, () => ({})));
  const out = exe.update(exe.plan.updates.find((u) => u.role === 'aux')!).outputs;
  exe.dispose();
  assert.ok(out.teacherForbiddenCount! > 0, 'the batch has masked positions with forbidden tokens');
  assert.equal(out.targetMassOnForbidden, 0);
  assert.ok(Math.abs(out.auxLoss! - out.auxLossClosedForm!) < 1e-5 * Math.abs(out.auxLoss!), `${out.auxLoss} vs ${out.auxLossClosedForm}`);
});
