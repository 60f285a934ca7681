/** @file The dmd-step bench's timing protocol: local contestants and a remote one (PyTorch in its own process) take
 * turns, repetition by repetition, in alternating order. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { timeSideBySide, type Contestant, type Remote } from '../../bench/dmd-step/protocol.ts';

test('a remote contestant takes its turn between the local ones, and reports each of its names', async () => {
  const log: string[] = [];
  const local = (name: string): Contestant => ({ name, run: (n) => void log.push(`${name}×${n}`) });
  let r = 0;
  const remote: Remote = {
    names: ['torch', 'exported'],
    rep: async () => (log.push('remote'), r++, { torch: 100 + r, exported: 50 + r }),
  };
  const rates = await timeSideBySide([local('a'), remote, local('b')], 3, { repSeconds: 0.001, maxIters: 3, warmupSeconds: 0 });
  // warm-up touches the local contestants only; then a b-remote order that flips every repetition
  const timed = log.slice(log.indexOf('remote') - 1).map((s) => s.replace(/×\d+/, ''));
  assert.deepEqual(timed, ['a', 'remote', 'b', 'b', 'remote', 'a', 'a', 'remote', 'b']);
  assert.deepEqual(rates.torch!.reps, [101, 102, 103]);
  assert.deepEqual(rates.exported!.reps, [51, 52, 53]);
  assert.equal(rates.torch!.median, 102);
  assert.equal(rates.a!.reps.length, 3);
});
