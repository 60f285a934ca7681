/** The PyTorch target: tables tsc checks, the package, parity with the native run (one process and DDP), a user's own
 * model under torchrun, an exported run evaluated by distillery, and bad input. Tests that need torch are skipped with
 * the reason where it is absent — except in CI, where .ci/run installs it and they must run. */
import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cli, oneCleanError } from '../cli-helpers.ts';
import ts from 'typescript';
import { buildIR } from '../../dsl/pipeline.ts';
import { PIPELINES } from '../../pipelines/index.ts';
import { torchPackage } from '../../export/torch/package.ts';
import { TORCH_LOWERINGS } from '../../export/torch/lowerings.ts';
import { UserError } from '../../dsl/errors.ts';
import { parity } from '../../cli/parity.ts';
import { NO_TORCH, runTrain, torchPython } from '../../cli/python.ts';
import { decodeSafetensors } from '../../runtime/safetensors.ts';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'distillery-export-'));

/** a test that needs PyTorch: skipped with the reason where it is missing, failed in CI */
function needsTorch(t: TestContext): boolean {
  if (torchPython()) return true;
  if (process.env.CI) throw new Error(NO_TORCH);
  t.skip(`torch unavailable here: ${NO_TORCH}`);
  return false;
}

test('a target table that misses an op kind fails tsc (both targets)', () => {
  const file = path.resolve('tests/fixtures/missing-lowering.ts');
  const cfg = ts.getParsedCommandLineOfConfigFile(path.resolve('tsconfig.json'), {}, { ...ts.sys, onUnRecoverableConfigFileDiagnostic: () => {} })!;
  const program = ts.createProgram([file], cfg.options);
  const errors = ts.getPreEmitDiagnostics(program).filter((d) => d.file?.fileName === file).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
  assert.ok(errors.some((e) => /Property 'softmax' is missing/.test(e)), errors.join('\n'));
  assert.ok(errors.some((e) => /Property 'log_softmax' is missing/.test(e)), errors.join('\n'));
});

test('an op the torch target marks unsupported is refused with the reason and the node’s file:line', () => {
  const ir = buildIR(PIPELINES['dmd2-ring']!);
  const table = { ...TORCH_LOWERINGS, nan_to_num: { unsupported: 'no such op in this test' } };
  assert.throws(() => torchPackage(ir, { table }), (e: Error) => e instanceof UserError && /cannot run %v\d+ = nan_to_num \([^)]*\.ts:\d+\): no such op in this test/.test(e.message));
});

test('bad input: an unknown --to, an unsupported target — one clear line, nothing written', () => {
  const out = path.join(tmp(), 'pkg');
  oneCleanError(cli('export', 'dmd2-ring', '--to', 'jax', '--out', out), /unknown --to 'jax'; choose torch/);
  oneCleanError(cli('export', 'nope', '--out', out), /unknown pipeline 'nope'/);
  assert.equal(fs.existsSync(out), false);
});

test('every built-in pipeline exports: graph.py compiles in Python and names each update', (t) => {
  if (!needsTorch(t)) return;
  for (const [name, def] of Object.entries(PIPELINES)) {
    const files = torchPackage(buildIR(def));
    const dir = tmp();
    fs.writeFileSync(path.join(dir, 'graph.py'), files['graph.py']!);
    const r = spawnSync(torchPython()!, ['-m', 'py_compile', path.join(dir, 'graph.py')], { encoding: 'utf8' });
    assert.equal(r.status, 0, `${name}: ${r.stderr}`);
    assert.match(files['graph.py']!, /def update_0\(m, rt\):/);
  }
});

test('parity dmd2-ring: 30 updates within tolerance, and 2 DDP ranks equal one process', async (t) => {
  if (!needsTorch(t)) return;
  const r = await parity(buildIR(PIPELINES['dmd2-ring']!), { updates: 30, ranks: 2, seed: 1, warmup: 2 });
  for (const x of r.roles) {
    assert.ok(x.worstLoss <= x.lossTolerance, `${x.role} loss ${x.worstLoss}`);
    assert.ok(x.weights <= 1e-4, `${x.role} weights ${x.weights}`);
  }
  assert.ok(r.ddp && r.ddp.worstLoss <= 1e-5 && r.ddp.worstWeights <= 1e-5, JSON.stringify(r.ddp));
  assert.equal(r.pass, true);
});

