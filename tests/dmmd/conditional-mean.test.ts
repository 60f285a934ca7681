/** The importance-weighted E[x | z] of the mmd-ring drift measurement against Gaussian regression in closed form. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { conditionalMean } from '../../ops/metrics/conditional-mean.ts';
import { Rng } from '../../ops/rng.ts';

test('conditionalMean: x ~ N(0, 1), z | x ~ N(b·x, c²) gives E[x | z] = b·z / (b² + c²)', () => {
  const [b, c, M] = [0.8, 0.5, 200000];
  const x = new Rng(['cond-mean']).normals(M);
  const pool = { x, mu: Float64Array.from(x, (v) => b * v), c: new Float64Array(M).fill(c) };
  for (const z of [-1, 0, 0.5, 2]) {
    const { mean, ess } = conditionalMean(pool, 1, [z]);
    const want = (b * z) / (b * b + c * c);
    // the posterior sd is c/√(b² + c²) ≈ 0.53: the estimate's sd is about that over √ESS
    assert.ok(Math.abs(mean[0]! - want) < 5 * (0.53 / Math.sqrt(ess)), `z ${z}: ${mean[0]} vs ${want} (ESS ${ess.toFixed(0)})`);
    assert.ok(ess > 1000);
  }
});

test('conditionalMean: leave-one-out and the two halves use the rows they say (two rows, 2-D)', () => {
  const pool = { x: [1, 2, 3, 4], mu: [0, 0, 0.1, 0], c: [1, 1] };
  assert.deepEqual(Array.from(conditionalMean(pool, 2, [0, 0], { exclude: 0 }).mean), [3, 4]);
  assert.deepEqual(Array.from(conditionalMean(pool, 2, [0, 0], { stride: 2, offset: 0 }).mean), [1, 2]);
  // both rows: weights e^0 and e^{−0.005}
  const w = Math.exp(-0.005);
  const both = conditionalMean(pool, 2, [0, 0]);
  assert.ok(Math.abs(both.mean[0]! - (1 + 3 * w) / (1 + w)) < 1e-12);
  assert.throws(() => conditionalMean(pool, 2, [0, 0], { exclude: 0, stride: 2, offset: 0 }), /no pool row/);
});
