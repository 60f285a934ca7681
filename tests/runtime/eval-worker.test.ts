/** Evaluation on a worker thread, beside training: the same summary, metric rows and weights as evaluating in the
 * training thread (its timing changes no number), and the worker's backend memory stays flat over evaluations. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildIR } from '../../dsl/pipeline.ts';
import { PIPELINES } from '../../pipelines/index.ts';
import { runIR } from '../../runtime/run.ts';
import { readMetrics } from '../../runtime/report/report.ts';
import { startEvalWorker } from '../../runtime/eval-worker/host.ts';
import { openExecutor } from '../../runtime/open.ts';

const ir = () => buildIR(PIPELINES['dmd2-ring']!, { batch: 32, steps: 60, evalEvery: 20, fakeWarmup: 3 });
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'distillery-evalworker-'));

test('evaluation in a worker thread: the same summary, metric rows and weights as in the training thread', { timeout: 300_000 }, async () => {
  const runs = [];
  for (const evalWorker of [false, true]) {
    const out = path.join(tmp, `worker-${evalWorker}`);
    const summary = await runIR(ir(), { seed: 2, backend: 'wasm', out, quiet: true, evalSamples: 1024, evalWorker });
    runs.push({ out, summary, rows: readMetrics(path.join(out, 'metrics.arrow')) });
  }
  const [here, away] = runs as [(typeof runs)[0], (typeof runs)[0]];
  assert.deepEqual(away.summary.metrics, here.summary.metrics);
  assert.deepEqual(away.summary.energyDistanceByStep, here.summary.energyDistanceByStep);
  assert.equal(away.summary.energyDistanceByStep.length, 3);
  assert.equal(away.rows.length, here.rows.length);
  here.rows.forEach((r, i) => {
    for (const k of Object.keys(r)) if (k !== 'wallSeconds') assert.equal(away.rows[i]![k], r[k], `step ${i + 1} ${k}`);
  });
  for (const role of ['student', 'fake']) assert.deepEqual(fs.readFileSync(path.join(away.out, `weights/${role}.safetensors`)), fs.readFileSync(path.join(here.out, `weights/${role}.safetensors`)));
  assert.deepEqual(fs.readFileSync(path.join(away.out, 'samples.arrow')), fs.readFileSync(path.join(here.out, 'samples.arrow')));
});

test('the evaluation worker leaks nothing: its tensors and bytes stay flat over evaluations', { timeout: 120_000 }, async () => {
  const g = ir();
  const exe = await openExecutor(g, 1, 'wasm');
  const weights = { student: exe.hostWeights('student', 'eval'), fake: exe.hostWeights('fake', 'eval') };
  exe.dispose();
  const w = await startEvalWorker({ ir: g, seed: 1, backend: 'wasm', evalSamples: 512 });
  try {
    const first = await w.evaluate(1, weights);
    const after1 = w.memory()!;
    for (let i = 2; i <= 6; i++) assert.deepEqual((await w.evaluate(i, weights)).metrics, first.metrics, 'the same weights give the same metrics');
    assert.deepEqual(w.memory(), after1, `worker memory ${JSON.stringify(after1)} → ${JSON.stringify(w.memory())}`);
    await assert.rejects(w.evaluate(7, { student: {} }), /evaluation worker: .*missing tensor/);
  } finally {
    await w.close();
  }
});
