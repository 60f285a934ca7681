/** The EMA of a role's weights: declared on `minimize`, checked by verify, a plan step after the update; stepped
 * after every applied update (float32, bit for bit against a hand computation), never after a skipped one; read by
 * evaluation and the exported weights, never by training; off, it changes nothing. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildIR, pipeline } from '../../dsl/pipeline.ts';
import { adam } from '../../dsl/builder.ts';
import { mlp, toy } from '../../dsl/models.ts';
import { GraphError } from '../../dsl/errors.ts';
import { compile, printPlan } from '../../dsl/compile/index.ts';
import { printIR } from '../../dsl/ir/print.ts';
import { loadBackend } from '../../gpu/backend.ts';
import { Executor, type ExecutorOptions } from '../../runtime/executor.ts';
import { initialWeights } from '../../runtime/init.ts';
import { emaApply, emaInit } from '../../runtime/ema.ts';
import { warmup } from '../../runtime/train.ts';
import { runIR } from '../../runtime/run.ts';
import { loadSafetensors } from '../../runtime/safetensors.ts';
import { PIPELINES } from '../../pipelines/index.ts';
import type { GraphIR } from '../../dsl/ir/schema.ts';
import type { HostTensor } from '../../ops/models/index.ts';

/** a small student pulled towards a ring; `pretrain`: a warm-up-only phase of the same role before it, without the EMA */
const small = (o: { ema?: number; pretrain?: number; features?: boolean } = {}) =>
  pipeline('ema-small', { batch: 16, steps: 4, evalEvery: 2 }, (g) => {
    const target = toy.ring();
    const s = g.trainable('student', mlp({ in: 2, out: 2, hidden: 8 }));
    const z = g.noise([g.B, 2]);
    const x = s(z);
    const loss = o.features ? s.output('features')(z).square().mean() : x.sub(g.data(target)).square().mean();
    if (o.pretrain) g.minimize(s, x.square().mean(), { optimizer: adam(1e-2), ratio: 0, warmup: o.pretrain });
    g.minimize(s, loss, { optimizer: adam(1e-2), ema: o.ema });
    g.evaluate({ samples: x, target });
  });

async function executor(ir: GraphIR, o: ExecutorOptions = {}) {
  const be = await loadBackend('cpu');
  const plan = compile(ir);
  return { be, plan, exe: new Executor(be, plan, 5, initialWeights(plan.ir, 5, () => ({})), o) };
}

const flat = (w: Record<string, HostTensor>) => Object.keys(w).sort().map((k) => Array.from(w[k]!.data));
const main = (exe: Executor) => exe.plan.updates.find((u) => u.ratio > 0)!;

test('the DSL records the decay (0: off), verify refuses one outside (0, 1) and two on one role, with file:line', () => {
  assert.equal(buildIR(small({ ema: 0.9 })).updates[0]!.ema, 0.9);
  assert.equal('ema' in buildIR(small({ ema: 0 })).updates[0]!, false);
  assert.equal('ema' in buildIR(PIPELINES['dmd2-ring']!).updates.find((u) => u.role === 'student')!, false, 'off by default');
  for (const bad of [1, -0.5, Number.NaN])
    assert.throws(() => compile(buildIR(small({ ema: bad }))), (e: unknown) => {
      assert.ok(e instanceof GraphError, String(e));
      assert.match(e.message, /^bad_params at 'student' \(tests\/runtime\/ema\.test\.ts:\d+\): ema: the decay must lie in \(0, 1\) \(0 turns it off\), got/);
      return true;
    });
  const twice = pipeline('ema-twice', { batch: 4, steps: 1, evalEvery: 0 }, (g) => {
    const s = g.trainable('s', mlp({ in: 2, out: 2 }));
    const x = s(g.noise([g.B, 2]));
    g.minimize(s, x.square().mean(), { optimizer: adam(1e-3), ratio: 0, warmup: 2, ema: 0.9 });
    g.minimize(s, x.abs().mean(), { optimizer: adam(1e-3), ema: 0.99 });
  });
  assert.throws(() => compile(buildIR(twice)), /GraphError: duplicate_role at 's' \(tests\/runtime\/ema\.test\.ts:\d+\): 's' has an EMA already \(tests\/runtime\/ema\.test\.ts:\d+\)/);
});

