import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lastValueFrom, of } from 'rxjs';
import { loadBackend } from '../../gpu/backend.ts';
import { GraphBuilder, adam } from '../../dsl/builder.ts';
import { buildIR, pipeline } from '../../dsl/pipeline.ts';
import { compile } from '../../dsl/compile/index.ts';
import { Executor } from '../../runtime/executor.ts';
import { initialWeights } from '../../runtime/init.ts';
import { trainStep } from '../../runtime/train.ts';
import { mlp, toy } from '../../dsl/models.ts';
import { dmd, dmdGradient, denoisingLoss } from '../../dsl/objectives/dmd.ts';
import { discriminatorLoss, generatorLoss } from '../../dsl/objectives/gan.ts';
import { backwardSimulation, multistepSample, studentLadder } from '../../dsl/objectives/multistep.ts';
import { PIPELINES } from '../../pipelines/index.ts';
import { opDef } from '../../ops/registry.ts';
import { dmd2Options } from '../../pipelines/dmd2.ts';
import { evalNodes, maxAbsDiff } from '../helpers.ts';
import type { GraphIR } from '../../dsl/ir/schema.ts';
import type { Tensor } from '../../gpu/lower/index.ts';

const be = await loadBackend('cpu');
const tf = be.tf;
const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-5) => assert.ok(maxAbsDiff(a, b) < tol, `${Array.from(a)} vs ${Array.from(b)}`);
const softplus = (v: number) => Math.log1p(Math.exp(v));
const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));

// D(x) = 2·x₁ − x₂ on features F(x, t) = x; with t ∈ [0, 0] the rectified-flow noising is the identity (α = 1, σ = 0)
const real = [[1, 0], [0, 2], [-1, 1]];
const fake = [[0.5, 0.5], [2, -1], [0, 0]];
const D = ([a, b]: number[]) => 2 * a! - b!;
const headFn = (ins: Tensor[]) => tf.matMul(ins[0]!, tf.tensor([[2], [-1]]));

function ganGraph(which: 'disc' | 'gen') {
  const g = new GraphBuilder('gan', { B: 3 });
  const r = g.noise([3, 2]);
  const f = g.noise([3, 2]);
  const head = g.frozen('head', mlp({ in: 2, out: 1, hidden: 4, layers: 1 }));
  const o = { features: (x: any) => x, head, schedule: 'rf' as const, t: [0, 0] as const };
  const out = which === 'disc' ? discriminatorLoss(g, { ...o, real: r, fake: f }) : generatorLoss(g, { ...o, x: f });
  return { ir: g.toIR({ steps: 1, evalEvery: 0 }), r: r.id, f: f.id, out: out.id };
}

test('GAN head terms: softplus(−D(real)) + softplus(D(fake)) and softplus(−D(G(z))), batch means, hand-computed', () => {
  const d = ganGraph('disc');
  const disc = evalNodes(be, d.ir, { [d.r]: tf.tensor(real), [d.f]: tf.tensor(fake) }, d.out, { head: headFn }).dataSync()[0]!;
  const want = real.reduce((s, x) => s + softplus(-D(x)), 0) / 3 + fake.reduce((s, x) => s + softplus(D(x)), 0) / 3;
  close([disc], [want]);
  const gn = ganGraph('gen');
  const gen = evalNodes(be, gn.ir, { [gn.f]: tf.tensor(fake) }, gn.out, { head: headFn }).dataSync()[0]!;
  close([gen], [fake.reduce((s, x) => s + softplus(-D(x)), 0) / 3]);
});

test("GAN generator term's gradient with respect to the samples: −σ(−D(x))·∇D / B, hand-computed; the discriminator's likewise", () => {
  const gn = ganGraph('gen');
  const grad = tf.grad((x: Tensor) => evalNodes(be, gn.ir, { [gn.f]: x }, gn.out, { head: headFn }) as never)(tf.tensor(fake)).arraySync() as number[][];
  close(grad.flat(), fake.flatMap((x) => [2, -1].map((dd) => (-sigmoid(-D(x)) * dd) / 3)));
  const d = ganGraph('disc');
  const gd = tf.grad((x: Tensor) => evalNodes(be, d.ir, { [d.r]: tf.tensor(real), [d.f]: x }, d.out, { head: headFn }) as never)(tf.tensor(fake)).arraySync() as number[][];
  close(gd.flat(), fake.flatMap((x) => [2, -1].map((dd) => (sigmoid(D(x)) * dd) / 3)));
});

