/** @file Exact denoiser E[x0 | x_t] of a Gaussian mixture under any schedule — the closed-form teacher of the toys.
 * Given component k (mean μ_k, std s_k): x_t | k ~ N(α μ_k, (α² s_k² + σ²) I), so
 *   r_k(x_t) ∝ π_k N(x_t; α μ_k, v_k I),  v_k = α² s_k² + σ²,
 *   E[x0 | x_t, k] = μ_k + (α s_k² / v_k) (x_t − α μ_k),
 *   D(x_t, t) = Σ_k r_k E[x0 | x_t, k]. */
import * as z from 'zod';
import { defineModel } from './model.ts';
import { OpShapeError } from '../define.ts';
import { ScheduleSchema } from '../../dsl/ir/schema.ts';
import { alphaOf, sigmaOf } from '../schedules.ts';
import { gmmDim } from '../datasets.ts';
import { showType } from '../../dsl/types.ts';

export const GmmDenoiserConfig = z.object({ dataset: z.string().min(1), schedule: ScheduleSchema }).strict();
export type GmmDenoiserConfig = z.infer<typeof GmmDenoiserConfig>;

export const gmmDenoiser = defineModel<GmmDenoiserConfig>({
  kind: 'gmm_denoiser',
  config: GmmDenoiserConfig,
  outType(c, ins, env) {
    const ds = env.dataset(c.dataset);
    if (!ds) throw new OpShapeError(`unknown dataset '${c.dataset}'`, 'unknown_dataset');
    const d = gmmDim(ds);
    if (ins.length !== 2) throw new OpShapeError(`gmm_denoiser takes (x_t, t), got ${ins.length} input(s)`);
    const [x, t] = ins;
    if (x!.shape.length !== 2 || x!.shape[1] !== d) throw new OpShapeError(`gmm_denoiser input expected f32[B,${d}], got ${showType(x!)}`);
    if (t!.shape.length !== 2 || t!.shape[1] !== 1 || t!.shape[0] !== x!.shape[0])
      throw new OpShapeError(`gmm_denoiser time expected f32[${x!.shape[0]},1], got ${showType(t!)}`);
    return { dtype: 'f32', shape: [x!.shape[0]!, d] };
  },
  init: () => ({}),
  apply(tf, _w, [x, t], c, env) {
    const ds = env.dataset(c.dataset);
    const K = ds.means.length;
    const D = gmmDim(ds);
    const total = ds.weights.reduce((a, b) => a + b, 0);
    const mu = tf.tensor(ds.means.flat(), [1, K, D]);
    const s2 = tf.tensor(ds.stds.map((s) => s * s), [1, K]);
    const logPi = tf.tensor(ds.weights.map((w) => Math.log(w / total)), [1, K]);
    const a = alphaOf(tf, c.schedule, t!); // [B,1]
    const sg = sigmaOf(tf, c.schedule, t!);
    const v = tf.add(tf.mul(tf.square(a), s2), tf.square(sg)); // [B,K]
    const diff = tf.sub(tf.expandDims(x!, 1), tf.mul(tf.expandDims(a, 2), mu)); // [B,K,D]
    const r2 = tf.sum(tf.square(diff), 2); // [B,K]
    const logits = tf.sub(tf.sub(logPi, tf.div(r2, tf.mul(2, v))), tf.mul(D / 2, tf.log(v)));
    const r = tf.softmax(logits, 1); // [B,K]
    const gain = tf.div(tf.mul(a, s2), v); // [B,K]
    const post = tf.add(mu, tf.mul(tf.expandDims(gain, 2), diff)); // [B,K,D]
    return tf.sum(tf.mul(tf.expandDims(r, 2), post), 1);
  },
});
