/** On wasm, Concat copies short parts element by element (gpu/kernels/row-concat.ts): the same values in the same
 * places as tfjs's kernel, for every axis, dtype and part length, and tfjs's own errors for what it does not take. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { loadBackend } from '../../gpu/backend.ts';

const values = (shape: number[], dtype: 'float32' | 'int32' | 'bool', seed: number) => {
  const n = shape.reduce((a, b) => a * b, 1);
  const v = Array.from({ length: n }, (_, i) => ((i * 7919 + seed * 104729) % 1000) / 7 - 60);
  return dtype === 'bool' ? v.map((x) => (x > 0 ? 1 : 0)) : dtype === 'int32' ? v.map(Math.round) : v;
};

// [part shapes, axis, dtype]
const CASES: [number[][], number, 'float32' | 'int32' | 'bool'][] = [
  [[[256, 2], [256, 16]], 1, 'float32'],
  [[[5, 3], [5, 70], [5, 1]], -1, 'float32'],
  [[[4, 3], [2, 3]], 0, 'float32'],
  [[[2, 3, 4], [2, 5, 4]], 1, 'int32'],
  [[[2, 3, 4], [2, 3, 100]], 2, 'float32'],
  [[[1], [1], [1]], 0, 'float32'],
  [[[3, 2], [3, 1]], 1, 'bool'],
  [[[3, 0], [3, 2]], 1, 'float32'],
];

test('wasm Concat equals tfjs’s cpu kernel on every axis, dtype and part length', async () => {
  const expected = CASES.map(([shapes, axis, dtype]) => ({ shapes, axis, dtype }));
  await loadBackend('cpu');
  const want = expected.map(({ shapes, axis, dtype }) => tf.tidy(() => tf.concat(shapes.map((s, i) => tf.tensor(values(s, dtype, i), s, dtype)), axis).arraySync()));
  await loadBackend('wasm');
  assert.ok(tf.getKernel('Concat', 'wasm')!.kernelFunc.name === 'rowConcat', 'distillery’s Concat is registered on wasm');
  const before = tf.memory().numTensors;
  expected.forEach(({ shapes, axis, dtype }, c) => {
    const got = tf.tidy(() => {
      const out = tf.concat(shapes.map((s, i) => tf.tensor(values(s, dtype, i), s, dtype)), axis);
      assert.equal(out.dtype, dtype);
      return out.arraySync();
    });
    assert.deepEqual(got, want[c], `case ${c}: ${JSON.stringify(shapes)} on axis ${axis}, ${dtype}`);
  });
  assert.equal(tf.memory().numTensors, before, 'nothing left behind');
  assert.throws(() => tf.concat([tf.zeros([2, 3]), tf.zeros([3, 3])], 1), /does not match the shape of the rest/, 'mismatched shapes: tfjs’s error');
});
