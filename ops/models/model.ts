/** @file What a model kind means, apart from how a target runs it: a config schema, its input/output types, initial
 * weights, and its memory. Each target gives every model kind a body (gpu/models for TensorFlow.js, export/torch for
 * PyTorch). Every model kind maps rows to rows: row i of the output depends only on row i of its inputs. */
import type * as z from 'zod';
import type { TensorType } from '../../dsl/types.ts';
import type { DatasetSpec } from '../../dsl/ir/schema.ts';
import type { Rng } from '../rng.ts';

export interface HostTensor {
  shape: number[];
  data: Float32Array;
}

export interface ModelEnv {
  dataset(name: string): DatasetSpec | undefined;
}

export interface ModelDef<C = any> {
  kind: string;
  config: z.ZodType<C>;
  /** output type for these input types; throws OpShapeError on a mismatch */
  outType(c: C, ins: TensorType[], env: ModelEnv): TensorType;
  /** named outputs besides the main one (an MLP's last hidden features, for a GAN head): their types for these inputs */
  outputs?(c: C, ins: TensorType[], env: ModelEnv): Record<string, TensorType>;
  /** initial weights, name → tensor; empty for closed-form models */
  init(c: C, rng: Rng): Record<string, HostTensor>;
  /** bytes one call on `rows` rows holds beyond its inputs and output: `saved` for the backward pass (on the tape),
   * `transient` at its peak while it runs; the planner adds them to its memory figures (absent: 0) */
  memory?(c: C, rows: number, onTape: boolean): CallMemory;
}

export interface CallMemory {
  saved: number;
  transient: number;
}

/** A stack of dense layers of these widths (SiLU between them), as gpu/linalg.ts runs it: on the tape each layer keeps
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
