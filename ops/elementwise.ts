/** @file Elementwise ops: unary and binary arithmetic, comparisons, where, cast, nan_to_num, stop_gradient. */
import * as z from 'zod';
import { defineOp, type Tensor, type TF } from './define.ts';
import { broadcast, sameDtype } from './shape.ts';
import { DTYPES } from '../dsl/types.ts';
import { call, F32_MAX, type Expr, type ScalarFn } from './scalar.ts';

const NoParams = z.object({}).strict();

const unary = <K extends string>(kind: K, f: (tf: TF, x: Tensor) => Tensor, fn?: ScalarFn) =>
  defineOp({
    kind,
    params: NoParams,
    arity: 1,
    shape: ([x]) => ({ dtype: sameDtype([x!], 'f32'), shape: [...x!.shape] }),
    lower: ([x], _p, { tf }) => f(tf, x!),
    differentiable: true,
    fusion: 'elementwise',
    ...(fn ? { scalar: () => ([x]: Expr[]) => call(fn, x!) } : {}),
  });

const binary = <K extends string>(kind: K, f: (tf: TF, a: Tensor, b: Tensor) => Tensor, fn?: ScalarFn) =>
  defineOp({
    kind,
    params: NoParams,
    arity: 2,
    shape: ([a, b]) => ({ dtype: sameDtype([a!, b!]), shape: broadcast(a!.shape, b!.shape) }),
    lower: ([a, b], _p, { tf }) => f(tf, a!, b!),
    differentiable: true,
    fusion: 'elementwise',
    ...(fn ? { scalar: () => ([a, b]: Expr[]) => call(fn, a!, b!) } : {}),
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
  add: binary('add', (tf, a, b) => tf.add(a, b), 'add'),
  sub: binary('sub', (tf, a, b) => tf.sub(a, b), 'sub'),
  mul: binary('mul', (tf, a, b) => tf.mul(a, b), 'mul'),
  div: binary('div', (tf, a, b) => tf.div(a, b), 'div'),
  pow: binary('pow', (tf, a, b) => tf.pow(a, b)),
  maximum: binary('maximum', (tf, a, b) => tf.maximum(a, b), 'max'),
  minimum: binary('minimum', (tf, a, b) => tf.minimum(a, b), 'min'),
  neg: unary('neg', (tf, x) => tf.neg(x), 'neg'),
  abs: unary('abs', (tf, x) => tf.abs(x), 'abs'),
  square: unary('square', (tf, x) => tf.square(x), 'square'),
  sqrt: unary('sqrt', (tf, x) => tf.sqrt(x), 'sqrt'),
  exp: unary('exp', (tf, x) => tf.exp(x), 'exp'),
  log: unary('log', (tf, x) => tf.log(x), 'log'),
  sin: unary('sin', (tf, x) => tf.sin(x), 'sin'),
  cos: unary('cos', (tf, x) => tf.cos(x), 'cos'),
  tanh: unary('tanh', (tf, x) => tf.tanh(x), 'tanh'),
  sigmoid: unary('sigmoid', (tf, x) => tf.sigmoid(x), 'sigmoid'),
  // silu(x) = x·sigmoid(x), composed so its gradient comes from the tape
  silu: unary('silu', (tf, x) => tf.mul(x, tf.sigmoid(x))),
  relu: unary('relu', (tf, x) => tf.relu(x)),
  // NaN → 0, ±Inf → ±float32 max (torch.nan_to_num's defaults, as the DMD2 code uses)
  nan_to_num: unary('nan_to_num', (tf, x) => tf.where(tf.isNaN(x), tf.zerosLike(x), tf.clipByValue(x, -F32_MAX, F32_MAX)), 'nan0'),
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
