import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadBackend } from '../../gpu/backend.ts';
import { GraphBuilder } from '../../dsl/builder.ts';
import { buildIR } from '../../dsl/pipeline.ts';
import { compile } from '../../dsl/compile/index.ts';
import { Executor } from '../../runtime/executor.ts';
import { initialWeights } from '../../runtime/init.ts';
import { lastValueFrom, of } from 'rxjs';
import { trainStep } from '../../runtime/train.ts';
import { adaptiveCoefficients, amdGradient, clipAdvantage, groupAdvantage, normalisedAdvantage, rlsWeights, softClipReward } from '../../dsl/objectives/amd.ts';
import { FZ_SPURIOUS_STD, forbiddenZone, fzCorruption, fzHallucinated, fzRing } from '../../pipelines/forbidden-zone.ts';
import { gmmDenoise, gmmDenoiserBody as gmmDenoiser, gmmLogDensityBody as logDensityModel } from '../../gpu/models/gmm.ts';
import { gmmLogDensity as logDensityDef, gmmDenoiser as denoiserDef } from '../../ops/models/gmm.ts';
import { gmmLogDensity } from '../../ops/datasets.ts';
import { classSpec, auroc } from '../../bench/sweeps/fz-metrics.ts';
import { evalNodes, finiteDiff, maxAbsDiff } from '../helpers.ts';
import type { Port } from '../../dsl/port.ts';
import type { Shape } from '../../dsl/types.ts';

const be = await loadBackend('cpu');
const tf = be.tf;
const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-5) => assert.ok(maxAbsDiff(a, b) < tol, `${Array.from(a)} vs ${Array.from(b)}`);

/** build a graph on fed inputs and evaluate one port */
function run(feeds: Record<string, { data: number[]; shape: number[]; dtype?: 'int32' }>, body: (g: GraphBuilder, ins: Record<string, Port<any, Shape>>) => Port): number[] {
  const n = Object.values(feeds)[0]!.shape[0]!;
  const g = new GraphBuilder('t', { B: n });
  const ins: Record<string, Port<any, Shape>> = {};
  const fed: Record<string, ReturnType<typeof tf.tensor>> = {};
  for (const [k, v] of Object.entries(feeds)) {
    ins[k] = v.dtype === 'int32' ? g.labels(2) : g.noise(v.shape);
    fed[ins[k]!.id] = tf.tensor(v.data, v.shape, v.dtype ?? 'float32');
  }
  const out = body(g, ins);
  return Array.from(evalNodes(be, g.toIR({ steps: 1, evalEvery: 0 }), fed, out.id).dataSync());
}

test('group advantage: per-class mean and population std, clipped; hand-computed', () => {
  // class 0: rewards 1, 3 → mean 2, std 1 → ±1; class 1: 0, 0, 6 → mean 2, std √8 → −0.7071, −0.7071, 1.4142 → clip 1
  const got = run({ r: { data: [1, 0, 3, 0, 6], shape: [5, 1] }, c: { data: [0, 1, 0, 1, 1], shape: [5], dtype: 'int32' } }, (g, i) =>
    groupAdvantage(g, i.r!, { labels: i.c!, classes: 2, eps: 0, clip: 1 }),
  );
  close(got, [-1, -2 / Math.sqrt(8), 1, -2 / Math.sqrt(8), 1]);
  // whole-batch groups when no labels are given
  const whole = run({ r: { data: [0, 2], shape: [2, 1] } }, (g, i) => groupAdvantage(g, i.r!, { eps: 0, clip: 5 }));
  close(whole, [-1, 1]);
});

test('group advantage is finite (zero) when every reward in a group is equal', () => {
  const got = run({ r: { data: [4, 4, 4, -15], shape: [4, 1] }, c: { data: [0, 0, 0, 1], shape: [4], dtype: 'int32' } }, (g, i) =>
    groupAdvantage(g, i.r!, { labels: i.c!, classes: 2, eps: 1e-4, clip: 1 }),
  );
  assert.ok(got.every(Number.isFinite));
  close(got, [0, 0, 0, 0]);
});

