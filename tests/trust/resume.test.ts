/** Checkpoints and exact resume: a run killed with SIGKILL at a random step and resumed writes the same metrics as
 * the uninterrupted run, losing at most one checkpoint interval of work (with the student's EMA on, and with decaying
 * learning rates, too). */
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
const args = (out: string, extra: string[]) => ['run', 'dmd2-ring', '--steps', String(STEPS), '--batch', '32', '--set', 'evalEvery=50', '--set', 'fakeWarmup=5', ...extra, '--checkpoint-every', String(EVERY), '--out', out];

/** run until the progress line of step ≥ `killAt` shows, then SIGKILL; returns the last step seen */
function runAndKill(out: string, killAt: number, extra: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bin, ...args(out, extra)], { stdio: ['ignore', 'ignore', 'pipe'] });
    let seen = 0;
    let buf = '';
    child.stderr.on('data', (d: Buffer) => {
      buf += d.toString();
      for (const m of buf.matchAll(/^step (\d+)\//gm)) seen = Math.max(seen, Number(m[1]));
      if (seen >= killAt && child.exitCode === null) child.kill('SIGKILL');
    });
    child.on('close', (code, signal) => (signal === 'SIGKILL' ? resolve(seen) : reject(new Error(`child exited ${code} before the kill (seen step ${seen}); its stderr ends:\n${buf.slice(-3000)}`))));
  });
}

/** the whole run, and one SIGKILLed at a random step and resumed: every metric, the summary and the weights agree */
async function killAndResume(extra: string[]): Promise<{ full: string; killed: string }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'distillery-resume-'));
  const full = path.join(dir, 'full');
  const killed = path.join(dir, 'killed');
  const r = spawnSync(process.execPath, [bin, ...args(full, extra), '--quiet'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);

  // progress lines come every 10 steps: kill after one of 20..190, never aligned with the 7-step checkpoints
  const killAt = 20 + 10 * Math.floor(Math.random() * 18);
  const seen = await runAndKill(killed, killAt, extra);
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
  return { full, killed };
}

test('SIGKILL at a random step, --resume, and the metrics equal the uninterrupted run from the resumed step on', { timeout: 300_000 }, async () => {
  const { killed } = await killAndResume([]);
  assert.equal(fs.existsSync(path.join(killed, 'weights/student.raw.safetensors')), false, 'no EMA, no raw weights beside the weights');
});

test('with the student’s EMA on: its checkpoints carry the EMA and the resumed run is bit-exact, EMA and raw weights', { timeout: 300_000 }, async () => {
  const { full, killed } = await killAndResume(['--set', 'ema=0.9']);
  const c = loadCheckpoint(killed);
  assert.deepEqual(Object.keys(c.exec.ema).sort(), Object.keys(c.exec.weights).filter((k) => k.startsWith('student/')).sort());
  assert.deepEqual(fs.readFileSync(path.join(killed, 'weights/student.raw.safetensors')), fs.readFileSync(path.join(full, 'weights/student.raw.safetensors')));
  assert.notDeepEqual(fs.readFileSync(path.join(full, 'weights/student.raw.safetensors')), fs.readFileSync(path.join(full, 'weights/student.safetensors')), 'the EMA is not the trained weights');
});

test('with decaying learning rates: the resumed run takes the rate up at its step and is bit-exact', { timeout: 300_000 }, async () => {
  await killAndResume(['--set', 'lrDecay=cosine', '--set', 'lrDecayStart=0.1', '--set', 'lrFinal=0']);
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
