import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { benchDmd2, DMD2_ARMS } from '../../bench/sweeps/dmd2.ts';
import { buildIR, resolveConfig } from '../../dsl/pipeline.ts';
import { PIPELINES } from '../../pipelines/index.ts';

test('every dmd2 bench arm is a valid set of options of both toys', () => {
  for (const [arm, a] of Object.entries(DMD2_ARMS)) for (const toy of ['ring', 'grid'] as const) assert.doesNotThrow(() => buildIR(PIPELINES[`dmd2-${toy}`]!, a[toy]), `${arm} ${toy}`);
});

test("the bench's default arm is each toy's pipeline defaults", () => {
  for (const toy of ['ring', 'grid'] as const) {
    const pipe = PIPELINES[`dmd2-${toy}`]!;
    assert.deepEqual(resolveConfig(pipe, DMD2_ARMS.default![toy]), resolveConfig(pipe), toy);
  }
});

test('bench dmd2 on a tiny budget: results.json and .md per arm and seed, curves, samples per arm, run folders', async () => {
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'dmd2-bench-')), 'b');
  const files = await benchDmd2({ seeds: 2, quick: false, out, backend: 'wasm', arms: ['base', 'gan'], toys: ['ring'], budget: { steps: 8, evalEvery: 4 } });
  const r = JSON.parse(fs.readFileSync(path.join(out, 'results.json'), 'utf8'));
  assert.deepEqual(r.rows.map((x: { arm: string }) => x.arm), ['base', 'gan']);
  for (const row of r.rows) {
    assert.equal(row.energyDistance.perSeed.length, 2);
    assert.ok(row.energyDistance.perSeed.every((v: number) => v > 0 && Number.isFinite(v)));
    assert.deepEqual(row.curves[0].map((p: { step: number }) => p.step), [4, 8]);
  }
  const md = fs.readFileSync(path.join(out, 'results.md'), 'utf8');
  assert.match(md, /\n\| base \| [^\n]*\n\| gan \| /);
  for (const f of ['ring-energy-vs-step.png', 'samples-ring-base.png', 'samples-ring-gan.png', 'runs/ring-gan-seed2/summary.json']) assert.ok(fs.existsSync(path.join(out, f)), f);
  assert.ok(files.some((f) => f.endsWith('results.md')));
  assert.ok(!fs.readdirSync(out).some((n) => n.startsWith('.staging')), 'nothing half-written');
});
