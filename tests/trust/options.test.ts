/** Typed pipeline options: --set / --config errors are one clear line naming the key, the value and what is allowed;
 * `schema` prints JSON Schema; --dry-run compiles and writes nothing; a run folder gets a self-contained report. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PIPELINES } from '../../pipelines/index.ts';
import { parseSets, resolveOptions } from '../../dsl/options.ts';

const bin = path.resolve('bin/distillery.mjs');
const cli = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 240_000 });
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'distillery-opt-'));

function oneLine(r: ReturnType<typeof cli>, pattern: RegExp) {
  assert.equal(r.status, 1, r.stderr);
  assert.match(r.stderr, pattern);
  assert.equal(r.stderr.trimEnd().split('\n').length, 1, `one line: ${r.stderr}`);
  assert.doesNotMatch(r.stderr, /\s+at .+:\d+:\d+/);
}

test('--set lr=abc, --set nope=1, --config with a wrong type: one clear line each, exit 1, nothing written', () => {
  const d = tmp();
  const out = path.join(d, 'run');
  oneLine(cli('run', 'dsm-ring', '--set', 'lr=abc', '--out', out), /^distillery: error: --set lr=abc: option 'lr' must be a number > 0, got 'abc'$/m);
  oneLine(cli('run', 'dmd2-ring', '--set', 'nope=1', '--out', out), /--set nope=1: pipeline 'dmd2-ring' has no option 'nope'; its options: batch, steps, evalEvery, hidden/);
  const cfg = path.join(d, 'cfg.json');
  fs.writeFileSync(cfg, JSON.stringify({ hidden: 'wide' }));
  oneLine(cli('run', 'dmd2-ring', '--config', cfg, '--out', out), new RegExp(`${cfg.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: option 'hidden' must be an integer ≥ 1, got "wide" \\(a string\\)$`, 'm'));
  fs.writeFileSync(cfg, '{"hidden": 64,');
  oneLine(cli('run', 'dmd2-ring', '--config', cfg, '--out', out), /--config '.*cfg\.json' is not JSON/);
  oneLine(cli('run', 'forbidden-zone', '--set', 'method=gan', '--out', out), /option 'method' must be one of dmd, dmd2, amd, got "gan"/);
  oneLine(cli('run', 'dmd2-ring', '--set', 'tMax', '--out', out), /--set 'tMax': expected key=value/);
  assert.equal(fs.existsSync(out), false);
});

test('coercion by the schema: numbers, booleans, enums, optional keys; the config file comes before --set', () => {
  const fz = PIPELINES['forbidden-zone']!;
  assert.deepEqual(parseSets(fz.options, ['ratio=3', 'permute=true', 'method=dmd2', 'tau=0.5'], fz.name), { ratio: 3, permute: true, method: 'dmd2', tau: 0.5 });
  assert.throws(() => parseSets(fz.options, ['permute=yes'], fz.name), /option 'permute' must be true or false, got 'yes'/);
  const c = resolveOptions<Record<string, unknown>>(fz.options, { ratio: 3 }, fz.name);
  assert.equal(c.ratio, 3);
  assert.equal(c.batch, 512, 'the pipeline’s own default batch');
  assert.equal(c.tau, undefined);
  const d = tmp();
  const cfg = path.join(d, 'c.json');
  fs.writeFileSync(cfg, JSON.stringify({ hidden: 64, ratio: 2 }));
  const r = cli('run', 'dmd2-ring', '--config', cfg, '--set', 'ratio=3', '--dry-run');
  assert.equal(r.status, 0, r.stderr);
  const resolved = JSON.parse(r.stdout.split('\n')[1]!);
  assert.equal(resolved.hidden, 64);
  assert.equal(resolved.ratio, 3);
  assert.match(r.stdout, /fake×3/);
});

test('`schema` prints the JSON Schema of a pipeline’s options; --dry-run writes nothing', () => {
  const r = cli('schema', 'forbidden-zone');
  assert.equal(r.status, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.equal(j.type, 'object');
  assert.equal(j.additionalProperties, false);
  assert.deepEqual(j.properties.method.enum, ['dmd', 'dmd2', 'amd']);
  assert.equal(j.properties.method.default, 'amd');
  assert.equal(j.properties.batch.default, 512);
  assert.equal(j.properties.batch.type, 'integer');
  assert.ok(j.properties.lrStudent.description.length > 0);
  const out = path.join(tmp(), 'run');
  const dry = cli('run', 'copying', '--set', 'dim=16', '--dry-run', '--out', out);
  assert.equal(dry.status, 0, dry.stderr);
  assert.match(dry.stdout, /^copying: options valid, plan compiled/);
  assert.equal(fs.existsSync(out), false);
});

test('a pipeline file with its own option schema: typed config, --set, schema and errors', () => {
  const file = 'tests/fixtures/typed-options.ts';
  const dry = cli('run', file, '--set', 'method=dmd', '--set', 'hidden=4', '--dry-run');
  assert.equal(dry.status, 0, dry.stderr);
  assert.match(dry.stdout, /fake×1/);
  assert.equal(JSON.parse(dry.stdout.split('\n')[1]!).hidden, 4);
  assert.deepEqual(JSON.parse(cli('schema', file).stdout).properties.method.enum, ['dmd', 'dmd2']);
  oneLine(cli('run', file, '--set', 'method=gan'), /option 'method' must be one of dmd, dmd2, got "gan"/);
});

test('report.html: self-contained, with config, loss curves per role, samples, metrics and plan; `report DIR` rebuilds it; PNG and SVG plots', () => {
  const out = path.join(tmp(), 'run');
  const r = cli('run', 'dmd2-ring', '--steps', '20', '--batch', '32', '--set', 'evalEvery=10', '--set', 'fakeWarmup=2', '--quiet', '--out', out);
  assert.equal(r.status, 0, r.stderr);
  const html = fs.readFileSync(path.join(out, 'report.html'), 'utf8');
  assert.doesNotMatch(html, /<(script|link|img)[^>]+(src|href)="(?!data:)/, 'nothing loaded from outside the file');
  const summary = JSON.parse(fs.readFileSync(path.join(out, 'summary.json'), 'utf8'));
  for (const s of ['Config', 'Loss per role', 'Gradient norm per role', 'Energy distance', 'Mass per mode', 'Samples over the target density', 'teacher, 8-step Euler', 'Summary metrics', 'Plan', 'lrStudent', summary.metrics.headline])
    assert.ok(html.includes(s), `report has ${s}`);
  assert.equal((html.match(/<img /g) ?? []).length, 2, "the student's samples and the teacher's");
  assert.ok((html.match(/<svg/g) ?? []).length >= 4, 'charts inlined as SVG');
  for (const f of ['losses', 'grad-norms', 'energy-distance', 'mode-mass']) {
    const png = fs.readFileSync(path.join(out, `plots/${f}.png`));
    assert.deepEqual([...png.subarray(1, 4)], [...Buffer.from('PNG')]);
    assert.match(fs.readFileSync(path.join(out, `plots/${f}.svg`), 'utf8'), /^<svg/);
  }
  fs.rmSync(path.join(out, 'report.html'));
  fs.rmSync(path.join(out, 'plots'), { recursive: true });
  const rb = cli('report', out);
  assert.equal(rb.status, 0, rb.stderr);
  assert.equal(fs.readFileSync(path.join(out, 'report.html'), 'utf8'), html, 'the rebuilt report equals the original');
  const bad = cli('report', path.join(out, 'weights'));
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /is not a finished run folder: summary\.json is missing/);
});
