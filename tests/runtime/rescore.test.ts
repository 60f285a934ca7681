import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { buildIR } from '../../dsl/pipeline.ts';
import { PIPELINES } from '../../pipelines/index.ts';
import { runIR } from '../../runtime/run.ts';
import { rescoreRun } from '../../runtime/rescore.ts';
import { UserError } from '../../dsl/errors.ts';

// a few steps of dmd2-ring with an EMA: the run evaluates the EMA, and so must the measurement made again
const ir = () => buildIR(PIPELINES['dmd2-ring']!, { batch: 32, steps: 6, evalEvery: 3, fakeWarmup: 2, hidden: 16, ema: 0.9 });

test("evaluate --out: a finished run's weights measured again; the same sample count gives the run's own numbers", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'distillery-rescore-'));
  const run = path.join(dir, 'run');
  const summary = await runIR(ir(), { seed: 3, backend: 'cpu', out: run, quiet: true, evalSamples: 256, evalWorker: false });
  const before = fs.readdirSync(run).sort();
  const again = await rescoreRun(run, { out: path.join(dir, 'same'), evalSamples: 256, backend: 'cpu' });
  const m = summary.metrics as Record<string, unknown>;
  const a = again.metrics as Record<string, unknown>;
  for (const k of ['energyDistance', 'massEnergyDistance', 'exactSamplesEnergyDistance', 'offModeFraction', 'modeShares', 'teacherEnergyDistanceByNfe', 'headline']) assert.deepEqual(a[k], m[k], k);
  assert.equal(a.evalSamples, 256);
  assert.deepEqual(fs.readdirSync(run).sort(), before, 'the run folder is not touched');
  // more samples: another estimate, the sample count recorded
  const more = await rescoreRun(run, { out: path.join(dir, 'more'), evalSamples: 512, backend: 'cpu' });
  assert.equal((more.metrics as Record<string, unknown>).evalSamples, 512);
  assert.notEqual((more.metrics as Record<string, unknown>).energyDistance, m.energyDistance);
  assert.ok(['samples.png', 'report.html', 'metrics.arrow', 'plan.txt'].every((f) => fs.existsSync(path.join(dir, 'more', f))), 'a whole run folder');
  // the run's own folder as --out, or a folder that is no run: one clear error, nothing written
  await assert.rejects(rescoreRun(run, { out: run, evalSamples: 256, backend: 'cpu' }), (e: Error) => e instanceof UserError && /another folder/.test(e.message));
  await assert.rejects(rescoreRun(dir, { out: path.join(dir, 'x'), evalSamples: 256, backend: 'cpu' }), (e: Error) => e instanceof UserError && /summary\.json is missing/.test(e.message));
  assert.ok(!fs.existsSync(path.join(dir, 'x')));
});
