import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadBackend } from '../../gpu/backend.ts';
import { buildIR } from '../../dsl/pipeline.ts';
import { compile } from '../../dsl/compile/index.ts';
import { Executor } from '../../runtime/executor.ts';
import { initialWeights } from '../../runtime/init.ts';
import { PIPELINES } from '../../pipelines/index.ts';
import { maxAbsDiff } from '../helpers.ts';

const noLoad = () => {
  throw new Error('no weights to load');
};

async function executor(backend: string, seed = 3, batch = 64) {
  const be = await loadBackend(backend);
  const plan = compile(buildIR(PIPELINES['dmd2-ring']!, { batch }));
  return { be, exe: new Executor(be, plan, seed, initialWeights(plan.ir, seed, noLoad)) };
}

test('leak: tensors and bytes stay flat over 1,000 iterations (wasm)', async () => {
  const { be, exe } = await executor('wasm');
  for (const u of exe.plan.updates) exe.update(u); // warm-up
  const before = be.memory();
  for (let i = 0; i < 1000; i++) for (const u of exe.plan.updates) for (let r = 0; r < u.ratio; r++) exe.update(u);
  exe.sample(128);
  const after = be.memory();
  assert.equal(after.tensors, before.tensors, `tensors ${before.tensors} → ${after.tensors}`);
  assert.equal(after.bytes, before.bytes, `bytes ${before.bytes} → ${after.bytes}`);
  exe.dispose();
});

test('wasm and cpu agree on one DMD2 step to float32 tolerance', async () => {
  const losses: number[][] = [];
  const weights: Float32Array[] = [];
  for (const b of ['cpu', 'wasm']) {
    const { exe } = await executor(b);
    losses.push(exe.plan.updates.map((u) => exe.update(u).loss));
    weights.push(exe.hostWeights('student')['l0.weight']!.data);
    exe.dispose();
  }
  assert.ok(maxAbsDiff(losses[0]!, losses[1]!) < 1e-4 * Math.max(1, ...losses[0]!.map(Math.abs)), `${losses[0]} vs ${losses[1]}`);
  assert.ok(maxAbsDiff(weights[0]!, weights[1]!) < 1e-5);
});

test('determinism: the same seed gives the same losses and samples; another seed does not', async () => {
  const run = async (seed: number) => {
    const { exe } = await executor('wasm', seed);
    const l: number[] = [];
    for (let i = 0; i < 3; i++) for (const u of exe.plan.updates) l.push(exe.update(u).loss);
    const s = Array.from(exe.sample(64).data);
    exe.dispose();
    return [...l, ...s];
  };
  const a = await run(7);
  assert.deepEqual(await run(7), a);
  assert.notDeepEqual(await run(8), a);
});

test('the fake update does not touch the student, the student update does not touch the fake', async () => {
  const { exe } = await executor('cpu');
  const fake = exe.plan.updates.find((u) => u.role === 'fake')!;
  const student = exe.plan.updates.find((u) => u.role === 'student')!;
  const snap = (r: string) => Array.from(exe.hostWeights(r)['l0.weight']!.data);
  const s0 = snap('student');
  exe.update(fake);
  assert.deepEqual(snap('student'), s0);
  const f0 = snap('fake');
  exe.update(student);
  assert.deepEqual(snap('fake'), f0);
  assert.notDeepEqual(snap('student'), s0);
  exe.dispose();
});

test('elementwise fusion changes no result: dmd2-ring, fused and unfused plans give the same losses over 3 steps', async () => {
  const ir = buildIR(PIPELINES['dmd2-ring']!, { batch: 64 });
  const losses: number[][] = [];
  let groups = 0;
  for (const fuse of [false, true]) {
    const be = await loadBackend('wasm');
    const plan = compile(ir, { fuse });
    if (fuse) groups = [...plan.updates.flatMap((u) => u.pre), ...(plan.sample?.steps ?? [])].filter((s) => s.kind === 'fused').length;
    const exe = new Executor(be, plan, 3, initialWeights(plan.ir, 3, noLoad));
    const l: number[] = [];
    for (let i = 0; i < 3; i++) for (const u of exe.plan.updates) for (let r = 0; r < u.ratio; r++) l.push(exe.update(u).loss);
    losses.push(l);
    exe.dispose();
  }
  assert.ok(groups >= 2, `the plan fused ${groups} groups`);
  const worst = Math.max(...losses[0]!.map((v, i) => Math.abs(v - losses[1]![i]!) / Math.max(1e-12, Math.abs(v))));
  assert.ok(worst < 1e-5, `fused and unfused losses differ by ${worst} (relative)`);
});
