/** Checkpoints and exact resume: a run killed with SIGKILL at a random step and resumed writes the same metrics as
 * the uninterrupted run, losing at most one checkpoint interval of work. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { readMetrics } from '../../runtime/report/report.ts';
import { listCheckpoints, loadCheckpoint } from '../../runtime/checkpoint.ts';

const bin = path.resolve('bin/distillery.mjs');
const EVERY = 7;
const STEPS = 200;
const args = (out: string) => ['run', 'dmd2-ring', '--steps', String(STEPS), '--batch', '32', '--set', 'evalEvery=50', '--set', 'fakeWarmup=5', '--checkpoint-every', String(EVERY), '--out', out];

/** run until the progress line of step ≥ `killAt` shows, then SIGKILL; returns the last step seen */
function runAndKill(out: string, killAt: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args(out)], { stdio: ['ignore', 'ignore', 'pipe'] });
    let seen = 0;
    let buf = '';
    child.stderr.on('data', (d: Buffer) => {
      buf += d.toString();
      for (const m of buf.matchAll(/^step (\d+)\//gm)) seen = Math.max(seen, Number(m[1]));
      if (seen >= killAt && child.exitCode === null) child.kill('SIGKILL');
    });
    child.on('exit', (code, signal) => (signal === 'SIGKILL' ? resolve(seen) : reject(new Error(`child exited ${code} before the kill (seen step ${seen})`))));
  });
}

test('SIGKILL at a random step, --resume, and the metrics equal the uninterrupted run from the resumed step on', { timeout: 300_000 }, async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'distillery-resume-'));
  const full = path.join(dir, 'full');
  const killed = path.join(dir, 'killed');
  const r = spawnSync(process.execPath, [bin, ...args(full), '--quiet'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);

  // progress lines come every 10 steps: kill after one of 20..190, never aligned with the 7-step checkpoints
  const killAt = 20 + 10 * Math.floor(Math.random() * 18);
  const seen = await runAndKill(killed, killAt);
  assert.equal(fs.existsSync(path.join(killed, 'summary.json')), false, 'the killed run did not finish');
  const cps = listCheckpoints(killed);
  assert.ok(cps.length >= 1 && cps.length <= 3, `keeps the last 3 checkpoints, found ${cps.length}`);
  const at = loadCheckpoint(killed).state.step;
  // the process may have run a little past the progress line it printed: only compare with what was seen
  assert.ok(at >= seen - EVERY, `killed after step ${seen} (asked ${killAt}), newest checkpoint at ${at}: lost more than one interval`);

  const res = spawnSync(process.execPath, [bin, 'run', '--resume', killed, '--quiet'], { encoding: 'utf8' });
  assert.equal(res.status, 0, res.stderr);
  assert.match(res.stdout, new RegExp(`resumed from step ${at}`));
  const a = readMetrics(path.join(full, 'metrics.arrow'));
  const b = readMetrics(path.join(killed, 'metrics.arrow'));
  assert.equal(b.length, STEPS);
  for (let i = 0; i < STEPS; i++)
    for (const k of Object.keys(a[i]!)) if (k !== 'wallSeconds') assert.equal(b[i]![k], a[i]![k], `step ${i + 1} (resumed at ${at}), column ${k}`);
  const sa = JSON.parse(fs.readFileSync(path.join(full, 'summary.json'), 'utf8'));
  const sb = JSON.parse(fs.readFileSync(path.join(killed, 'summary.json'), 'utf8'));
  assert.deepEqual(sb.metrics, sa.metrics);
  assert.equal(sb.resumedFrom, at);
  assert.deepEqual(fs.readFileSync(path.join(killed, 'weights/student.safetensors')), fs.readFileSync(path.join(full, 'weights/student.safetensors')));
  assert.equal(fs.readdirSync(killed).filter((n) => n.startsWith('.staging-')).length, 0, 'the killed run’s staging folder is cleaned up');
});

test('--resume refuses flags that would change the run, and a folder without checkpoints', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'distillery-resume-'));
  const r1 = spawnSync(process.execPath, [bin, 'run', '--resume', dir, '--seed', '3'], { encoding: 'utf8' });
  assert.equal(r1.status, 1);
  assert.match(r1.stderr, /^distillery: error: --resume continues the run as it was configured; drop --seed\n$/);
  const r2 = spawnSync(process.execPath, [bin, 'run', '--resume', dir], { encoding: 'utf8' });
  assert.equal(r2.status, 1);
  assert.match(r2.stderr, /no checkpoint in .*checkpoints \(run with --checkpoint-every N/);
});