test("DMD's matching vector: (fake − real) / mean|x − real| per sample or over the batch, with its floor, hand-computed", () => {
  const xs = [[1, 1], [0.02, 0], [3, -1]];
  const rs = [[0, 2], [0, 0.02], [1, 1]];
  const fs = [[0.5, 0.5], [0.1, 0.1], [2, 0]];
  const vec = (normalizer: 'sample' | 'batch', floor?: number) => {
    const g = new GraphBuilder('dmd-vector', { B: 3 });
    const [x, r, f] = [g.noise([3, 2]), g.noise([3, 2]), g.noise([3, 2])];
    const out = dmdGradient({ x, real: r, fake: f, normalizer, ...(floor ? { floor } : {}) });
    const ir = g.toIR({ steps: 1, evalEvery: 0 });
    return evalNodes(be, ir, { [x.id]: tf.tensor(xs), [r.id]: tf.tensor(rs), [f.id]: tf.tensor(fs) }, out.id).dataSync();
  };
  const gap = xs.map((x, i) => x.map((v, j) => Math.abs(v - rs[i]![j]!)));
  const diff = fs.map((f, i) => f.map((v, j) => v - rs[i]![j]!));
  const perSample = gap.map((r) => (r[0]! + r[1]!) / 2);
  close(vec('sample'), diff.flatMap((d, i) => d.map((v) => v / perSample[i]!)));
  close(vec('sample', 0.05), diff.flatMap((d, i) => d.map((v) => v / Math.max(perSample[i]!, 0.05))));
  const batch = gap.flat().reduce((a, b) => a + b, 0) / 6;
  close(vec('batch'), diff.flat().map((v) => v / batch));
  close(vec('batch', 10), diff.flat().map((v) => v / 10), 1e-6);
});

// DMD2 as it was before the GAN head, backward simulation and EMA: the one-step pipeline the defaults must keep
const before = pipeline('dmd2-ring', dmd2Options(), (g, c) => {
  const target = toy.ring();
  const teacher = g.frozen('teacher', target.denoiser('rf'));
  const student = g.trainable('student', mlp({ in: 2, out: 2, hidden: c.hidden, layers: c.layers, fourier: c.fourier }));
  const fake = g.trainable('fake', mlp({ in: 2, out: 2, hidden: c.hidden, layers: c.layers, time: true }));
  const z = g.noise([g.B, 2]);
  const x = g.named('x', student(z));
  const { loss, grad } = dmd(g, { x, teacher, fake, schedule: 'rf', t: [c.tMin, c.tMax], normFloor: c.normFloor });
  g.minimize(student, loss, { optimizer: adam(c.lrStudent) });
  g.minimize(fake, denoisingLoss(g, fake, g.stopGradient(x), { schedule: 'rf', weighting: c.fakeWeighting }), { optimizer: adam(c.lrFake), ratio: c.ratio, warmup: c.fakeWarmup });
  g.output('dmdGradNorm', grad.square().sum([1]).sqrt().mean());
  g.evaluate({ samples: x, target, teacher, schedule: 'rf', noise: z });
});

async function weightsAfterOneStep(ir: GraphIR, plan = compile(ir)) {
  const exe = new Executor(be, plan, 7, initialWeights(ir, 7, () => ({})));
  for (const u of exe.plan.updates) exe.update(u); // one update of each role stands in for the warm-up
  await lastValueFrom(of(1).pipe(trainStep(exe)));
  const w = Object.fromEntries(exe.plan.updates.map((u) => [u.role, exe.hostWeights(u.role)]));
  exe.dispose();
  return w;
}

