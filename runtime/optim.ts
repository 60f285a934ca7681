/** @file Adam (bias-corrected, as torch.optim.Adam), with state that can be saved and restored. */
import type { AdamConfig } from '../dsl/ir/schema.ts';
import type { Tensor, TF } from '../ops/define.ts';
import type * as tfns from '@tensorflow/tfjs';

export interface AdamState {
  step: number;
  m: Record<string, tfns.Variable>;
  v: Record<string, tfns.Variable>;
}

export function adamInit(tf: TF, params: Record<string, tfns.Variable>): AdamState {
  const zeros = () => Object.fromEntries(Object.entries(params).map(([k, p]) => [k, tf.variable(tf.zerosLike(p), false)]));
  return { step: 0, m: zeros(), v: zeros() };
}

/** One Adam step; every temporary is released before it returns. */
export function adamApply(tf: TF, cfg: AdamConfig, s: AdamState, params: Record<string, tfns.Variable>, grads: Record<string, Tensor>): void {
  s.step++;
  const c1 = 1 - cfg.beta1 ** s.step;
  const c2 = 1 - cfg.beta2 ** s.step;
  tf.tidy(() => {
    for (const [k, p] of Object.entries(params)) {
      const g = grads[k];
      if (!g) continue;
      const m = tf.add(tf.mul(s.m[k]!, cfg.beta1), tf.mul(g, 1 - cfg.beta1));
      const v = tf.add(tf.mul(s.v[k]!, cfg.beta2), tf.mul(tf.square(g), 1 - cfg.beta2));
      s.m[k]!.assign(m);
      s.v[k]!.assign(v);
      const step = tf.div(tf.mul(m, cfg.lr / c1), tf.add(tf.sqrt(tf.div(v, c2)), cfg.eps));
      p.assign(tf.sub(p, step));
    }
  });
}