test('parity dmd2-ring with the student’s EMA on: the EMA weights agree too, and 2 DDP ranks equal one process', async (t) => {
  if (!needsTorch(t)) return;
  // the first 20 updates of the test above (the EMA changes no loss): 3 of them the student's
  const r = await parity(buildIR(PIPELINES['dmd2-ring']!, { ema: 0.9 }), { updates: 20, ranks: 2, seed: 1, warmup: 2 });
  const student = r.roles.find((x) => x.role === 'student')!;
  assert.equal(student.updates, 3);
  assert.ok(student.ema !== undefined && student.ema <= 1e-4, `student EMA ${student.ema}`);
  assert.equal(r.roles.find((x) => x.role === 'fake')!.ema, undefined, 'the fake score keeps no EMA');
  assert.equal(r.pass, true, JSON.stringify({ roles: r.roles, ddp: r.ddp }));
});

test('parity dmd2-ring with the GAN head and a 4-step student (backward simulation, Fourier features along 4 directions), 2 DDP ranks', async (t) => {
  if (!needsTorch(t)) return;
  // ratio 2 and 20 updates: the student's own update (after the warm-ups and two fake and head updates) runs twice
  const ir = buildIR(PIPELINES['dmd2-ring']!, { batch: 64, studentSteps: 4, studentPrefit: 5, ganGenerator: 0.1, ratio: 2, fourierDirections: 4 });
  const r = await parity(ir, { updates: 20, ranks: 2, seed: 1, warmup: 2 });
  assert.deepEqual(r.roles.map((x) => x.role).sort(), ['fake', 'head', 'student']);
  assert.ok(r.roles.find((x) => x.role === 'student')!.updates >= 3, JSON.stringify(r.roles));
  assert.equal(r.pass, true, JSON.stringify({ roles: r.roles, ddp: r.ddp }));
});

test('parity dmd2-ring with decaying learning rates and the batch normaliser: the same steps’ rates, 2 DDP ranks', async (t) => {
  if (!needsTorch(t)) return;
  // 20 updates: 2 warm-up, then 3 steps of 6 updates; a linear decay over the 4 steps changes every rate of steps 1–3;
  // the normaliser over the whole batch mixes rows, so each rank gathers the batch for it
  const ir = buildIR(PIPELINES['dmd2-ring']!, { batch: 64, steps: 4, lrDecay: 'linear', lrDecayStart: 0, lrFinal: 0.1, normalizer: 'batch' });
  const r = await parity(ir, { updates: 20, ranks: 2, seed: 1, warmup: 2 });
  assert.ok(r.ddp && r.ddp.worstLoss <= 1e-5 && r.ddp.worstWeights <= 1e-5, JSON.stringify(r.ddp));
  assert.equal(r.pass, true, JSON.stringify({ roles: r.roles, ddp: r.ddp }));
});

test('parity forbidden-zone (its group advantage mixes batch rows): 2 DDP ranks equal one process', async (t) => {
  if (!needsTorch(t)) return;
  const r = await parity(buildIR(PIPELINES['forbidden-zone']!), { updates: 12, ranks: 2, seed: 1, warmup: 2 });
  assert.equal(r.pass, true, JSON.stringify({ roles: r.roles, ddp: r.ddp }));
});