test('GAN weight 0, EMA off, k = 1, per-sample normaliser, no decay: dmd2-ring is the DMD2 pipeline it was, bit for bit after one step', async () => {
  const o = { batch: 32, fakeWarmup: 0, ganGenerator: 0, studentSteps: 1, normalizer: 'sample', lrDecay: 'none' };
  const want = await weightsAfterOneStep(buildIR(before, o));
  const got = await weightsAfterOneStep(buildIR(PIPELINES['dmd2-ring']!, o));
  assert.deepEqual(Object.keys(got).sort(), ['fake', 'student']);
  for (const role of ['student', 'fake'])
    for (const [k, t] of Object.entries(want[role]!)) assert.deepEqual(Array.from(got[role]![k]!.data), Array.from(t.data), `${role}/${k}`);
  // and the comparison can fail: the GAN term changes the student
  const gan = await weightsAfterOneStep(buildIR(PIPELINES['dmd2-ring']!, { ...o, ganGenerator: 0.1 }));
  assert.ok(maxAbsDiff(gan.student!['l0.weight']!.data, want.student!['l0.weight']!.data) > 0);
});

/** the student's calls on its update's tape, and outside it */
function studentCalls(ir: GraphIR) {
  const plan = compile(ir);
  const u = plan.updates.find((x) => x.role === 'student' && x.ratio > 0)!;
  const calls = new Set(ir.nodes.filter((n) => n.op === 'call' && n.params.model === 'student').map((n) => n.id));
  const on = (steps: typeof u.tape) => steps.flatMap((s) => (s.kind === 'run' ? [s.node] : s.kind === 'fused' ? s.members : [])).filter((id) => calls.has(id)).length;
  return { tape: on(u.tape), pre: on(u.pre) };
}

test("the generator update's tape: the teacher's and fake score's calls (read under stop_gradient) carry no gradient, the student's does", () => {
  const plan = compile(buildIR(PIPELINES['dmd2-ring']!, {}));
  const ir = plan.ir;
  const u = plan.updates.find((x) => x.role === 'student' && x.ratio > 0)!;
  const byId = new Map(ir.nodes.map((n) => [n.id, n]));
  const calls = (noGrad: boolean) =>
    u.tape
      .flatMap((s) => (s.kind === 'run' && !!s.noGrad === noGrad && byId.get(s.node)!.op === 'call' ? [String(byId.get(s.node)!.params.model)] : []))
      .sort();
  assert.deepEqual(calls(true), ['fake', 'teacher'], 'teacher and fake run detached: no activations saved for a backward pass');
  assert.deepEqual(calls(false), ['student'], 'the student is differentiated');
  // every step marked so is one the loss's gradient does not reach: no differentiable step on its path reads it
  const flow = new Set(u.tape.flatMap((s) => (s.kind === 'run' && !s.noGrad ? [s.node] : [])));
  for (const s of u.tape) if (s.kind === 'run' && s.noGrad) assert.ok(!ir.nodes.some((n) => flow.has(n.id) && opDef(n.op)!.differentiable && n.inputs.includes(s.node)), `%${s.node} feeds a differentiated step`);
});

test('the same step with the no-gradient marks stripped from the plan: the same weights to the bit, with and without the GAN term', async () => {
  for (const ganGenerator of [0, 0.1]) {
    const ir = buildIR(PIPELINES['dmd2-ring']!, { batch: 32, fakeWarmup: 0, ganGenerator });
    const plan = compile(ir);
    const marked = plan.updates.flatMap((u) => u.tape).filter((s) => s.kind === 'run' && s.noGrad).length;
    assert.ok(marked > 0, 'the plan marks steps');
    const stripped = { ...plan, updates: plan.updates.map((u) => ({ ...u, tape: u.tape.map((s) => (s.kind === 'run' ? { kind: 'run' as const, node: s.node } : s)) })) };
    const [want, got] = [await weightsAfterOneStep(ir, stripped), await weightsAfterOneStep(ir, plan)];
    for (const role of ['student', 'fake'])
      for (const [k, t] of Object.entries(want[role]!)) assert.deepEqual(Array.from(got[role]![k]!.data), Array.from(t.data), `GAN ${ganGenerator}: ${role}/${k}`);
  }
});

