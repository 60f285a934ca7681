/** The webgpu backend for real, on whatever adapter Dawn finds (SwiftShader in CI): every generated WGSL kernel against
 * the tfjs ops it replaces on cpu, one full pipeline step against cpu, and 100 iterations without a leak. Skipped, with the reason, where no adapter exists — except in CI, where it must run. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadBackend } from '../../gpu/backend.ts';
import { checkKernelCases } from './cases.ts';
import { buildIR } from '../../dsl/pipeline.ts';
import { openExecutor } from '../../runtime/open.ts';
import { dmdStep } from '../../bench/dmd-step/workload.ts';
import { maxAbsDiff } from '../helpers.ts';

/** A test that needs a WebGPU adapter. Without one it is skipped with the reason printed (`# SKIP webgpu unavailable here:
 * …`); in CI, where .ci/run installs SwiftShader, a missing adapter fails it instead. */
function webgpuTest(name: string, body: () => Promise<void>): void {
  test(name, async (t) => {
    try {
      await loadBackend('webgpu');
    } catch (e) {
      if (process.env.CI) throw e;
      t.skip(`webgpu unavailable here: ${(e as Error).message}`);
      return;
    }
    await body();
  });
}

webgpuTest('webgpu: every generated WGSL kernel equals the tfjs ops it replaces (cpu reference)', async () => {
  assert.ok((await checkKernelCases('webgpu', 'webgpu')) >= 20);
});

const SMALL = { dim: 3, hidden: 64, batch: 32 };

webgpuTest('webgpu: one full pipeline step (5 fake-score + 1 generator update) matches cpu', async () => {
  const ir = buildIR(dmdStep, SMALL);
  const runs: { losses: number[]; student: Float32Array; fake: Float32Array }[] = [];
  for (const backend of ['cpu', 'webgpu']) {
    const exe = await openExecutor(ir, 5, backend);
    const losses: number[] = [];
    for (const u of exe.plan.updates) for (let r = 0; r < u.ratio; r++) losses.push((await exe.updateAsync(u)).loss);
    const w = async (role: string) => Object.values(await exe.hostWeightsAsync(role)).flatMap((h) => Array.from(h.data));
    runs.push({ losses, student: Float32Array.from(await w('student')), fake: Float32Array.from(await w('fake')) });
    exe.dispose();
  }
  const [cpu, gpu] = runs as [(typeof runs)[0], (typeof runs)[0]];
  assert.equal(gpu.losses.length, 6);
  assert.ok(maxAbsDiff(cpu.losses, gpu.losses) < 1e-4 * Math.max(...cpu.losses.map(Math.abs)), `losses ${cpu.losses} vs ${gpu.losses}`);
  assert.ok(maxAbsDiff(cpu.student, gpu.student) < 1e-5, `student weights differ by ${maxAbsDiff(cpu.student, gpu.student)}`);
  assert.ok(maxAbsDiff(cpu.fake, gpu.fake) < 1e-5, `fake-score weights differ by ${maxAbsDiff(cpu.fake, gpu.fake)}`);
});

webgpuTest('webgpu leak: the tensor count stays flat over 100 iterations', async () => {
  const exe = await openExecutor(buildIR(dmdStep, SMALL), 5, 'webgpu');
  const iteration = async () => {
    for (const u of exe.plan.updates) for (let r = 0; r < u.ratio; r++) await exe.updateAsync(u);
  };
  await iteration();
  const before = exe.backend.memory();
  for (let i = 0; i < 100; i++) await iteration();
  const after = exe.backend.memory();
  assert.equal(after.tensors, before.tensors, `tensors ${before.tensors} → ${after.tensors}`);
  assert.equal(after.bytes, before.bytes, `bytes ${before.bytes} → ${after.bytes}`);
  exe.dispose();
});

webgpuTest('webgpu: a pipeline whose ops read back mid-graph is refused up front, naming the nodes', async () => {
  const { PIPELINES } = await import('../../pipelines/index.ts');
  await assert.rejects(openExecutor(buildIR(PIPELINES.dmmd!, { batch: 8 }), 0, 'webgpu'), (e: Error) => {
    assert.match(e.message, /reads tensors back only asynchronously here, and pipeline 'dmmd' has \d+ node\(s\) that read back/);
    assert.match(e.message, /categorical|mask_posterior|mask_diffuse/);
    assert.match(e.message, /\.ts:\d+/, 'with file:line');
    return true;
  });
});

webgpuTest('webgpu: the deferred loop (its default) trains as the per-update loop, reads once per interval, leaks nothing', async () => {
  const { lastValueFrom } = await import('rxjs');
  const { train, DEFAULT_READ_EVERY } = await import('../../runtime/train.ts');
  const ir = buildIR(dmdStep, SMALL);
  const steps = 20;
  const runs: { student: Float32Array; reads: number; tensors: [number, number]; bytes: [number, number] }[] = [];
  for (const deferReads of [false, true]) {
    const exe = await openExecutor(ir, 5, 'webgpu', { deferReads });
    assert.equal(exe.deferred, deferReads);
    await lastValueFrom(train(exe, 2, undefined, 0, { warmup: false }));
    const before = exe.backend.memory();
    const reads = exe.hostReads;
    await lastValueFrom(train(exe, steps, undefined, 0, { warmup: false }));
    const after = exe.backend.memory();
    const student = Float32Array.from(Object.values(await exe.hostWeightsAsync('student')).flatMap((h) => Array.from(h.data)));
    runs.push({ student, reads: exe.hostReads - reads, tensors: [before.tensors, after.tensors], bytes: [before.bytes, after.bytes] });
    exe.dispose();
  }
  const [perUpdate, deferred] = runs as [(typeof runs)[0], (typeof runs)[0]];
  assert.equal(deferred.reads, Math.ceil(steps / DEFAULT_READ_EVERY), `deferred: ${deferred.reads} reads in ${steps} steps`);
  assert.ok(perUpdate.reads >= steps * 6, `per-update: ${perUpdate.reads} reads`);
  assert.ok(maxAbsDiff(perUpdate.student, deferred.student) < 1e-5, `student weights differ by ${maxAbsDiff(perUpdate.student, deferred.student)}`);
  for (const r of runs) {
    assert.equal(r.tensors[1], r.tensors[0], `tensors ${r.tensors}`);
    assert.equal(r.bytes[1], r.bytes[0], `bytes ${r.bytes}`);
  }
});
