/** @file Adam (bias-corrected, as torch.optim.Adam), with state that can be saved and restored. All parameters of a
 * role update in one fused kernel where the backend has it (gpu/kernels). */
import type { AdamConfig } from '../dsl/ir/schema.ts';
import type { Tensor, TF } from '../gpu/lower/context.ts';
import type * as tfns from '@tensorflow/tfjs';
import { adamStep } from '../gpu/fused.ts';

export interface AdamState {
  step: number;
  m: Record<string, tfns.Variable>;
  v: Record<string, tfns.Variable>;
}

export function adamInit(tf: TF, params: Record<string, tfns.Variable>): AdamState {
  const zeros = () => Object.fromEntries(Object.entries(params).map(([k, p]) => [k, tf.tidy(() => tf.variable(tf.zerosLike(p), false))]));
  return { step: 0, m: zeros(), v: zeros() };
}

/** One Adam step; every temporary is released before it returns. */
export function adamApply(tf: TF, cfg: AdamConfig, s: AdamState, params: Record<string, tfns.Variable>, grads: Record<string, Tensor>): void {
  s.step++;
  const keys = Object.keys(params).filter((k) => grads[k]);
  const n = keys.length;
  tf.tidy(() => {
    const out = adamStep(
      keys.map((k) => params[k]!),
      keys.map((k) => grads[k]!),
      keys.map((k) => s.m[k]!),
      keys.map((k) => s.v[k]!),
      { lr: cfg.lr, beta1: cfg.beta1, beta2: cfg.beta2, eps: cfg.eps, step: s.step },
    );
    keys.forEach((k, i) => {
      params[k]!.assign(out[i]!);
      s.m[k]!.assign(out[n + i]!);
      s.v[k]!.assign(out[2 * n + i]!);
    });
  });
}
