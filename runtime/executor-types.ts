/** @file What the executor takes and hands back: options, update results, its saved state, samples. */
import type * as tfns from '@tensorflow/tfjs';
import type { IRNode, ModelDecl } from '../dsl/ir/schema.ts';
import type { HostTensor } from '../ops/models/index.ts';
import type { Tensor } from '../gpu/lower/index.ts';
import { UserError } from '../dsl/errors.ts';

export interface RoleWeights {
  decl: ModelDecl;
  /** trainable roles hold variables; frozen ones plain tensors */
  weights: Record<string, tfns.Variable>;
}

export interface UpdateResult {
  role: string;
  loss: number;
  /** ‖∇‖₂ over all of the role's parameters (non-finite when the update was skipped) */
  gradNorm: number;
  /** the loss or a gradient was NaN/Inf: the update was skipped, weights and optimizer state untouched */
  skipped: boolean;
  outputs: Record<string, number>;
}

export interface ExecutorOptions {
  /** stop with a NonFiniteError after this many skipped updates of one role in a row (default 20) */
  maxNonFinite?: number;
  /** testing aid: sees every random node's draw — its output, or the permutation a shuffle applied — so the same draws
   * can feed another implementation */
  onDraw?: (node: IRNode, value: Tensor) => void;
  /** testing aid: poison one gradient with NaN when this returns true for (role, that role's update index from 1) */
  poisonGradient?: (role: string, update: number) => boolean;
  /** decide each update on the device and read losses back in batches (`dispatch` / `settle`); default: where the
   * backend reads only asynchronously (webgpu), whose one read per update would hold the device to the host */
  deferReads?: boolean;
}

/** Raised when updates keep producing NaN/Inf: the weights are still the last finite ones. */
export class NonFiniteError extends UserError {
  constructor(
    readonly role: string,
    readonly inARow: number,
  ) {
    super(`${inARow} non-finite updates in a row (last one: role '${role}'); every one was skipped, so the weights hold no NaN/Inf`);
    this.name = 'NonFiniteError';
  }
}

export interface ExecutorState {
  /** trainable weights as `role/param` */
  weights: Record<string, HostTensor>;
  /** Adam moments as `u<update index>/m|v/param` */
  optimizer: Record<string, HostTensor>;
  /** the moving averages of the roles that have one, as `role/param` (empty when none has) */
  ema: Record<string, HostTensor>;
  counters: {
    evaluations: number;
    adamSteps: number[];
    nonFinite: Record<string, number>;
    nonFiniteInARow: Record<string, number>;
  };
}

export interface Sample {
  data: Float32Array;
  shape: number[];
  extras: Record<string, Float32Array>;
}
