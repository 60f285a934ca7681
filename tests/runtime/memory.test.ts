/** The plan's memory figures against what tfjs measures (tf.profile's peak bytes) on the reference workload. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildIR } from '../../dsl/pipeline.ts';
import { openExecutor } from '../../runtime/open.ts';
import { dmdStep } from '../../bench/dmd-step/workload.ts';

for (const D of [2, 64])
  test(`plan memory, dmd-step D=${D}: resident bytes exact, each update's peak within 25% of the measured one`, async () => {
    const exe = await openExecutor(buildIR(dmdStep, { dim: D }), 0, 'wasm');
    try {
      const { tf } = exe.backend;
      for (const u of exe.plan.updates) exe.update(u); // the Adam moments exist from here on
      assert.equal(tf.memory().numBytes, exe.plan.residentBytes, 'weights and Adam moments');
      for (const u of exe.plan.updates) {
        const measured = (await tf.profile(() => void exe.update(u))).peakBytes;
        const planned = exe.plan.residentBytes + u.peakBytes;
        const err = Math.abs(planned - measured) / measured;
        console.log(`D=${D} ${u.role}: planned ${(planned / 2 ** 20).toFixed(2)} MiB, measured ${(measured / 2 ** 20).toFixed(2)} MiB (${(100 * err).toFixed(1)}% off)`);
        assert.ok(err < 0.25, `${u.role}: planned ${planned} bytes, measured ${measured}`);
      }
    } finally {
      // a failure above leaves no variables registered for the next test
      exe.dispose();
    }
  });
