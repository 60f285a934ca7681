/** The non-finite guard: a NaN in a gradient skips that update (weights and Adam state untouched), is counted with
 * its role and step, and too many in a row stop the run with the last good checkpoint named and intact. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildIR } from '../../dsl/pipeline.ts';
import { PIPELINES } from '../../pipelines/index.ts';
import { runIR } from '../../runtime/run.ts';
import { loadSafetensors } from '../../runtime/safetensors.ts';
import { listCheckpoints, loadCheckpoint } from '../../runtime/checkpoint.ts';
import { readMetrics } from '../../runtime/report/report.ts';
import { UserError } from '../../dsl/errors.ts';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'distillery-nan-'));
const ir = () => buildIR(PIPELINES['dmd2-ring']!, { batch: 32, steps: 12, evalEvery: 0, fakeWarmup: 2 });
const finite = (w: Record<string, { data: Float32Array }>) => Object.values(w).every((t) => t.data.every(Number.isFinite));

test('one NaN gradient: that update is skipped, the weights stay finite, the counter shows 1', async () => {
  const out = path.join(tmp(), 'run');
  // the student's 4th update (step 4) gets a NaN in its first gradient
  const s = await runIR(ir(), { seed: 1, backend: 'cpu', out, quiet: true, evalSamples: 256, poisonGradient: (role, n) => role === 'student' && n === 4 });
  assert.deepEqual(s.nonFinite.skipped, { student: 1 });
  assert.deepEqual(s.nonFinite.events, [{ step: 4, role: 'student' }]);
  for (const role of ['student', 'fake']) assert.ok(finite(loadSafetensors(path.join(out, `weights/${role}.safetensors`))), `${role} weights finite`);
  const rows = readMetrics(path.join(out, 'metrics.arrow'));
  assert.equal(rows[2]!['nonFinite.student'] ?? 0, 0);
  assert.equal(rows[3]!['nonFinite.student'], 1);
  assert.ok(!Number.isFinite(rows[3]!['gradNorm.student'] ?? NaN), 'the skipped update logs a non-finite gradient norm');
  assert.ok(rows.slice(4).every((r) => Number.isFinite(r['loss.student']!)), 'training goes on');

  // the skipped update changed nothing: a run whose poisoned update is skipped differs from a clean run only by
  // that one missing student step — so its student weights must differ, and its fake score too (it saw other samples)
  const clean = path.join(tmp(), 'clean');
  await runIR(ir(), { seed: 1, backend: 'cpu', out: clean, quiet: true, evalSamples: 256 });
  const a = loadSafetensors(path.join(out, 'weights/student.safetensors'));
  const b = loadSafetensors(path.join(clean, 'weights/student.safetensors'));
  assert.notDeepEqual(a, b);
});

test('NaN on every update: the run stops after --max-non-finite in a row, names the last good checkpoint, which loads and is finite', async () => {
  const out = path.join(tmp(), 'run');
  await assert.rejects(
    runIR(ir(), { seed: 1, backend: 'cpu', out, quiet: true, evalSamples: 256, checkpointEvery: 3, maxNonFinite: 5, poisonGradient: (role, n) => role === 'student' && n >= 7 }),
    (e: unknown) => {
      assert.ok(e instanceof UserError);
      assert.match(e.message, /^training stopped: 5 non-finite updates in a row \(last one: role 'student'\).*last good checkpoint: .*step-00000009$/);
      return true;
    },
  );
  assert.equal(fs.existsSync(path.join(out, 'summary.json')), false, 'no half-written run folder');
  const cps = listCheckpoints(out);
  assert.equal(path.basename(cps[cps.length - 1]!), 'step-00000009', 'the checkpoint at step 9 holds skipped updates only, and finite weights');
  for (const dir of cps) {
    const c = loadCheckpoint(dir);
    assert.ok(finite(c.exec.weights) && finite(c.exec.optimizer), `${path.basename(dir)} is finite`);
  }
});

test('a skipped update writes nothing: weights and Adam moments are bit-identical before and after it', async () => {
  const { loadBackend } = await import('../../gpu/backend.ts');
  const { compile } = await import('../../dsl/compile/index.ts');
  const { Executor } = await import('../../runtime/executor.ts');
  const { initialWeights } = await import('../../runtime/init.ts');
  const be = await loadBackend('cpu');
  const plan = compile(ir());
  const exe = new Executor(be, plan, 1, initialWeights(plan.ir, 1, () => ({})), { poisonGradient: (_r, n) => n === 2 });
  const u = plan.updates.find((x) => x.role === 'student')!;
  assert.equal(exe.update(u).skipped, false);
  const before = exe.exportState();
  const tensors = be.memory().tensors;
  const res = exe.update(u);
  assert.equal(res.skipped, true);
  assert.ok(Number.isNaN(res.gradNorm));
  const after = exe.exportState();
  assert.deepEqual(after.weights, before.weights);
  assert.deepEqual(after.optimizer, before.optimizer);
  assert.deepEqual(after.counters.adamSteps, before.counters.adamSteps, 'Adam’s step count does not advance');
  assert.equal(be.memory().tensors, tensors, 'no tensor leaks on the skip path');
  assert.equal(exe.update(u).skipped, false);
  assert.notDeepEqual(exe.exportState().weights, before.weights, 'the next update trains again');
  exe.dispose();
});
