import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cli, oneCleanError } from '../cli-helpers.ts';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'distillery-cli-'));

test('bad input: unknown pipeline, --steps -3, --backend nope — one clear line, nothing written', () => {
  const out = path.join(tmp(), 'run');
  oneCleanError(cli('run', 'nope-pipeline', '--out', out), /unknown pipeline 'nope-pipeline'/);
  oneCleanError(cli('run', 'dmd2-ring', '--steps', '-3', '--out', out), /--steps must be an integer ≥ 1, got '-3'/);
  oneCleanError(cli('run', 'dmd2-ring', '--backend', 'nope', '--out', out), /unknown backend 'nope'/);
  assert.equal(fs.existsSync(out), false);
});

test('bad input: an unreadable --out', () => {
  const d = tmp();
  const file = path.join(d, 'a-file');
  fs.writeFileSync(file, 'x');
  oneCleanError(cli('run', 'tests/fixtures/tiny.ts', '--steps', '1', '--out', path.join(file, 'sub')), /cannot write to --out/);
  assert.deepEqual(fs.readdirSync(d), ['a-file']);
});

test('bad input: a pipeline file with a type error is refused at its file:line', () => {
  const out = path.join(tmp(), 'run');
  const r = cli('run', 'tests/fixtures/type-error.ts', '--out', out);
  oneCleanError(r, /tests\/fixtures\/type-error\.ts:6:\d+: .*frozen/s);
  assert.equal(fs.existsSync(out), false);
  const c = cli('check', 'tests/fixtures/type-error.ts');
  assert.notEqual(c.status, 0);
  assert.match(c.stderr, /type-error\.ts:6:/);
});

test('a shape error in a user file names its file:line', () => {
  oneCleanError(cli('compile', 'tests/fixtures/bad-shape.ts'), /shape_mismatch at .*tests\/fixtures\/bad-shape\.ts:6\)/);
});

test('run a user pipeline file end to end; compile --emit ir|plan; the saved IR runs the same', () => {
  const d = tmp();
  const a = cli('run', 'tests/fixtures/tiny.ts', '--steps', '3', '--out', path.join(d, 'a'), '--quiet');
  assert.equal(a.status, 0, a.stderr);
  for (const f of ['summary.json', 'metrics.arrow', 'samples.arrow', 'samples.png', 'ir.json', 'plan.txt', 'weights/student.safetensors'])
    assert.ok(fs.existsSync(path.join(d, 'a', f)), f);
  const s = JSON.parse(fs.readFileSync(path.join(d, 'a', 'summary.json'), 'utf8'));
  for (const k of ['headline', 'energyDistance', 'studentSteps', 'beatsTeacherEulerSteps', 'beatsTeacherHeunSteps', 'teacherEnergyDistanceByNfe', 'gaussianBaselineEnergyDistance', 'modesCovered', 'modesTotal', 'offModeFraction', 'minModeMassRatio', 'maxModeMassRatio', 'modesWithinFactor2', 'modeShares', 'modeWeights', 'teacherPicture'])
    assert.ok(k in s.metrics, k);
  assert.equal(s.metrics.studentSteps, 1);
  assert.equal(s.metrics.modeShares.length, s.metrics.modesTotal);
  assert.ok(a.stdout.includes(s.metrics.headline), 'run prints the headline');
  assert.ok(fs.existsSync(path.join(d, 'a', 'teacher-samples.png')));
  const b = cli('run', path.join(d, 'a', 'ir.json'), '--out', path.join(d, 'b'), '--quiet');
  assert.equal(b.status, 0, b.stderr);
  const s2 = JSON.parse(fs.readFileSync(path.join(d, 'b', 'summary.json'), 'utf8'));
  assert.deepEqual(s2.metrics, s.metrics);
  assert.match(cli('compile', 'dmd2-ring', '--emit', 'plan').stdout, /update fake ×5[\s\S]*grads d%v\d+\/d\(fake\)/);
  assert.match(cli('compile', 'tests/fixtures/tiny.ts', '--emit', 'ir').stdout, /call\[model=student\]/);
});