test('adaptive coefficients: α = 1 + sã, β = 1 − sã; the hard rule switches at ã < −τ', () => {
  const adv = { a: { data: [-1, -0.2, 0, 0.6], shape: [4, 1] } };
  close(run(adv, (_g, i) => adaptiveCoefficients(i.a!, { s: 0.5 }).alpha), [0.5, 0.9, 1, 1.3]);
  close(run(adv, (_g, i) => adaptiveCoefficients(i.a!, { s: 0.5 }).beta), [1.5, 1.1, 1, 0.7]);
  close(run(adv, (_g, i) => adaptiveCoefficients(i.a!, { s: 0.5, tau: 0.5 }).alpha), [0.5, 1, 1, 1]);
  close(run(adv, (_g, i) => adaptiveCoefficients(i.a!, { s: 0.5, tau: 0.1 }).beta), [1.5, 1.5, 1, 1]);
});

test('adaptive coefficients, ablations: dsa alpha pins β to 1, dsa beta pins α to 1, off pins both', () => {
  const adv = { a: { data: [-1, 0.6], shape: [2, 1] } };
  close(run(adv, (_g, i) => adaptiveCoefficients(i.a!, { s: 0.5, dsa: 'alpha' }).alpha), [0.5, 1.3]);
  close(run(adv, (_g, i) => adaptiveCoefficients(i.a!, { s: 0.5, dsa: 'alpha' }).beta), [1, 1]);
  close(run(adv, (_g, i) => adaptiveCoefficients(i.a!, { s: 0.5, dsa: 'beta' }).alpha), [1, 1]);
  close(run(adv, (_g, i) => adaptiveCoefficients(i.a!, { s: 0.5, dsa: 'beta' }).beta), [1.5, 0.7]);
  close(run(adv, (_g, i) => adaptiveCoefficients(i.a!, { s: 0.5, dsa: 'off' }).alpha), [1, 1]);
  close(run(adv, (_g, i) => adaptiveCoefficients(i.a!, { s: 0.5, dsa: 'off' }).beta), [1, 1]);
});

test('soft reward T·asinh(r/T): closed form, odd, identity near 0; its gradient through log p(x|c) matches finite differences', () => {
  const r = [-350, -200, -15, -1, 0, 0.5, 20];
  close(run({ r: { data: r, shape: [r.length, 1] } }, (g, i) => softClipReward(g, i.r!, 15)), r.map((v) => 15 * Math.asinh(v / 15)), 1e-4);
  // the reward-gradient baseline differentiates r(x) = T·asinh(log p(x | c)/T) through the sample: class-0 points in the disc, between, on a mode
  const xs = Float32Array.from([0.1, 0.05, -0.6, 0.3, 2.0, 0.5, 3.9, 0.1]);
  const reward = (x: ReturnType<typeof tf.tensor>) => {
    const g = new GraphBuilder('t', { B: 4 });
    const xin = g.noise([4, 2]);
    const model = g.frozen('reward', fzRing.logDensity({ conditional: true }));
    const out = softClipReward(g, model(xin, g.nullLabel(4).mul(0)), 15).sum();
    const ir = g.toIR({ steps: 1, evalEvery: 0 });
    const env = { dataset: () => fzRing.spec };
    const cfg = logDensityDef.config.parse({ dataset: 'r', conditional: true });
    return evalNodes(be, ir, { [xin.id]: x }, out.id, { reward: (ins) => logDensityModel.apply(tf, {}, ins, cfg, env) });
  };
  const analytic = tf.grad((x) => reward(x) as never)(tf.tensor(xs, [4, 2])).dataSync();
  const numeric = finiteDiff(tf, reward, xs, [4, 2], 1e-3);
  for (let k = 0; k < xs.length; k++) assert.ok(Math.abs(analytic[k]! - numeric[k]!) < 2e-2 * Math.max(1, Math.abs(numeric[k]!)), `∂r/∂x[${k}]: ${analytic[k]} vs ${numeric[k]}`);
  // the slope does not vanish inside the disc (the clipped reward's is exactly 0 there)
  assert.ok(Math.hypot(analytic[0]!, analytic[1]!) > 1);
});

