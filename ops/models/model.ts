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
  /** apply reads tensors back to the host (see OpDef.hostReads) */
  hostReads?: boolean;
  /** bytes one call on `rows` rows holds beyond its inputs and output: `saved` for the backward pass (on the tape),
   * `transient` at its peak while it runs; the planner adds them to its memory figures (absent: 0) */
  memory?(c: C, rows: number, onTape: boolean): CallMemory;
}

export interface CallMemory {
  saved: number;
  transient: number;
}

/** A stack of dense layers of these widths (SiLU between them), as ops/linalg.ts runs it: on the tape each layer keeps
 * its input, and a SiLU layer its pre-activation and sigmoid. The transient peak is a layer's input, pre-activation,
 * sigmoid and output at once forward; backward (on the tape) a layer's dy, da, xᵀ and dx with Wᵀ and dW. */
export function denseStackMemory(widths: readonly number[], rows: number, onTape: boolean): CallMemory {
  let saved = 0;
  let transient = 0;
  for (let i = 0; i + 1 < widths.length; i++) {
    const silu = i + 2 < widths.length;
    const [inW, outW] = [widths[i]!, widths[i + 1]!];
    if (onTape) saved += rows * (inW + (silu ? 2 * outW : 0)) * 4;
    transient = Math.max(transient, rows * (inW + (silu ? 3 : 1) * outW) * 4);
    if (onTape) transient = Math.max(transient, (rows * 2 * (inW + outW) + 2 * inW * outW) * 4);
  }
  return { saved, transient };
}

export const defineModel = <C>(def: ModelDef<C>): ModelDef<C> => def;
