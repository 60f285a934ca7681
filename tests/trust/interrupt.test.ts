/** A run that is killed keeps its metric rows on disk up to the last flush (metrics.arrows), and `report` reads such a
 * folder; Ctrl-C (SIGINT) stops at a step boundary, writes a checkpoint and exits 130, and the resumed run is
 * bit-exact with the uninterrupted one. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readMetrics } from '../../runtime/report/report.ts';
import { readMetricsStream } from '../../runtime/sinks/arrow.ts';
import { loadCheckpoint } from '../../runtime/checkpoint.ts';

const bin = path.resolve('bin/distillery.mjs');
const STEPS = 200;
const args = (out: string) => ['run', 'dmd2-ring', '--steps', String(STEPS), '--batch', '32', '--set', 'evalEvery=50', '--set', 'fakeWarmup=5', '--out', out];
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'distillery-interrupt-'));

let fullRows: Record<string, number | null>[] | undefined;
/** the uninterrupted run's metric rows (run once) */
function full(): Record<string, number | null>[] {
  if (fullRows) return fullRows;
  const out = path.join(dir, 'full');
  const r = spawnSync(process.execPath, [bin, ...args(out), '--quiet'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(fs.existsSync(path.join(out, 'metrics.arrows')), false, 'a finished run keeps metrics.arrow, not the stream');
  return (fullRows = readMetrics(path.join(out, 'metrics.arrow')));
}

/** start a run; when its progress shows step ≥ `at`, send `signal`; resolves with the exit and the progress seen */
function runAndSignal(out: string, at: number, signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string; seenAt: { step: number; ms: number }[]; sentMs: number }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [bin, ...args(out)], { stdio: ['ignore', 'ignore', 'pipe'] });
    const seenAt: { step: number; ms: number }[] = [];
    let stderr = '';
    let sentMs = 0;
    child.stderr.on('data', (d: Buffer) => {
      const fresh = d.toString();
      stderr += fresh;
      for (const m of fresh.matchAll(/^step (\d+)\//gm)) seenAt.push({ step: Number(m[1]), ms: performance.now() });
      if (!sentMs && seenAt.some((s) => s.step >= at)) {
        sentMs = performance.now();
        child.kill(signal);
      }
    });
    child.on('exit', (code, sig) => resolve({ code, signal: sig, stderr, seenAt, sentMs }));
  });
}

/** every streamed row equals the uninterrupted run's row of that step (wall time aside), from step 1 without a gap */
function assertPrefix(rows: Record<string, number | null>[], ref: Record<string, number | null>[]): void {
  rows.forEach((r, i) => {
    assert.equal(r.step, i + 1, `row ${i} is step ${r.step}`);
    for (const k of Object.keys(ref[i]!)) if (k !== 'wallSeconds') assert.equal(r[k], ref[i]![k], `step ${i + 1}, column ${k}`);
  });
}

test('SIGKILL mid-run: metrics.arrows keeps the rows up to its last flush, and `report` reads the folder', { timeout: 300_000 }, async () => {
  const ref = full();
  const out = path.join(dir, 'killed');
  const r = await runAndSignal(out, 120, 'SIGKILL');
  assert.equal(r.signal, 'SIGKILL');
  assert.equal(fs.existsSync(path.join(out, 'summary.json')), false);
  const { rows, meta } = readMetricsStream(fs.readFileSync(path.join(out, 'metrics.arrows')));
  assertPrefix(rows, ref);
  // rows are flushed at least every second: every step shown two seconds before the kill is on disk
  const shown = Math.max(0, ...r.seenAt.filter((s) => s.ms <= r.sentMs - 2000).map((s) => s.step));
  assert.ok(rows.length >= shown, `${rows.length} rows on disk, but step ${shown} was shown 2 s before the kill`);
  assert.ok(rows.length >= 1);
  assert.equal((meta as { pipeline: string }).pipeline, 'dmd2-ring');

  const rep = spawnSync(process.execPath, [bin, 'report', out], { encoding: 'utf8' });
  assert.equal(rep.status, 0, rep.stderr);
  const html = fs.readFileSync(path.join(out, 'report.html'), 'utf8');
  assert.match(html, new RegExp(`stopped after step</th><td>${rows.length}<`));
  assert.match(html, /Loss per role/);
});

test('Ctrl-C stops at a step boundary: metrics and a checkpoint of that step, exit 130; --resume is bit-exact', { timeout: 300_000 }, async () => {
  const ref = full();
  const out = path.join(dir, 'interrupted');
  const r = await runAndSignal(out, 40, 'SIGINT');
  assert.equal(r.code, 130, r.stderr);
  const m = /interrupted after step (\d+): metrics so far in (\S+), checkpoint (\S+);/.exec(r.stderr);
  assert.ok(m, r.stderr);
  const step = Number(m[1]);
  assert.ok(step >= 40 && step < STEPS, `stopped after step ${step}`);
  assert.doesNotMatch(r.stderr, /internal error|at .*\.ts:\d+/, 'no stack trace');
  assert.equal(fs.existsSync(path.join(out, 'summary.json')), false, 'an interrupted run is not a finished one');
  const { rows } = readMetricsStream(fs.readFileSync(path.join(out, 'metrics.arrows')));
  assert.equal(rows.length, step, 'every row up to the stop is on disk');
  assertPrefix(rows, ref);
  assert.equal(loadCheckpoint(out).state.step, step);

  const res = spawnSync(process.execPath, [bin, 'run', '--resume', out, '--quiet'], { encoding: 'utf8' });
  assert.equal(res.status, 0, res.stderr);
  const b = readMetrics(path.join(out, 'metrics.arrow'));
  assert.equal(b.length, STEPS);
  assertPrefix(b, ref);
  assert.deepEqual(fs.readFileSync(path.join(out, 'weights/student.safetensors')), fs.readFileSync(path.join(dir, 'full', 'weights/student.safetensors')));
  assert.equal(fs.existsSync(path.join(out, 'metrics.arrows')), false);
});
