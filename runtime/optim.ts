/** @file Adam (bias-corrected, as torch.optim.Adam), with state that can be saved and restored. All parameters of a
 * role update in one fused kernel where the backend has it (gpu/kernels). */
import type { AdamConfig } from '../dsl/ir/schema.ts';
import type { Tensor, TF } from '../gpu/lower/context.ts';
import type * as tfns from '@tensorflow/tfjs';
import { adamStep, adamStepGuarded, updateGuard } from '../gpu/fused.ts';
import { lrFactor } from '../ops/lr-decay.ts';

export interface AdamState {
  /** applied updates (the bias corrections' t); a deferred loop counts them when it reads the update back */
  step: number;
  m: Record<string, tfns.Variable>;
  v: Record<string, tfns.Variable>;
}

/** the optimizer's hyperparameters at a main step: its learning rate decayed as its `decay` says (ops/lr-decay.ts) */
export const atStep = (cfg: AdamConfig, step: number): AdamConfig => (cfg.decay ? { ...cfg, lr: cfg.lr * lrFactor(cfg.decay, step) } : cfg);

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

/** The guard variable of a loop that decides on the device (`adamApplyGuarded`): [ok, lr/c1, c2, t], t = `step`. */
export function guardInit(tf: TF, step: number): tfns.Variable {
  return tf.tidy(() => tf.variable(tf.tensor1d([1, 0, 0, step]), false));
}

/** One Adam step decided on the device: applied when the update's loss and Σ‖g‖² (`stats`) are finite, else p, m and
 * v stay as they are; the guard advances its count t of applied updates, and nothing is read back. `s.step` is not
 * touched: the loop counts the update when it reads `stats`. */
export function adamApplyGuarded(tf: TF, cfg: AdamConfig, s: AdamState, guard: tfns.Variable, params: Record<string, tfns.Variable>, grads: Record<string, Tensor>, stats: Tensor): void {
  const keys = Object.keys(params).filter((k) => grads[k]);
  const n = keys.length;
  tf.tidy(() => {
    guard.assign(updateGuard(stats, guard, { lr: cfg.lr, beta1: cfg.beta1, beta2: cfg.beta2 }) as tfns.Tensor1D);
    const out = adamStepGuarded(
      keys.map((k) => params[k]!),
      keys.map((k) => grads[k]!),
      keys.map((k) => s.m[k]!),
      keys.map((k) => s.v[k]!),
      guard,
      { beta1: cfg.beta1, beta2: cfg.beta2, eps: cfg.eps },
    );
    keys.forEach((k, i) => {
      params[k]!.assign(out[i]!);
      s.m[k]!.assign(out[n + i]!);
      s.v[k]!.assign(out[2 * n + i]!);
    });
  });
}
