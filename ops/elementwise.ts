/** @file Elementwise ops: unary and binary arithmetic, comparisons, where, cast, nan_to_num, stop_gradient. */
import * as z from 'zod';
import { defineOp, type Tensor, type TF } from './define.ts';
import { broadcast, sameDtype } from './shape.ts';
import { DTYPES } from '../dsl/types.ts';

const NoParams = z.object({}).strict();
const F32_MAX = 3.4028234663852886e38;

const unary = <K extends string>(kind: K, f: (tf: TF, x: Tensor) => Tensor) =>
  defineOp({
    kind,
    params: NoParams,
    arity: 1,
    shape: ([x]) => ({ dtype: sameDtype([x!], 'f32'), shape: [...x!.shape] }),
    lower: ([x], _p, { tf }) => f(tf, x!),
    differentiable: true,
    fusion: 'elementwise',
  });

const binary = <K extends string>(kind: K, f: (tf: TF, a: Tensor, b: Tensor) => Tensor) =>
  defineOp({
    kind,
    params: NoParams,
    arity: 2,
    shape: ([a, b]) => ({ dtype: sameDtype([a!, b!]), shape: broadcast(a!.shape, b!.shape) }),
    lower: ([a, b], _p, { tf }) => f(tf, a!, b!),
    differentiable: true,
    fusion: 'elementwise',
  });

const compare = <K extends string>(kind: K, f: (tf: TF, a: Tensor, b: Tensor) => Tensor) =>
  defineOp({
    kind,
    params: NoParams,
    arity: 2,
    shape: ([a, b]) => (sameDtype([a!, b!]), { dtype: 'bool', shape: broadcast(a!.shape, b!.shape) }),
    lower: ([a, b], _p, { tf }) => f(tf, a!, b!),
    differentiable: false,
    fusion: 'elementwise',
  });

export const elementwise = {
  add: binary('add', (tf, a, b) => tf.add(a, b)),
  sub: binary('sub', (tf, a, b) => tf.sub(a, b)),
  mul: binary('mul', (tf, a, b) => tf.mul(a, b)),
  div: binary('div', (tf, a, b) => tf.div(a, b)),
  pow: binary('pow', (tf, a, b) => tf.pow(a, b)),
  maximum: binary('maximum', (tf, a, b) => tf.maximum(a, b)),
  minimum: binary('minimum', (tf, a, b) => tf.minimum(a, b)),
  neg: unary('neg', (tf, x) => tf.neg(x)),
  abs: unary('abs', (tf, x) => tf.abs(x)),
  square: unary('square', (tf, x) => tf.square(x)),
  sqrt: unary('sqrt', (tf, x) => tf.sqrt(x)),
  exp: unary('exp', (tf, x) => tf.exp(x)),
  log: unary('log', (tf, x) => tf.log(x)),
  sin: unary('sin', (tf, x) => tf.sin(x)),
  cos: unary('cos', (tf, x) => tf.cos(x)),
  tanh: unary('tanh', (tf, x) => tf.tanh(x)),
  sigmoid: unary('sigmoid', (tf, x) => tf.sigmoid(x)),
  // silu(x) = x·sigmoid(x), composed so its gradient comes from the tape
  silu: unary('silu', (tf, x) => tf.mul(x, tf.sigmoid(x))),
  relu: unary('relu', (tf, x) => tf.relu(x)),
  // NaN → 0, ±Inf → ±float32 max (torch.nan_to_num's defaults, as the DMD2 code uses)
  nan_to_num: unary('nan_to_num', (tf, x) => tf.where(tf.isNaN(x), tf.zerosLike(x), tf.clipByValue(x, -F32_MAX, F32_MAX))),
  greater: compare('greater', (tf, a, b) => tf.greater(a, b)),
  less: compare('less', (tf, a, b) => tf.less(a, b)),
  equal: compare('equal', (tf, a, b) => tf.equal(a, b)),
  where: defineOp({
    kind: 'where',
    params: NoParams,
    arity: 3,
    shape: ([c, a, b]) => {
      sameDtype([c!], 'bool');
      return { dtype: sameDtype([a!, b!]), shape: broadcast(c!.shape, broadcast(a!.shape, b!.shape)) };
    },
    lower: ([c, a, b], _p, { tf }) => {
      // tf.where wants equal shapes
      const out = [c!.shape, a!.shape, b!.shape].reduce(broadcastNumbers, []);
      return tf.where(tf.broadcastTo(c!, out), tf.broadcastTo(a!, out), tf.broadcastTo(b!, out));
    },
    differentiable: true,
    fusion: 'elementwise',
  }),
  cast: defineOp({
    kind: 'cast',
    params: z.object({ dtype: z.enum(DTYPES) }).strict(),
    arity: 1,
    shape: ([x], p) => ({ dtype: p.dtype, shape: [...x!.shape] }),
    lower: ([x], p, { tf }) => tf.cast(x!, p.dtype === 'f32' ? 'float32' : p.dtype === 'i32' ? 'int32' : 'bool'),
    differentiable: false,
    fusion: 'elementwise',
  }),
  stop_gradient: defineOp({
    kind: 'stop_gradient',
    params: NoParams,
    arity: 1,
    shape: ([x]) => ({ dtype: x!.dtype, shape: [...x!.shape] }),
    lower: ([x], _p, { detach }) => detach(x!),
    differentiable: false,
    fusion: 'opaque',
  }),
};

function broadcastNumbers(a: number[], b: number[]): number[] {
  const n = Math.max(a.length, b.length);
  return [...Array(n).keys()].map((i) => Math.max(a[a.length - n + i] ?? 1, b[b.length - n + i] ?? 1));
}
