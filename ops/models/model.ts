/** @file What a model kind provides: a config schema, its input/output types, initial weights, and apply. */
import type * as z from 'zod';
import type { TensorType } from '../../dsl/types.ts';
import type { DatasetSpec } from '../../dsl/ir/schema.ts';
import type { Tensor, TF } from '../define.ts';
import type { Rng } from '../rng.ts';
import type { GradNeeds } from '../linalg.ts';

export interface HostTensor {
  shape: number[];
  data: Float32Array;
}

export interface ModelEnv {
  dataset(name: string): DatasetSpec | undefined;
}

/** at run time every dataset a model names exists (verify checked it) */
export interface ApplyEnv {
  dataset(name: string): DatasetSpec;
  /** the gradients this call must provide (weights, each input); absent: all of them */
  grad?: GradNeeds;
}

export interface ModelDef<C = any> {
  kind: string;
  config: z.ZodType<C>;
  /** output type for these input types; throws OpShapeError on a mismatch */
  outType(c: C, ins: TensorType[], env: ModelEnv): TensorType;
  /** initial weights, name → tensor; empty for closed-form models */
  init(c: C, rng: Rng): Record<string, HostTensor>;
  apply(tf: TF, weights: Record<string, Tensor>, ins: Tensor[], c: C, env: ApplyEnv): Tensor;
}

export const defineModel = <C>(def: ModelDef<C>): ModelDef<C> => def;