test('the parity comparison can fail: a package whose Adam steps 1% too far ends with other weights', async (t) => {
  if (!needsTorch(t)) return;
  const dir = tmp();
  const r = await parity(buildIR(PIPELINES['dmd2-ring']!, { batch: 64 }), { updates: 4, ranks: 1, seed: 1, warmup: 2, keepDir: dir });
  assert.equal(r.pass, true);
  const pkg = path.join(dir, 'package');
  const good = fs.readFileSync(path.join(pkg, 'runtime.py'), 'utf8');
  const rt = good.replace('value=-lr / c1', 'value=-1.01 * lr / c1');
  assert.notEqual(rt, good, 'the Adam step was found and changed');
  fs.writeFileSync(path.join(pkg, 'runtime.py'), rt);
  const out = path.join(dir, 'bad');
  const res = runTrain(pkg, ['--out', out, '--replay', path.join(dir, 'draws.safetensors'), '--updates', '4', '--quiet']);
  assert.equal(res.status, 0, res.output);
  assert.notDeepEqual(fs.readFileSync(path.join(out, 'weights', 'fake.safetensors')), fs.readFileSync(path.join(dir, 'torch-1', 'weights', 'fake.safetensors')));
});

test('a user model replaces the student through --model and trains 100 steps under 2 ranks; bad factories are one line', (t) => {
  if (!needsTorch(t)) return;
  const dir = tmp();
  const pkg = path.join(dir, 'pkg');
  const r = cli('export', 'dmd2-ring', '--out', pkg, '--batch', '32', '--set', 'fakeWarmup=5', '--set', 'ratio=2');
  assert.equal(r.status, 0, r.stderr);
  fs.copyFileSync('tests/fixtures/user_models.py', path.join(pkg, 'user_models.py'));
  const out = path.join(dir, 'run');
  const run = runTrain(pkg, ['--out', out, '--steps', '100', '--model', 'student=user_models:residual_mlp', '--quiet'], { ranks: 2 });
  assert.equal(run.status, 0, run.output);
  const rows = fs.readFileSync(path.join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(rows.length, 100);
  assert.ok(rows.every((x) => Number.isFinite(x['loss.student'])));
  const st = fs.readFileSync(path.join(out, 'weights', 'student.safetensors'));
  assert.match(st.subarray(8, 8 + Number(st.readBigUInt64LE(0))).toString(), /"inp\.weight"/);

  const missing = runTrain(pkg, ['--out', path.join(dir, 'x'), '--steps', '1', '--model', 'student=user_models:nope']);
  assert.equal(missing.status, 1);
  assert.match(missing.output.trim(), /^train\.py: error: --model student 'user_models:nope': module 'user_models' has no factory 'nope'$/m);
  const shape = runTrain(pkg, ['--out', path.join(dir, 'x'), '--steps', '1', '--model', 'student=user_models:wrong_shape']);
  assert.equal(shape.status, 1);
  assert.match(shape.output, /train\.py: error: --model student: returns \[2, 3\] for a batch of 2, the role needs \[2, 2\]/);
  assert.equal(fs.existsSync(path.join(dir, 'x', 'weights')), false);
});

test('a batch-mixing op with no gather rule is refused under 2 ranks with its node and file:line', (t) => {
  if (!needsTorch(t)) return;
  const dir = tmp();
  const pkg = path.join(dir, 'pkg');
  assert.equal(cli('export', 'tests/fixtures/shuffle.ts', '--out', pkg).status, 0);
  const r = runTrain(pkg, ['--out', path.join(dir, 'run'), '--steps', '1'], { ranks: 2 });
  assert.notEqual(r.status, 0);
  assert.match(r.output, /train\.py: error: this pipeline cannot be split over 2 ranks: %v\d+ = shuffle \(.*tests\/fixtures\/shuffle\.ts:\d+\): it permutes the whole batch from one stream, and has no gather rule across ranks/);
  // one process runs it
  const one = runTrain(pkg, ['--out', path.join(dir, 'run'), '--steps', '2', '--quiet']);
  assert.equal(one.status, 0, one.output);
});

test('an exported run, resumed from its checkpoint, lands in a run folder distillery evaluates like its own', (t) => {
  if (!needsTorch(t)) return;
  const dir = tmp();
  const pkg = path.join(dir, 'pkg');
  assert.equal(cli('export', 'dmd2-ring', '--out', pkg, '--batch', '64', '--set', 'fakeWarmup=4', '--set', 'evalEvery=3').status, 0);
  const full = path.join(dir, 'full');
  const part = path.join(dir, 'part');
  assert.equal(runTrain(pkg, ['--out', full, '--steps', '6', '--quiet']).status, 0);
  assert.equal(runTrain(pkg, ['--out', part, '--steps', '6', '--checkpoint-every', '3', '--updates', '22', '--quiet']).status, 0);
  // --updates 22 stops inside step 4: resume from the step-3 checkpoint and finish
  const resumed = runTrain(pkg, ['--out', part, '--steps', '6', '--resume', part, '--quiet']);
  assert.equal(resumed.status, 0, resumed.output);
  for (const role of ['student', 'fake'])
    assert.deepEqual(fs.readFileSync(path.join(part, 'weights', `${role}.safetensors`)), fs.readFileSync(path.join(full, 'weights', `${role}.safetensors`)), `${role}: resume is exact`);
  const r = cli('evaluate', full, '--diagnose', 'copying');
  assert.equal(r.status, 0, r.stderr);
  const s = JSON.parse(fs.readFileSync(path.join(full, 'summary.json'), 'utf8'));
  assert.equal(typeof s.metrics.energyDistance, 'number');
  // the copying diagnostic on an exported run's weights, as `distillery run --diagnose copying` measures a native run
  assert.equal(typeof s.metrics.copying.dCopy, 'number');
  assert.equal(typeof s.metrics.copying.modeAgreement, 'number');
  // evaluated along the way, as a native run is: the weights saved at step 3, and the final ones
  assert.deepEqual(s.energyDistanceByStep.map((x: { step: number }) => x.step), [3, 6]);
  assert.ok(s.metrics.teacherEnergyDistanceByNfe);
  assert.equal(typeof s.metrics.headline, 'string');
  assert.ok('beatsTeacherEulerSteps' in s.metrics && Array.isArray(s.metrics.modeShares));
  for (const f of ['report.html', 'metrics.arrow', 'samples.png', 'teacher-samples.png', 'plots/mode-mass.png']) assert.ok(fs.existsSync(path.join(full, f)), f);
});

test('an exported run with the student’s EMA: checkpoints carry it, resume is exact, and evaluation reads the EMA', (t) => {
  if (!needsTorch(t)) return;
  const dir = tmp();
  const pkg = path.join(dir, 'pkg');
  assert.equal(cli('export', 'dmd2-ring', '--out', pkg, '--batch', '64', '--set', 'fakeWarmup=4', '--set', 'evalEvery=3', '--set', 'ratio=1', '--set', 'ema=0.9').status, 0);
  assert.match(fs.readFileSync(path.join(pkg, 'graph.py'), 'utf8'), /^EMA = \{"student": 0\.9\}$/m);
  const full = path.join(dir, 'full');
  const part = path.join(dir, 'part');
  assert.equal(runTrain(pkg, ['--out', full, '--steps', '6', '--quiet']).status, 0);
  // 4 warm-up updates and 2 per step: --updates 11 stops inside step 4; resume from the step-3 checkpoint
  assert.equal(runTrain(pkg, ['--out', part, '--steps', '6', '--checkpoint-every', '3', '--updates', '11', '--quiet']).status, 0);
  const cp = path.join(part, 'checkpoints', 'step-00000003');
  const read = (f: string) => decodeSafetensors(fs.readFileSync(f)).tensors;
  const ema3 = read(path.join(cp, 'ema.safetensors'));
  assert.deepEqual(Object.keys(ema3).sort(), Object.keys(read(path.join(cp, 'weights.safetensors'))).filter((k) => k.startsWith('student/')).sort());
  // the weights saved for evaluation at step 3 are the EMA
  assert.deepEqual(read(path.join(full, 'evals', 'step-00000003.safetensors'))['student/l0.weight'], ema3['student/l0.weight']);
  const resumed = runTrain(pkg, ['--out', part, '--steps', '6', '--resume', part, '--quiet']);
  assert.equal(resumed.status, 0, resumed.output);
  for (const f of ['student.safetensors', 'student.raw.safetensors', 'fake.safetensors'])
    assert.deepEqual(fs.readFileSync(path.join(part, 'weights', f)), fs.readFileSync(path.join(full, 'weights', f)), `${f}: resume is exact`);
  assert.equal(fs.existsSync(path.join(full, 'weights', 'fake.raw.safetensors')), false);
  assert.notDeepEqual(read(path.join(full, 'weights', 'student.safetensors')), read(path.join(full, 'weights', 'student.raw.safetensors')));
  const r = cli('evaluate', full);
  assert.equal(r.status, 0, r.stderr);
  const s = JSON.parse(fs.readFileSync(path.join(full, 'summary.json'), 'utf8'));
  assert.deepEqual(s.energyDistanceByStep.map((x: { step: number }) => x.step), [3, 6]);
});

test('--data replaces the datasets: a denoiser trained on the user’s points learns them', (t) => {
  if (!needsTorch(t)) return;
  const dir = tmp();
  const pkg = path.join(dir, 'pkg');
  assert.equal(cli('export', 'dsm-ring', '--out', pkg, '--batch', '64').status, 0);
  fs.copyFileSync('tests/fixtures/user_data.py', path.join(pkg, 'user_data.py'));
  const run = (extra: string[]) => runTrain(pkg, ['--out', path.join(dir, 'run'), '--steps', '300', '--quiet', ...extra], { threads: 2 });
  const r = run(['--data', 'user_data:shifted']);
  assert.equal(r.status, 0, r.output);
  const rows = fs.readFileSync(path.join(dir, 'run', 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
  // the first loss, a mean over coordinates of (D(x_t) − x0)², is ≈ 3² = 9 for the user's points (the ring's would be
  // ≈ 2), and denoising N(3, 0.1²) is easy once learned: the loss falls well below its start
  assert.ok(rows[0]['loss.teacher'] > 5, `first loss ${rows[0]['loss.teacher']}`);
  assert.ok(rows.at(-1)['loss.teacher'] < 0.5 * rows[0]['loss.teacher'], `${rows[0]['loss.teacher']} → ${rows.at(-1)['loss.teacher']}`);
  const bad = run(['--data', 'user_data']);
  assert.equal(bad.status, 1);
  assert.match(bad.output, /^train\.py: error: --data 'user_data' must be module:factory$/m);
});

test('parity on a GAN written with softplus and logSigmoid (tests/fixtures/gan.ts), 2 DDP ranks included', async (t) => {
  if (!needsTorch(t)) return;
  const { loadPipelineFile } = await import('../../cli/load.ts');
  const r = await parity(buildIR(await loadPipelineFile('tests/fixtures/gan.ts')), { updates: 12, ranks: 2, seed: 1, warmup: 2 });
  assert.equal(r.pass, true, JSON.stringify({ roles: r.roles, ddp: r.ddp }));
});

test("parity on DMD2's GAN head: a classifier on the fake score's 'features' output (tests/fixtures/gan-head.ts), 2 DDP ranks", async (t) => {
  if (!needsTorch(t)) return;
  const { loadPipelineFile } = await import('../../cli/load.ts');
  const r = await parity(buildIR(await loadPipelineFile('tests/fixtures/gan-head.ts')), { updates: 12, ranks: 2, seed: 1, warmup: 2 });
  assert.equal(r.pass, true, JSON.stringify({ roles: r.roles, ddp: r.ddp }));
});

test('a parameter the loss does not reach stays put in both targets (a net trained through its features only)', async (t) => {
  if (!needsTorch(t)) return;
  const { loadPipelineFile } = await import('../../cli/load.ts');
  const dir = tmp();
  const r = await parity(buildIR(await loadPipelineFile('tests/fixtures/features-only.ts')), { updates: 3, ranks: 1, seed: 1, warmup: 2, keepDir: dir });
  assert.equal(r.pass, true, JSON.stringify(r.roles));
  const init = decodeSafetensors(fs.readFileSync(path.join(dir, 'package', 'init.safetensors'))).tensors;
  const end = decodeSafetensors(fs.readFileSync(path.join(dir, 'torch-1', 'weights', 'net.safetensors'))).tensors;
  assert.deepEqual(Array.from(end['l2.weight']!.data), Array.from(init['net/l2.weight']!.data));
  assert.notDeepEqual(Array.from(end['l1.weight']!.data), Array.from(init['net/l1.weight']!.data));
});
