/** @file Matrix products whose gradients never hit tfjs-wasm's transposed-operand slow path.
 * tfjs differentiates matMul with transposeA/transposeB matmuls, which run 7–15× slower than the plain
 * layout on wasm (anchors/RESULTS.md). Transposing explicitly (O(n²)) and multiplying in the plain
 * layout is 2–4× faster end to end on the DMD2 step. */
import type { Tensor, TF } from './define.ts';
import type * as tfns from '@tensorflow/tfjs';

type T2 = tfns.Tensor2D;
const cache = new WeakMap<TF, { matmul: (a: Tensor, b: Tensor) => Tensor; dense: (x: Tensor, w: Tensor, b: Tensor) => Tensor }>();

function build(tf: TF) {
  const matmul = tf.customGrad(((a: Tensor, b: Tensor, save: (ts: Tensor[]) => void) => {
    save([a, b]);
    return {
      value: tf.matMul(a as T2, b as T2),
      gradFunc: (dy: Tensor, [sa, sb]: Tensor[]) => [
        tf.matMul(dy as T2, tf.transpose(sb!) as T2),
        tf.matMul(tf.transpose(sa!) as T2, dy as T2),
      ],
    };
  }) as never) as unknown as (a: Tensor, b: Tensor) => Tensor;
  // x·W + b in one node, bias gradient = column sums of dy
  const dense = tf.customGrad(((x: Tensor, w: Tensor, b: Tensor, save: (ts: Tensor[]) => void) => {
    save([x, w]);
    return {
      value: tf.add(tf.matMul(x as T2, w as T2), b),
      gradFunc: (dy: Tensor, [sx, sw]: Tensor[]) => [
        tf.matMul(dy as T2, tf.transpose(sw!) as T2),
        tf.matMul(tf.transpose(sx!) as T2, dy as T2),
        tf.sum(dy, 0),
      ],
    };
  }) as never) as unknown as (x: Tensor, w: Tensor, b: Tensor) => Tensor;
  return { matmul, dense };
}

export function linalg(tf: TF) {
  let fns = cache.get(tf);
  if (!fns) cache.set(tf, (fns = build(tf)));
  return fns;
}