test('inside the corrupted disc: the clipped reward gives every sample the same ã and ρ; the soft one ranks deep below shallow', () => {
  // a class-0 group: 6 samples on the modes, 4 in the disc at radius 0.05, 0.3, 0.6, 0.95
  const pts = [[4, 0], [0, 4], [-4, 0], [0, -4], [3.9, 0.1], [0.1, 3.9], [0.05, 0], [0.3, 0], [0.6, 0], [0.95, 0]];
  const logp = pts.map((x) => gmmLogDensity(classSpec(fzRing.spec, 0), x));
  const zone = [6, 7, 8, 9];
  const weigh = (reward: (g: GraphBuilder, r: Port<'f32', Shape>) => Port<'f32', Shape>, lower: number) => {
    const adv = run({ r: { data: logp, shape: [pts.length, 1] } }, (g, i) => clipAdvantage(normalisedAdvantage(g, reward(g, i.r!) as never, { eps: 1e-4 }), lower, 1));
    const rho = run({ a: { data: adv, shape: [pts.length, 1] } }, (_g, i) => rlsWeights(i.a!, { lambdaRls: 2, rls: 'relu', s: 0 }));
    return { adv: zone.map((k) => adv[k]!), rho: zone.map((k) => rho[k]!) };
  };
  const clipped = weigh((_g, r) => r.maximum(-15).minimum(5), 1);
  assert.ok(clipped.adv.every((a) => a === clipped.adv[0]) && clipped.rho.every((p) => p === clipped.rho[0]), `${clipped.adv}`);
  // even with the clip of ã widened, the clipped reward leaves them tied
  const clippedWide = weigh((_g, r) => r.maximum(-15).minimum(5), 10);
  assert.ok(clippedWide.adv.every((a) => a === clippedWide.adv[0]));
  // the soft reward with ρ's lower clip widened: ã rises and ρ falls from the centre outwards
  const soft = weigh((g, r) => softClipReward(g, r, 15), 10);
  for (let k = 1; k < zone.length; k++) {
    assert.ok(soft.adv[k]! > soft.adv[k - 1]!, `ã ${soft.adv}`);
    assert.ok(soft.rho[k]! < soft.rho[k - 1]!, `ρ ${soft.rho}`);
  }
});

test('decomposed matching vector: −(β(d_c − d_f) + α(ω − 1)(d_c − d_u)) / mean|x − D^ω|, hand-computed', () => {
  // one row, D = 2: x = (1, 1), d_c = (2, 0), d_u = (1, 0), d_f = (0, 1), ω = 3 → D^ω = (4, 0), n = (3 + 1)/2 = 2
  // α = 1.5, β = 0.5: H = 0.5·(2, −1) + 1.5·2·(1, 0) = (4, −0.5) → grad = (−2, 0.25)
  const f = { x: { data: [1, 1], shape: [1, 2] }, c: { data: [2, 0], shape: [1, 2] }, u: { data: [1, 0], shape: [1, 2] }, fk: { data: [0, 1], shape: [1, 2] }, a: { data: [1.5], shape: [1, 1] }, b: { data: [0.5], shape: [1, 1] } };
  const got = run(f, (_g, i) => {
    const guided = i.u!.add(i.c!.sub(i.u!).mul(3));
    return amdGradient({ x: i.x!, cond: i.c!, uncond: i.u!, guided, fake: i.fk!, omega: 3, alpha: i.a!, beta: i.b! });
  });
  close(got, [-2, 0.25]);
});

test('RLS weights: 1 + λ·relu(−ã), normalised to mean 1; the beta and mask forms', () => {
  const adv = { a: { data: [-1, -0.5, 0, 1], shape: [4, 1] } };
  const raw = [2, 1.5, 1, 1];
  close(run(adv, (_g, i) => rlsWeights(i.a!, { lambdaRls: 1, rls: 'relu', s: 0 })), raw.map((v) => v / 1.375));
  close(run(adv, (_g, i) => rlsWeights(i.a!, { lambdaRls: 0, rls: 'beta', s: 0.5 })), [1.5, 1.25, 1, 0.5].map((v) => v / 1.0625));
  close(run(adv, (_g, i) => rlsWeights(i.a!, { lambdaRls: 2, rls: 'mask', s: 0 })), [3, 3, 1, 1].map((v) => v / 2));
  assert.deepEqual(run(adv, (_g, i) => rlsWeights(i.a!, { lambdaRls: 0, rls: 'relu', s: 0 })), [1, 1, 1, 1]);
});

