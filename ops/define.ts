/** @file One `defineOp` per op: params schema, arity, shape rule, lowering, differentiability, fusion class. */
import type * as z from 'zod';
import type * as tfns from '@tensorflow/tfjs';
import type { TensorType } from '../dsl/types.ts';
import type { DatasetSpec, ModelDecl } from '../dsl/ir/schema.ts';
import type { Rng } from './rng.ts';
import type { GradNeeds } from './linalg.ts';
import type { Expr } from './scalar.ts';

export type TF = typeof tfns;
export type Tensor = tfns.Tensor;

export type FusionClass = 'elementwise' | 'reduction' | 'matmul' | 'opaque' | 'source';

export interface ShapeCtx {
  dims: Record<string, number>;
  model(role: string): ModelDecl | undefined;
  dataset(name: string): DatasetSpec | undefined;
}

/** What a lowering may touch: the tfjs namespace handed in by gpu/, random draws, models, datasets. */
export interface LowerCtx {
  tf: TF;
  dims: Record<string, number>;
  /** a fresh stream for this node in this evaluation of the graph */
  rng(): Rng;
  /** a role's model; `grad` says which gradients the call must provide (absent: all) */
  model(role: string): (inputs: Tensor[], grad?: GradNeeds) => Tensor;
  /** for a node on the gradient tape: which of its inputs are on it, and the role being updated */
  grad?: { role: string; inputs: boolean[] };
  dataset(name: string): DatasetSpec;
  /** a new tensor on the same buffer, unknown to the gradient tape (tfjs has no stop-gradient op) */
  detach(t: Tensor): Tensor;
}

/** A shape rule's complaint; verify turns it into a `shape_mismatch` / `dtype_mismatch` issue with the node's file:line. */
export class OpShapeError extends Error {
  constructor(
    message: string,
    readonly code: 'shape_mismatch' | 'dtype_mismatch' | 'unknown_model' | 'unknown_dataset' | 'unknown_dim' | 'bad_params' = 'shape_mismatch',
  ) {
    super(message);
  }
}

export interface OpDef<K extends string = string, P = any> {
  kind: K;
  params: z.ZodType<P>;
  /** number of inputs, or [min, max] */
  arity: number | readonly [number, number];
  shape(ins: TensorType[], p: P, ctx: ShapeCtx): TensorType;
  lower(ins: Tensor[], p: P, ctx: LowerCtx): Tensor;
  /** false: no gradient flows through this op (sources, comparisons, stop_gradient) */
  differentiable: boolean;
  fusion: FusionClass;
  /** draws from the node's random stream: never merged by CSE; its stream is keyed by its rank among random nodes */
  random?: boolean;
  /** one element of an f32 elementwise op as a scalar expression of its inputs' elements: the planner fuses chains of
   * such ops off the gradient tape into one generated kernel */
  scalar?: (p: P) => (args: Expr[]) => Expr;
  /** the lowering reads tensors back to the host while the graph runs: a backend without synchronous reads (webgpu in
   * Node) cannot run it */
  hostReads?: boolean;
}

export const defineOp = <K extends string, P>(def: OpDef<K, P>): OpDef<K, P> => def;
