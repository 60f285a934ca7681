/** On wasm a clone (tfjs's Identity, which the tape runs on every input an op saves) shares its input's data instead of
 * copying it: the values, the reference counts, strings, and a gradient through saved inputs. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { loadBackend } from '../../gpu/backend.ts';

interface WasmData {
  refCount(id: object): number;
  numDataIds(): number;
}

test('on wasm a clone shares its input’s data, counted; disposing either leaves the other whole; strings still copy', async () => {
  await loadBackend('wasm');
  const backend = tf.backend() as unknown as WasmData;
  const ids = backend.numDataIds();
  const x = tf.tensor([1.5, -2, 3.25, 4], [2, 2]);
  const c = tf.clone(x);
  assert.equal(c.dataId, x.dataId, 'the clone shares the data');
  assert.equal(backend.refCount(x.dataId), 2);
  assert.equal(backend.numDataIds(), ids + 1, 'one buffer for both');
  x.dispose();
  assert.deepEqual(Array.from(c.dataSync()), [1.5, -2, 3.25, 4], 'the clone outlives its input');
  assert.equal(backend.refCount(c.dataId), 1);
  c.dispose();
  assert.equal(backend.numDataIds(), ids, 'both disposed: the buffer is freed');
  const s = tf.tensor(['a', 'bc']);
  const sc = tf.clone(s);
  assert.deepEqual(sc.arraySync(), ['a', 'bc']);
  tf.dispose([s, sc]);
  // d/da of Σ (a·b + a) saves a and b through clones: b + 1
  const [a, b] = [tf.tensor([1, 2, 3]), tf.tensor([4, 5, 6])];
  const before = tf.memory().numTensors;
  const g = tf.grad((t: tf.Tensor) => tf.sum(tf.add(tf.mul(t, b), t)))(a);
  assert.deepEqual(Array.from(g.dataSync()), [5, 6, 7]);
  g.dispose();
  assert.equal(tf.memory().numTensors, before, 'no tensor left by the tape');
  tf.dispose([a, b]);
});