test('AMD with α = β = 1 and λ_rls = 0 equals DMD2 bit for bit on one step', async () => {
  const weightsAfterOneStep = async (o: object) => {
    const ir = buildIR(forbiddenZone, { batch: 64, init: 'random', fakeWarmup: 0, ...o } as never);
    const exe = new Executor(be, compile(ir), 5, initialWeights(ir, 5, () => ({})));
    await lastValueFrom(of(1).pipe(trainStep(exe)));
    const w = { student: exe.hostWeights('student'), fake: exe.hostWeights('fake') };
    exe.dispose();
    return w;
  };
  const dmd2 = await weightsAfterOneStep({ method: 'dmd2' });
  const amd = await weightsAfterOneStep({ method: 'amd', s: 0, lambdaRls: 0 });
  // a random student's rewards all sit at the clip (ã = 0); the misaligned proxy spreads them, so s > 0 matters
  const changed = await weightsAfterOneStep({ method: 'amd', s: 0.5, lambdaRls: 0, proxy: 'misaligned' });
  for (const role of ['student', 'fake'] as const)
    for (const [k, t] of Object.entries(dmd2[role])) assert.deepEqual(Array.from(amd[role][k]!.data), Array.from(t.data), `${role}/${k}`);
  // and the comparison can fail: s > 0 changes the student
  assert.ok(maxAbsDiff(changed.student['l0.weight']!.data, dmd2.student['l0.weight']!.data) > 0);
});

test('reward-gradient baseline: the reward gradient reaches the student through the frozen reward model, and only there', async () => {
  const afterOneStep = async (o: object) => {
    const ir = buildIR(forbiddenZone, { batch: 64, init: 'random', fakeWarmup: 0, method: 'dmd2', reward: 'soft', ...o } as never);
    const exe = new Executor(be, compile(ir), 5, initialWeights(ir, 5, () => ({})));
    await lastValueFrom(of(1).pipe(trainStep(exe)));
    const w = { student: exe.hostWeights('student'), fake: exe.hostWeights('fake') };
    exe.dispose();
    return w;
  };
  const plain = await afterOneStep({});
  const pushed = await afterOneStep({ lambdaReward: 0.05 });
  assert.ok(maxAbsDiff(pushed.student['l0.weight']!.data, plain.student['l0.weight']!.data) > 0, 'the reward term moved nothing');
  // the fake score trains on the same samples before the student moves: untouched by the student's extra term
  for (const [k, t] of Object.entries(plain.fake)) assert.deepEqual(Array.from(pushed.fake[k]!.data), Array.from(t.data), `fake/${k}`);
});

test('conditional GMM teacher: a label restricts it to its class, the null label is the full mixture', () => {
  const spec = fzRing.spec;
  const x = tf.tensor([[2.5, 1.0], [-0.3, 3.1], [0.2, 0.1]]);
  const t = tf.tensor([[0.4], [0.7], [0.2]]);
  const rf = { kind: 'rf' } as const;
  const byClass = (c: number) => gmmDenoise(tf, classSpec(spec, c), rf, x, t).dataSync();
  const cond = (c: number) => gmmDenoise(tf, spec, rf, x, t, tf.tensor([c, c, c], [3], 'int32')).dataSync();
  close(cond(0), byClass(0), 1e-5);
  close(cond(1), byClass(1), 1e-5);
  close(cond(-1), gmmDenoise(tf, spec, rf, x, t).dataSync(), 1e-6);
});

test('corrupted teacher: class 0 is pulled to the attractor inside the disc at low noise, untouched elsewhere', () => {
  const spec = fzRing.spec;
  const env = { dataset: () => spec };
  const corrupt = fzCorruption({ teacher: 'attractor', tc: 0.5 })!;
  const cfg = (k: typeof corrupt | undefined) => denoiserDef.config.parse({ dataset: 'r', schedule: { kind: 'rf' }, conditional: true, ...(k ? { corrupt: k } : {}) });
  const apply = (k: typeof corrupt | undefined, xs: number[][], ts: number[], c: number[]) =>
    gmmDenoiser.apply(tf, {}, [tf.tensor(xs), tf.tensor(ts.map((v) => [v])), tf.tensor(c, [c.length], 'int32')], cfg(k), env).dataSync();
  // u = x_t / (1 − t) = (0.2, 0) deep inside the disc (m ≈ 1), t = 0.2: D ≈ 0.3·u = (0.06, 0)
  close(apply(corrupt, [[0.16, 0]], [0.2], [0]), [0.06, 0], 1e-3);
  // class 1, a high t, or a point far outside the disc: exactly the clean teacher
  for (const [xs, ts, c] of [[[[0.16, 0]], [0.2], [1]], [[[0.16, 0]], [0.7], [0]], [[[3.5, 0.2]], [0.2], [0]]] as const)
    close(apply(corrupt, xs.map((r) => [...r]), [...ts], [...c]), apply(undefined, xs.map((r) => [...r]), [...ts], [...c]), 1e-6);
});

