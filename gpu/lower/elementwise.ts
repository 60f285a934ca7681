/** @file TensorFlow.js lowerings of the elementwise ops and reductions. */
import type { LowerCtx, ParamsOf, Tensor, TF, TfjsLowering, TfjsTable } from './context.ts';
import { normaliseAxes } from '../../ops/shape.ts';
import { F32_MAX } from '../../ops/scalar.ts';

const unary = (f: (tf: TF, x: Tensor) => Tensor) => ({ lower: ([x]: Tensor[], _p: unknown, { tf }: LowerCtx) => f(tf, x!) });
const binary = (f: (tf: TF, a: Tensor, b: Tensor) => Tensor) => ({ lower: ([a, b]: Tensor[], _p: unknown, { tf }: LowerCtx) => f(tf, a!, b!) });
const reduction = (f: (tf: TF, x: Tensor, axes: number[], keep: boolean) => Tensor): TfjsLowering<ParamsOf<'sum'>> => ({
  lower: ([x], p, { tf }) => f(tf, x!, normaliseAxes(p.axes, x!.rank), p.keepDims),
});

const broadcastNumbers = (a: number[], b: number[]): number[] => {
  const n = Math.max(a.length, b.length);
  return [...Array(n).keys()].map((i) => Math.max(a[a.length - n + i] ?? 1, b[b.length - n + i] ?? 1));
};

export const elementwiseLowerings = {
  add: binary((tf, a, b) => tf.add(a, b)),
  sub: binary((tf, a, b) => tf.sub(a, b)),
  mul: binary((tf, a, b) => tf.mul(a, b)),
  div: binary((tf, a, b) => tf.div(a, b)),
  pow: binary((tf, a, b) => tf.pow(a, b)),
  maximum: binary((tf, a, b) => tf.maximum(a, b)),
  minimum: binary((tf, a, b) => tf.minimum(a, b)),
  neg: unary((tf, x) => tf.neg(x)),
  abs: unary((tf, x) => tf.abs(x)),
  square: unary((tf, x) => tf.square(x)),
  sqrt: unary((tf, x) => tf.sqrt(x)),
  exp: unary((tf, x) => tf.exp(x)),
  log: unary((tf, x) => tf.log(x)),
  sin: unary((tf, x) => tf.sin(x)),
  cos: unary((tf, x) => tf.cos(x)),
  tanh: unary((tf, x) => tf.tanh(x)),
  sigmoid: unary((tf, x) => tf.sigmoid(x)),
  // composed, so its gradient comes from the tape
  silu: unary((tf, x) => tf.mul(x, tf.sigmoid(x))),
  relu: unary((tf, x) => tf.relu(x)),
  // tfjs's softplus switches to x and eˣ past float32's precision, so neither end overflows or rounds to 0 early
  softplus: unary((tf, x) => tf.softplus(x)),
  // −softplus(−x): tf.logSigmoid's custom gradient reads its input unsaved, which the tape has released by then
  log_sigmoid: unary((tf, x) => tf.neg(tf.softplus(tf.neg(x)))),
  nan_to_num: unary((tf, x) => tf.where(tf.isNaN(x), tf.zerosLike(x), tf.clipByValue(x, -F32_MAX, F32_MAX))),
  greater: binary((tf, a, b) => tf.greater(a, b)),
  less: binary((tf, a, b) => tf.less(a, b)),
  equal: binary((tf, a, b) => tf.equal(a, b)),
  where: {
    lower: ([c, a, b], _p, { tf }) => {
      // tf.where wants equal shapes
      const out = [c!.shape, a!.shape, b!.shape].reduce(broadcastNumbers, []);
      return tf.where(tf.broadcastTo(c!, out), tf.broadcastTo(a!, out), tf.broadcastTo(b!, out));
    },
  },
  cast: { lower: ([x], p, { tf }) => tf.cast(x!, p.dtype === 'f32' ? 'float32' : p.dtype === 'i32' ? 'int32' : 'bool') },
  stop_gradient: { lower: ([x], _p, { detach }) => detach(x!) },
  sum: reduction((tf, x, a, k) => tf.sum(x, a, k)),
  mean: reduction((tf, x, a, k) => tf.mean(x, a, k)),
  max: reduction((tf, x, a, k) => tf.max(x, a, k)),
  min: reduction((tf, x, a, k) => tf.min(x, a, k)),
} satisfies Partial<TfjsTable>;