test('the plan steps the EMA after the role’s apply, in every update of the role; the IR and plan text show it', () => {
  const plan = compile(buildIR(small({ ema: 0.99, pretrain: 2 })));
  assert.deepEqual(plan.ema, { student: 0.99 });
  for (const u of plan.updates) assert.deepEqual(u.finish.map((s) => s.kind), ['grads', 'apply', 'ema', 'free']);
  assert.match(printPlan(plan), /apply adam\(lr=0\.01, b1=0\.9, b2=0\.999\) → student\n  ema student ← 0\.99·ema \+ 0\.01·student\n  free/);
  assert.match(printPlan(plan), /resident [\d.]+ MiB \(weights, Adam moments, EMA\)/);
  assert.match(printIR(plan.ir), /minimize student loss=%v\d+ adam\(lr=0\.01\) ratio=1 ema=0\.99/);
  const off = compile(buildIR(small()));
  assert.deepEqual(off.ema, {});
  assert.doesNotMatch(printPlan(off), /\n\s*ema |EMA/);
});

test('the plan’s resident bytes count the EMA (exact against tf.memory())', async () => {
  const { tf } = await loadBackend('cpu');
  const before = tf.memory().numBytes;
  const { exe } = await executor(buildIR(small({ ema: 0.9 })));
  exe.update(main(exe));
  const off = compile(buildIR(small()));
  assert.ok(exe.plan.residentBytes > off.residentBytes);
  assert.equal(tf.memory().numBytes - before, exe.plan.residentBytes);
  exe.dispose();
});

test('emaApply: decay·e + (1 − decay)·w on the keys given, the others untouched', async () => {
  const { tf } = await loadBackend('cpu');
  const p = { a: tf.variable(tf.tensor([1, 2, -4])), b: tf.variable(tf.tensor([8])) };
  const e = emaInit(tf, p);
  p.a.assign(tf.tensor([3, 2, 0]));
  p.b.assign(tf.tensor([0]));
  emaApply(tf, 0.5, e, p, ['a']);
  assert.deepEqual(Array.from(e.a!.dataSync()), [2, 2, -2]);
  emaApply(tf, 0.75, e, p, ['a']);
  assert.deepEqual(Array.from(e.a!.dataSync()), [2.25, 2, -1.5]);
  assert.deepEqual(Array.from(e.b!.dataSync()), [8], 'a key not given keeps its value');
  tf.dispose([...Object.values(p), ...Object.values(e)]);
});

test('over 4 updates on cpu the EMA equals the float32 recursion from the initial weights, bit for bit', async () => {
  const d = 0.9;
  const { exe } = await executor(buildIR(small({ ema: d })));
  const f = Math.fround;
  let e = flat(exe.hostWeights('student'));
  assert.deepEqual(flat(exe.hostWeights('student', 'eval')), e, 'it starts at the initial weights');
  for (let k = 0; k < 4; k++) {
    assert.equal(exe.update(main(exe)).skipped, false);
    const w = flat(exe.hostWeights('student'));
    e = e.map((ei, i) => ei.map((v, j) => f(f(v * f(d)) + f(w[i]![j]! * f(1 - d)))));
    assert.deepEqual(flat(exe.hostWeights('student', 'eval')), e, `update ${k + 1}`);
    assert.notDeepEqual(e, w);
  }
  exe.dispose();
});