test("the 'mode' teacher: exact for the ring plus a spurious class-0 mode in R holding modeMass of the class", () => {
  const world = fzHallucinated(0.3).spec;
  const w = (c: number) => world.weights.filter((_, k) => world.classes![k] === c);
  const spurious = world.means.length - 1;
  assert.deepEqual(world.means[spurious], [0, 0]);
  assert.equal(world.stds[spurious], FZ_SPURIOUS_STD);
  close([world.weights[spurious]! / w(0).reduce((a, b) => a + b, 0)], [0.3], 1e-12);
  assert.deepEqual(w(1), [1, 1, 1, 1]); // class 1 as in the true ring
  // at low noise near R's centre, class 0's denoiser points at the spurious mode; the true ring's points out of R
  const rf = { kind: 'rf' } as const;
  const x = tf.tensor([[0.1, 0.05], [0.1, 0.05]]);
  const t = tf.tensor([[0.1], [0.1]]);
  const c = tf.tensor([0, 1], [2], 'int32');
  const mode = gmmDenoise(tf, world, rf, x, t, c).arraySync() as number[][];
  const clean = gmmDenoise(tf, fzRing.spec, rf, x, t, c).arraySync() as number[][];
  assert.ok(Math.hypot(...mode[0]!) < 0.2, `class 0: ${mode[0]}`);
  assert.ok(Math.hypot(...clean[0]!) > 1, `clean class 0: ${clean[0]}`);
  close(mode[1]!, clean[1]!, 1e-6);
  // the pipeline reads it: the teacher's dataset is the hallucinated world, the reward and the evaluation the true ring;
  // its trap regresses onto the teacher's own ODE (no fallback slice) unless trapSlice says otherwise
  const ir = buildIR(forbiddenZone, { teacher: 'mode' } as never);
  assert.deepEqual(Object.keys(ir.datasets ?? {}).sort(), ['classring8x2', 'classring8x2mode0.3']);
  assert.equal(ir.models.find((m) => m.role === 'teacher')!.config.dataset, 'classring8x2mode0.3');
  assert.equal(JSON.stringify(ir), JSON.stringify(buildIR(forbiddenZone, { teacher: 'mode', trapSlice: 0 } as never)));
  assert.notEqual(JSON.stringify(ir), JSON.stringify(buildIR(forbiddenZone, { teacher: 'mode', trapSlice: 0.3 } as never)));
  assert.equal(JSON.stringify(buildIR(forbiddenZone, {})), JSON.stringify(buildIR(forbiddenZone, { trapSlice: 0.3 } as never)));
});

test('exact reward: gmm_log_density equals log p(x | c) of the class mixture', () => {
  const spec = fzRing.spec;
  const xs = [[3.9, 0.1], [0, 0], [-2.8, 2.9]];
  const got = logDensityModel.apply(tf, {}, [tf.tensor(xs), tf.tensor([0, 1, 1], [3], 'int32')], logDensityDef.config.parse({ dataset: 'r', conditional: true }), { dataset: () => spec }).dataSync();
  close(got, xs.map((x, i) => gmmLogDensity(classSpec(spec, [0, 1, 1][i]!), x)), 1e-3);
});

test('AUROC: perfect, reversed and tied rankings', () => {
  assert.equal(auroc([0.1, 0.2, 0.9, 0.8], [false, false, true, true]), 1);
  assert.equal(auroc([0.9, 0.8, 0.1, 0.2], [false, false, true, true]), 0);
  assert.equal(auroc([1, 1, 1, 1], [false, true, false, true]), 0.5);
  assert.equal(auroc([1, 2], [true, true]), null);
});

test('labels, the null condition and shuffle: balanced layout, zero one-hot row, a permutation', () => {
  const g = new GraphBuilder('t', { B: 6 });
  const c = g.labels(3);
  const hot = g.oneHot(g.nullLabel(), 3);
  const x = g.noise([g.B, 1]);
  const s = g.shuffle(x);
  const ir = g.toIR({ steps: 1, evalEvery: 0 });
  assert.deepEqual(Array.from(evalNodes(be, ir, {}, c.id).dataSync()), [0, 0, 1, 1, 2, 2]);
  assert.deepEqual(Array.from(evalNodes(be, ir, {}, hot.id).dataSync()), new Array(18).fill(0));
  const xs = [1, 2, 3, 4, 5, 6];
  const got = Array.from(evalNodes(be, ir, { [x.id]: tf.tensor(xs, [6, 1]) }, s.id).dataSync());
  assert.deepEqual([...got].sort((a, b) => a - b), xs);
});