test('the tensorflow backend, when its package is absent, says which package and why', () => {
  const r = cli('run', 'tests/fixtures/tiny.ts', '--steps', '1', '--backend', 'tensorflow', '--out', path.join(tmp(), 'x'));
  if (r.status === 0) return; // installed here: nothing to check
  oneCleanError(r, /@tensorflow\/tfjs-node.*downloads/s);
});

test('bad input: diagnostics and benches name what is wrong', () => {
  const out = path.join(tmp(), 'run');
  oneCleanError(cli('run', 'dmd2-ring', '--diagnose', 'nope', '--out', out), /unknown diagnostic 'nope'; choose copying/);
  // tiny.ts declares no noise in g.evaluate: the copying diagnostic cannot run, and says why
  oneCleanError(cli('run', 'tests/fixtures/tiny.ts', '--steps', '1', '--diagnose', 'copying', '--out', out), /--diagnose copying: .*(teacher|noise)/);
  oneCleanError(cli('bench', 'nope'), /unknown bench 'nope'/);
  oneCleanError(cli('bench', 'forbidden-zone', '--dims', '2,4'), /--dims applies to the copying bench/);
  oneCleanError(cli('bench', 'copying', '--dims', '2,x'), /--dims must be positive integers/);
  oneCleanError(cli('bench', 'copying', '--arms', 'f2-teacher-init,nope', '--out', out), /unknown copying arm\(s\) nope; choose from .*f2-mlp-teacher/);
  oneCleanError(cli('bench', 'dmmd', '--steps', '10'), /--steps applies to the copying and forbidden-zone benches/);
  oneCleanError(cli('bench', 'copying', '--first-seed', '2'), /--first-seed applies to the forbidden-zone bench/);
  oneCleanError(cli('bench', 'dmd2', '--set', 'tc=0.9'), /--set applies to the forbidden-zone bench, not 'dmd2'/);
  oneCleanError(cli('bench', 'forbidden-zone', '--arms', 'dmd2', '--set', 'method=dmd', '--out', out), /--set method: arm 'dmd2' sets 'method' itself/);
  oneCleanError(cli('bench', 'forbidden-zone', '--arms', 'dmd2', '--set', 'tc=2', '--out', out), /option 'tc' must be a number ≥ 0 and ≤ 1, got 2/);
  oneCleanError(cli('bench', 'forbidden-zone', '--set', 'tcc=1', '--out', out), /pipeline 'forbidden-zone' has no option 'tcc'/);
  oneCleanError(cli('bench', 'forbidden-zone', '--arms', 'dmd2', '--set', 'init=random', '--out', out), /--set init: every arm starts from the seed's shared trapped student/);
  oneCleanError(cli('run', 'copying', '--set', 'teacher=mlp', '--steps', '1', '--out', out), /teacher 'mlp' needs teacherWeights/);
  oneCleanError(cli('bench', 'forbidden-zone', '--toys', 'ring'), /--toys applies to the dmd2 bench/);
  oneCleanError(cli('bench', 'forbidden-zone', '--arms', 'dmd2,nope', '--out', out), /unknown forbidden-zone arm 'nope'; choose from dmd, dmd2/);
  oneCleanError(cli('bench', 'copying', '--ks', '4'), /--ks and --teachers-from apply to the dmmd bench/);
  oneCleanError(cli('bench', 'dmmd', '--ks', '0,4'), /--ks must be step counts from 1 to 64/);
  oneCleanError(cli('bench', 'dmmd', '--arms', 'noise,loud'), /unknown dmmd arm 'loud'; choose noise, no-noise/);
  assert.equal(fs.existsSync(out), false);
});

test('--diagnose copying writes the copying metrics of a run', () => {
  const out = path.join(tmp(), 'run');
  const r = cli('run', 'dmd-ring', '--steps', '20', '--diagnose', 'copying', '--quiet', '--out', out);
  assert.equal(r.status, 0, r.stderr);
  const s = JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8'));
  const c = s.metrics.copying;
  for (const k of ['copyingScore', 'dCopy', 'dNoise', 'modeAgreement']) assert.ok(Number.isFinite(c[k]), k);
  assert.ok(c.copyingScore >= 0 && c.copyingScore <= 1);
});
