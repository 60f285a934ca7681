/** @file A model kind's body on TensorFlow.js, and the table that gives every model kind one. */
import type { DatasetSpec } from '../../dsl/ir/schema.ts';
import type { ConfigOf, ModelKind } from '../../ops/models/index.ts';
import type { GradNeeds } from '../lower/context.ts';
import type { Tensor, TF } from '../lower/context.ts';

/** at run time every dataset a model names exists (verify checked it) */
export interface ApplyEnv {
  dataset(name: string): DatasetSpec;
  /** the gradients this call must provide (weights, each input); absent: all of them */
  grad?: GradNeeds;
  /** one of the model's named outputs instead of its main one (ModelDef.outputs) */
  output?: string;
}

export interface TfjsModel<C> {
  apply(tf: TF, weights: Record<string, Tensor>, ins: Tensor[], c: C, env: ApplyEnv): Tensor;
  /** apply reads tensors back to the host (see TfjsLowering.hostReads) */
  hostReads?: boolean;
}

export type TfjsModels = { [K in ModelKind]: TfjsModel<ConfigOf<K>> };
