/** `untaped` (gpu/fused.ts): ops run inside it leave no node on the gradient tape and save nothing, the gradient
 * through the recorded ops is unchanged, and the tape's state comes back even when the function throws. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { untaped } from '../../gpu/fused.ts';

const tapeLength = () => (tf.engine() as unknown as { state: { activeTape: unknown[] } }).state.activeTape.length;

test('untaped: no tape node for its ops, the same gradient, and the tape resumes after a throw', async () => {
  await tf.setBackend('cpu');
  const v = tf.variable(tf.tensor1d([0.5, -1.5, 2]));
  const a = tf.tensor1d([1, 2, 3]);
  const b = tf.tensor1d([-2, 0.25, 4]);
  const grads = (pause: boolean) => {
    const added: number[] = [];
    const { grads: g } = tf.variableGrads(() => {
      const before = tapeLength();
      const c = pause ? untaped(() => tf.exp(tf.mul(a, b))) : tf.exp(tf.mul(a, b));
      added.push(tapeLength() - before);
      return tf.sum(tf.mul(v, c)) as tf.Scalar;
    }, [v]);
    return { g: Array.from(g[v.name]!.dataSync()), added: added[0]! };
  };
  const taped = grads(false);
  const paused = grads(true);
  assert.ok(taped.added > 0, 'recorded: tape nodes for mul and exp');
  assert.equal(paused.added, 0, 'untaped: none');
  assert.deepEqual(paused.g, taped.g, 'the same gradient');
  const depth = () => (tf.engine() as unknown as { state: { gradientDepth: number } }).state.gradientDepth;
  tf.variableGrads(() => {
    const d = depth();
    assert.throws(() => untaped(() => { throw new Error('inside'); }), /inside/);
    assert.equal(depth(), d, 'the tape is back on after the throw');
    return tf.sum(v) as tf.Scalar;
  }, [v]);
  // a gradient taken inside: the outer tape survives it, and the outer gradient is unchanged
  const outer = tf.variableGrads(() => {
    const c = tf.exp(tf.mul(a, b));
    untaped(() => tf.grad((x: tf.Tensor) => tf.sum(tf.square(x)))(a).dispose());
    return tf.sum(tf.mul(v, c)) as tf.Scalar;
  }, [v]);
  assert.deepEqual(Array.from(outer.grads[v.name]!.dataSync()), taped.g, 'the outer gradient after an inner one');
  tf.dispose([v, a, b]);
});
