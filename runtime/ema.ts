/** @file The exponential moving average of a role's weights: variables beside the weights, started at the initial
 * weights and stepped after every applied update of the role. */
import type * as tfns from '@tensorflow/tfjs';
import type { TF } from '../gpu/lower/context.ts';
import { emaStep } from '../gpu/fused.ts';

export type EmaState = Record<string, tfns.Variable>;

/** the weights as they are, in variables of their own that no gradient reaches (a clone; on wasm it shares the
 * buffer until the first update assigns a new one: variables are never written in place) */
export function emaInit(tf: TF, params: Record<string, tfns.Variable>): EmaState {
  return Object.fromEntries(Object.entries(params).map(([k, p]) => [k, tf.tidy(() => tf.variable(tf.clone(p), false))]));
}

/** ema ← decay·ema + (1 − decay)·w for the parameters an update changed (`keys`, those that had a gradient): one the
 * update left alone keeps an EMA equal to its value, bit for bit. With a guard (a loop deciding on the device), an
 * update the guard skipped leaves the EMA as it is. Every temporary is released before it returns. */
export function emaApply(tf: TF, decay: number, ema: EmaState, params: Record<string, tfns.Variable>, keys: string[], guard?: tfns.Tensor): void {
  tf.tidy(() => {
    const out = emaStep(keys.map((k) => ema[k]!), keys.map((k) => params[k]!), decay, guard);
    keys.forEach((k, i) => ema[k]!.assign(out[i]!));
  });
}
