/** A deferred loop (the default on webgpu): updates decided on the device, losses read back in batches. On the cpu
 * backend it must train as the per-update loop does — same metrics and weights up to float32 rounding of the Adam
 * step size — with one host read per interval instead of one per update; a NaN update is skipped on the device
 * (weights, moments and EMA untouched) and counted when read; too many in a row still stop the run. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { lastValueFrom, toArray } from 'rxjs';
import { buildIR } from '../../dsl/pipeline.ts';
import { PIPELINES } from '../../pipelines/index.ts';
import { loadBackend } from '../../gpu/backend.ts';
import { RunSession, type SessionOptions } from '../../runtime/session.ts';
import { NonFiniteError } from '../../runtime/executor.ts';
import { DEFAULT_READ_EVERY } from '../../runtime/train.ts';

const STEPS = 25;
const ir = (sets: Record<string, unknown> = {}) => buildIR(PIPELINES['dmd2-ring']!, { batch: 32, steps: STEPS, evalEvery: 0, fakeWarmup: 3, ...sets });

async function trained(deferReads: boolean, o: Partial<SessionOptions> = {}, sets: Record<string, unknown> = {}) {
  const be = await loadBackend('cpu');
  const s = new RunSession(ir(sets), be, { seed: 1, evalSamples: 256, deferReads, ...o });
  try {
    const steps = (await lastValueFrom(s.train().pipe(toArray()))).map((r) => r.event);
    const state = s.exe.exportState();
    return { steps, rows: s.rows, state, reads: s.exe.hostReads, skipped: Object.fromEntries(s.exe.nonFinite) };
  } finally {
    s.dispose();
  }
}

const close = (a: number, b: number, rel: number) => Math.abs(a - b) <= rel * Math.max(Math.abs(a), Math.abs(b), 1e-6);

function assertSameTraining(a: Awaited<ReturnType<typeof trained>>, b: Awaited<ReturnType<typeof trained>>): void {
  assert.deepEqual(b.steps.map((e) => e.step), a.steps.map((e) => e.step), 'every step, in order');
  a.rows.forEach((r, i) => {
    for (const k of Object.keys(r)) if (k !== 'wallSeconds') assert.ok(Object.is(r[k], b.rows[i]![k]) || close(r[k]!, b.rows[i]![k]!, 1e-4), `step ${i + 1} ${k}: ${r[k]} vs ${b.rows[i]![k]}`);
  });
  for (const part of ['weights', 'optimizer', 'ema'] as const)
    for (const [k, t] of Object.entries(a.state[part])) {
      const u = b.state[part][k]!;
      let num = 0;
      let den = 0;
      t.data.forEach((x, i) => ((num += (x - u.data[i]!) ** 2), (den += x * x)));
      assert.ok(Math.sqrt(num / Math.max(den, 1e-30)) < 1e-5, `${part} ${k}: relative difference ${Math.sqrt(num / den)}`);
    }
  assert.deepEqual(b.state.counters, a.state.counters, 'Adam steps, evaluations and skips counted alike');
}

test('deferred on cpu trains as the per-update loop, with one read per interval', async () => {
  const a = await trained(false);
  const b = await trained(true);
  assertSameTraining(a, b);
  const updatesPerStep = ir().updates.reduce((n, u) => n + u.ratio, 0);
  assert.ok(a.reads >= STEPS * updatesPerStep, `per-update loop: ${a.reads} reads`);
  // the warm-up's one read, then one per DEFAULT_READ_EVERY steps and the last step
  assert.equal(b.reads, 1 + Math.ceil(STEPS / DEFAULT_READ_EVERY));
});

test('deferred with the EMA on, and a poisoned update: skipped on the device, counted when read', async () => {
  const poison: Partial<SessionOptions> = { poisonGradient: (role, n) => role === 'student' && n === 6 };
  const a = await trained(false, poison, { ema: 0.9 });
  const b = await trained(true, poison, { ema: 0.9 });
  assertSameTraining(a, b);
  assert.deepEqual(b.skipped, { student: 1 });
  assert.deepEqual(b.steps.find((e) => e.nonFinite.length)?.step, a.steps.find((e) => e.nonFinite.length)?.step);
});

test('deferred: NaN on every update stops the run once the reads show too many in a row', async () => {
  await assert.rejects(trained(true, { maxNonFinite: 4, poisonGradient: (role, n) => role === 'student' && n >= 3 }), NonFiniteError);
});

test('deferred with a decaying learning rate trains as the per-update loop, and the decay is applied', async () => {
  const decay = { lrDecay: 'cosine', lrDecayStart: 0.2, lrFinal: 0 };
  const a = await trained(false, {}, decay);
  const b = await trained(true, {}, decay);
  assertSameTraining(a, b);
  const constant = await trained(true, {}, { lrDecay: 'none' });
  const w = (x: typeof a) => Object.values(x.state.weights).flatMap((t) => Array.from(t.data));
  assert.notDeepEqual(w(b), w(constant), 'the decayed run ends elsewhere');
});