test("backward simulation: the sampler's rungs run outside the student's tape, only the last call carries gradient", () => {
  assert.deepEqual(studentCalls(buildIR(PIPELINES['dmd2-ring']!, { studentSteps: 4 })), { tape: 1, pre: 3 });
  // the check can fail: the same simulation without its no-grad block puts every rung on the tape
  const leaky = pipeline('leaky', { batch: 8, steps: 1, evalEvery: 0 }, (g) => {
    const student = g.trainable('student', mlp({ in: 2, out: 2, hidden: 8, time: true }));
    const z = g.noise([g.B, 2]);
    const noGrad = g.noGrad.bind(g);
    g.noGrad = ((fn: () => unknown) => fn()) as typeof g.noGrad; // a simulation that forgot torch.no_grad
    const { x } = backwardSimulation(g, z, { student, ladder: studentLadder(4), schedule: 'rf' });
    g.noGrad = noGrad;
    g.minimize(student, x.square().mean(), { optimizer: adam(1e-3) });
  });
  assert.deepEqual(studentCalls(buildIR(leaky)), { tape: 4, pre: 0 });
});

test('backward simulation: a row at rung j reads the sampler input of rung j at t_j; the k-step sampler ends at the last rung', () => {
  assert.deepEqual(studentLadder(4), [1, 0.75, 0.5, 0.25]);
  // a student that returns its t (plus 0·x): the sampler's t and the rung labels line up, and every rung occurs
  const g = new GraphBuilder('bs', { B: 512 });
  const student = g.frozen('student', mlp({ in: 2, out: 2, hidden: 4, time: true }));
  const z = g.noise([g.B, 2]);
  const sim = backwardSimulation(g, z, { student, ladder: studentLadder(4), schedule: 'rf' });
  const last = multistepSample(g, z, { student, ladder: studentLadder(4), schedule: 'rf' });
  const ir = g.toIR({ steps: 1, evalEvery: 0 });
  const models = { student: (ins: Tensor[]) => tf.add(tf.mul(ins[0]!, 0), ins[1]!) };
  const t = evalNodes(be, ir, {}, sim.t.id, models).dataSync();
  const rung = evalNodes(be, ir, {}, sim.rung.id, models).dataSync();
  const x = evalNodes(be, ir, {}, sim.x.id, models).dataSync();
  const counts = [0, 0, 0, 0];
  for (let i = 0; i < 512; i++) {
    counts[rung[i]!]!++;
    assert.equal(t[i], 1 - rung[i]! / 4);
    assert.equal(x[2 * i], t[i]);
  }
  assert.ok(counts.every((c) => c > 80), `rungs drawn ${counts}`);
  assert.ok(Array.from(evalNodes(be, ir, {}, last.id, models).dataSync()).every((v) => v === 0.25));
});

test("fakeHidden widens the fake score (and the GAN head's input) alone; unset, the pipeline is unchanged", async () => {
  const ring = PIPELINES['dmd2-ring']!;
  const noAt = (ir: GraphIR) => JSON.stringify(ir).replace(/"at":"[^"]*"/g, '');
  assert.equal(noAt(buildIR(ring, { ganGenerator: 0.1 })), noAt(buildIR(ring, { ganGenerator: 0.1, fakeHidden: 128 })));
  const ir = buildIR(ring, { ganGenerator: 0.1, fakeHidden: 256 });
  const model = (role: string) => ir.models.find((m) => m.role === role)!.config;
  assert.equal(model('fake').hidden, 256);
  assert.equal(model('student').hidden, 128);
  assert.equal(model('head').in, 256);
  // and it runs: one update of every role, finite weights
  const exe = new Executor(be, compile(ir), 3, initialWeights(ir, 3, () => ({})));
  await lastValueFrom(of(1).pipe(trainStep(exe)));
  for (const role of ['fake', 'head', 'student']) for (const [k, t] of Object.entries(exe.hostWeights(role))) assert.ok(t.data.every(Number.isFinite), `${role}/${k}`);
  exe.dispose();
});
