/** @file What a TensorFlow.js lowering sees, and the shape of the tfjs target's lowering table. */
import type * as tfns from '@tensorflow/tfjs';
import type { z } from 'zod';
import type { DatasetSpec } from '../../dsl/ir/schema.ts';
import type { Rng } from '../../ops/rng.ts';
import type { OPS } from '../../ops/registry.ts';
import type { OpKind } from '../../ops/kinds.ts';

export type TF = typeof tfns;
export type Tensor = tfns.Tensor;

/** Which gradients a call needs: with respect to the weights, and to each input. `undefined` means all of them. */
export interface GradNeeds {
  weights: boolean;
  inputs: boolean[];
}
export const NO_GRAD: GradNeeds = { weights: false, inputs: [] };

/** What a lowering may touch: the tfjs namespace, random draws, models, datasets. */
export interface LowerCtx {
  tf: TF;
  dims: Record<string, number>;
  /** a fresh stream for this node in this evaluation of the graph */
  rng(): Rng;
  /** a role's model; `grad` says which gradients the call must provide (absent: all); `output` names one of its outputs */
  model(role: string): (inputs: Tensor[], grad?: GradNeeds, output?: string) => Tensor;
  /** for a node on the gradient tape: which of its inputs are on it, and the role being updated */
  grad?: { role: string; inputs: boolean[] };
  dataset(name: string): DatasetSpec;
  /** a new tensor on the same buffer, unknown to the gradient tape (tfjs has no stop-gradient op) */
  detach(t: Tensor): Tensor;
  /** a random op that passes gradient through (shuffle) reports what it drew, for replay by another target */
  drew?(value: Int32Array | Float32Array, shape: number[]): void;
}

export type ParamsOf<K extends OpKind> = z.output<(typeof OPS)[K]['params']>;

export interface TfjsLowering<P> {
  lower(ins: Tensor[], p: P, ctx: LowerCtx): Tensor;
  /** the lowering reads tensors back to the host while the graph runs: a backend without synchronous reads (webgpu in
   * Node) cannot run it */
  hostReads?: boolean;
}

/** an op this target cannot run, and why: a graph that uses it is refused up front with the reason and the node */
export interface Unsupported {
  unsupported: string;
}

/** one lowering per op kind: a kind missing here fails `tsc` */
export type TfjsTable = { [K in OpKind]: TfjsLowering<ParamsOf<K>> | Unsupported };