test('EMA on or off, training is the same bit for bit; off, evaluation reads the trained weights', async () => {
  const run = async (ema?: number) => {
    const { exe } = await executor(buildIR(small({ ema })));
    const losses = [0, 1, 2].map(() => exe.update(main(exe)).loss);
    const r = { losses, raw: flat(exe.hostWeights('student')), evaluated: flat(exe.hostWeights('student', 'eval')), sample: Array.from(exe.sample(32).data) };
    exe.dispose();
    return r;
  };
  const off = await run();
  const on = await run(0.9);
  assert.deepEqual(on.losses, off.losses);
  assert.deepEqual(on.raw, off.raw);
  assert.deepEqual(off.evaluated, off.raw);
  assert.notDeepEqual(on.sample, off.sample, 'with the EMA on, samples come from the EMA');
});

test('samples come from the EMA: they equal the samples of an executor holding the EMA as its weights', async () => {
  const { exe } = await executor(buildIR(small({ ema: 0.8 })));
  for (let k = 0; k < 3; k++) exe.update(main(exe));
  const [ema, sample] = [exe.hostWeights('student', 'eval'), Array.from(exe.sample(64).data)];
  exe.dispose(); // one executor at a time: variables are named by role
  const { exe: other } = await executor(buildIR(small()));
  other.loadWeights('student', ema);
  assert.deepEqual(sample, Array.from(other.sample(64).data));
  other.dispose();
});

test('a skipped (non-finite) update leaves the EMA untouched; a warm-up phase of the role steps it', async () => {
  const { be, exe } = await executor(buildIR(small({ ema: 0.9 })), { poisonGradient: (_r, n) => n === 2 });
  exe.update(main(exe));
  const before = exe.exportState();
  const tensors = be.memory().tensors;
  assert.equal(exe.update(main(exe)).skipped, true);
  assert.deepEqual(exe.exportState().ema, before.ema);
  assert.equal(be.memory().tensors, tensors, 'no tensor leaks on the skip path');
  assert.equal(exe.update(main(exe)).skipped, false);
  assert.notDeepEqual(exe.exportState().ema, before.ema);
  assert.equal(be.memory().tensors, tensors, 'nor on the applied path');
  exe.dispose();

  // the EMA belongs to the role: a pre-training phase (ratio 0) of the student moves it too
  const { exe: pre } = await executor(buildIR(small({ ema: 0.9, pretrain: 2 })));
  const init = flat(pre.hostWeights('student', 'eval'));
  warmup(pre);
  assert.notDeepEqual(flat(pre.hostWeights('student', 'eval')), init);
  pre.dispose();
});

test('a parameter the loss does not reach keeps its value, and its EMA stays equal to it', async () => {
  const { exe } = await executor(buildIR(small({ ema: 0.9, features: true })));
  const w0 = exe.hostWeights('student');
  for (let k = 0; k < 3; k++) exe.update(main(exe));
  const [w, e] = [exe.hostWeights('student'), exe.hostWeights('student', 'eval')];
  for (const k of Object.keys(w)) {
    const untouched = Array.from(w[k]!.data).join() === Array.from(w0[k]!.data).join();
    if (untouched) assert.deepEqual(Array.from(e[k]!.data), Array.from(w[k]!.data), `${k}: EMA = weights`);
    else assert.notDeepEqual(Array.from(e[k]!.data), Array.from(w[k]!.data), `${k}: EMA lags the weights`);
  }
  assert.ok(Object.keys(w).some((k) => Array.from(w[k]!.data).join() === Array.from(w0[k]!.data).join()), 'the output layer is not reached');
  exe.dispose();
});

test('a run writes the EMA as weights/<role>.safetensors and the trained weights as <role>.raw.safetensors', async () => {
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'distillery-ema-')), 'run');
  await runIR(buildIR(small({ ema: 0.9 })), { seed: 5, backend: 'cpu', out, quiet: true, evalSamples: 256 });
  const { exe } = await executor(buildIR(small({ ema: 0.9 })));
  for (let k = 0; k < 4; k++) exe.update(main(exe));
  assert.deepEqual(flat(loadSafetensors(path.join(out, 'weights/student.safetensors'))), flat(exe.hostWeights('student', 'eval')));
  assert.deepEqual(flat(loadSafetensors(path.join(out, 'weights/student.raw.safetensors'))), flat(exe.hostWeights('student')));
  exe.dispose();
});
