/** @file Elementwise ops: unary and binary arithmetic, comparisons, where, cast, nan_to_num, stop_gradient. */
import * as z from 'zod';
import { defineOp } from './define.ts';
import { broadcast, sameDtype } from './shape.ts';
import { DTYPES } from '../dsl/types.ts';
import { call, type Expr, type ScalarFn } from './scalar.ts';

const NoParams = z.object({}).strict();

const unary = <K extends string>(kind: K, fn?: ScalarFn) =>
  defineOp({
    kind,
    params: NoParams,
    arity: 1,
    shape: ([x]) => ({ dtype: sameDtype([x!], 'f32'), shape: [...x!.shape] }),
    differentiable: true,
    rows: 'rowwise',
    ...(fn ? { scalar: () => ([x]: Expr[]) => call(fn, x!) } : {}),
  });

const binary = <K extends string>(kind: K, fn?: ScalarFn) =>
  defineOp({
    kind,
    params: NoParams,
    arity: 2,
    shape: ([a, b]) => ({ dtype: sameDtype([a!, b!]), shape: broadcast(a!.shape, b!.shape) }),
    differentiable: true,
    rows: 'rowwise',
    ...(fn ? { scalar: () => ([a, b]: Expr[]) => call(fn, a!, b!) } : {}),
  });

const compare = <K extends string>(kind: K) =>
  defineOp({
    kind,
    params: NoParams,
    arity: 2,
    shape: ([a, b]) => (sameDtype([a!, b!]), { dtype: 'bool', shape: broadcast(a!.shape, b!.shape) }),
    differentiable: false,
    rows: 'rowwise',
  });

export const elementwise = {
  add: binary('add', 'add'),
  sub: binary('sub', 'sub'),
  mul: binary('mul', 'mul'),
  div: binary('div', 'div'),
  pow: binary('pow'),
  maximum: binary('maximum', 'max'),
  minimum: binary('minimum', 'min'),
  neg: unary('neg', 'neg'),
  abs: unary('abs', 'abs'),
  square: unary('square', 'square'),
  sqrt: unary('sqrt', 'sqrt'),
  exp: unary('exp', 'exp'),
  log: unary('log', 'log'),
  sin: unary('sin', 'sin'),
  cos: unary('cos', 'cos'),
  tanh: unary('tanh', 'tanh'),
  sigmoid: unary('sigmoid', 'sigmoid'),
  /** x·sigmoid(x) */
  silu: unary('silu'),
  relu: unary('relu'),
  /** log(1 + eˣ), stable at both ends (DMD2's GAN losses) */
  softplus: unary('softplus'),
  /** log σ(x) = −softplus(−x), stable at both ends */
  log_sigmoid: unary('log_sigmoid'),
  /** NaN → 0, ±Inf → ±float32 max (torch.nan_to_num's defaults, as the DMD2 code uses) */
  nan_to_num: unary('nan_to_num', 'nan0'),
  greater: compare('greater'),
  less: compare('less'),
  equal: compare('equal'),
  /** c ? a : b, broadcast */
  where: defineOp({
    kind: 'where',
    params: NoParams,
    arity: 3,
    shape: ([c, a, b]) => {
      sameDtype([c!], 'bool');
      return { dtype: sameDtype([a!, b!]), shape: broadcast(c!.shape, broadcast(a!.shape, b!.shape)) };
    },
    differentiable: true,
    rows: 'rowwise',
  }),
  cast: defineOp({
    kind: 'cast',
    params: z.object({ dtype: z.enum(DTYPES) }).strict(),
    arity: 1,
    shape: ([x], p) => ({ dtype: p.dtype, shape: [...x!.shape] }),
    differentiable: false,
    rows: 'rowwise',
  }),
  /** the value, with no gradient flowing back through it */
  stop_gradient: defineOp({
    kind: 'stop_gradient',
    params: NoParams,
    arity: 1,
    shape: ([x]) => ({ dtype: x!.dtype, shape: [...x!.shape] }),
    differentiable: false,
    rows: 'rowwise',
  }),
};
