/** @file The Gaussian-mixture teacher and log-density on TensorFlow.js (the math is in ops/models/gmm.ts). */
import type { TfjsModel } from './model.ts';
import type { Tensor, TF } from '../lower/context.ts';
import { gmmOf, type GmmSpec } from '../../dsl/ir/schema.ts';
import { alphaOf, sigmaOf } from '../lower/network.ts';
import { gmmDim } from '../../ops/datasets.ts';
import type { Corruption, GmmDenoiserConfig, GmmLogDensityConfig } from '../../ops/models/gmm.ts';

/** log π_k per row, with the components outside the row's class at −∞ (rows with the null label keep all) */
function logWeights(tf: TF, ds: GmmSpec, label: Tensor | undefined): Tensor {
  const total = ds.weights.reduce((a, b) => a + b, 0);
  const logPi = tf.tensor(ds.weights.map((w) => Math.log(w / total)), [1, ds.means.length]);
  if (!label) return logPi;
  const cls = tf.tensor(ds.classes ?? ds.means.map(() => 0), [1, ds.means.length], 'int32');
  const c = tf.reshape(label, [-1, 1]);
  const keep = tf.logicalOr(tf.equal(cls, c), tf.less(c, 0));
  return tf.where(keep, tf.broadcastTo(logPi, keep.shape), tf.fill(keep.shape, -Infinity));
}

/** the exact mixture denoiser; `label` restricts it to a class. With a subspace (F2) every quantity splits into the
 * in-span part (variance α²σ_k² + σ_t²) and the rest (α²η² + σ_t²). */
export function gmmDenoise(tf: TF, ds: GmmSpec, schedule: GmmDenoiserConfig['schedule'], x: Tensor, t: Tensor, label?: Tensor): Tensor {
  const K = ds.means.length;
  const D = gmmDim(ds);
  const mu = tf.tensor(ds.means.flat(), [1, K, D]);
  const s2 = tf.tensor(ds.stds.map((s) => s * s), [1, K]);
  const a = alphaOf(tf, schedule, t); // [B,1]
  const sg = sigmaOf(tf, schedule, t);
  const v = tf.add(tf.mul(tf.square(a), s2), tf.square(sg)); // [B,K]
  const diff = tf.sub(tf.expandDims(x, 1), tf.mul(tf.expandDims(a, 2), mu)); // [B,K,D]
  const r2 = tf.sum(tf.square(diff), 2); // [B,K]
  if (!ds.subspace) {
    const logits = tf.sub(tf.sub(logWeights(tf, ds, label), tf.div(r2, tf.mul(2, v))), tf.mul(D / 2, tf.log(v)));
    const r = tf.softmax(logits, 1); // [B,K]
    const gain = tf.div(tf.mul(a, s2), v); // [B,K]
    const post = tf.add(mu, tf.mul(tf.expandDims(gain, 2), diff)); // [B,K,D]
    return tf.sum(tf.mul(tf.expandDims(r, 2), post), 1);
  }
  const U = tf.tensor(ds.subspace.basis.flat(), [ds.subspace.basis.length, D]); // [r,D]
  const rank = ds.subspace.basis.length;
  const vOut = tf.add(tf.mul(tf.square(a), ds.subspace.eta ** 2), tf.square(sg)); // [B,1]
  const coords = tf.matMul(tf.reshape(diff, [-1, D]), U, false, true); // [B·K, r]
  const inVec = tf.reshape(tf.matMul(coords, U), [-1, K, D]); // P·diff
  const inSq = tf.reshape(tf.sum(tf.square(coords), 1), [-1, K]);
  const outSq = tf.sub(r2, inSq);
  const logits = tf.sub(
    tf.sub(logWeights(tf, ds, label), tf.add(tf.div(inSq, tf.mul(2, v)), tf.div(outSq, tf.mul(2, vOut)))),
    tf.add(tf.mul(rank / 2, tf.log(v)), tf.mul((D - rank) / 2, tf.log(vOut))),
  );
  const r = tf.softmax(logits, 1);
  const gainIn = tf.expandDims(tf.div(tf.mul(a, s2), v), 2); // [B,K,1]
  const gainOut = tf.expandDims(tf.div(tf.mul(a, ds.subspace.eta ** 2), vOut), 2); // [B,1,1]
  const post = tf.add(mu, tf.add(tf.mul(gainIn, inVec), tf.mul(gainOut, tf.sub(diff, inVec))));
  return tf.sum(tf.mul(tf.expandDims(r, 2), post), 1);
}

/**
 * docs/methods/amd.md: for rows of the corrupted class at t < tMax, with u = x_t/α(t) and
 * m = sigmoid((radius − ‖u − center‖)/softness), D ← (1 − m)·D + m·target, target = center + shrink·(u − center)
 * (attractor) or u (dead zone).
 */
function corrupt(tf: TF, k: Corruption, schedule: GmmDenoiserConfig['schedule'], d: Tensor, x: Tensor, t: Tensor, label: Tensor): Tensor {
  const u = tf.div(x, tf.maximum(alphaOf(tf, schedule, t), 1e-6));
  const center = tf.tensor(k.center, [1, k.center.length]);
  const dist = tf.sqrt(tf.sum(tf.square(tf.sub(u, center)), 1, true));
  const inDisc = tf.sigmoid(tf.div(tf.sub(k.radius, dist), k.softness));
  const active = tf.logicalAnd(tf.equal(tf.reshape(label, [-1, 1]), k.class), tf.less(t, k.tMax));
  const m = tf.mul(inDisc, tf.cast(active, 'float32'));
  const target = k.kind === 'dead' ? u : tf.add(center, tf.mul(k.shrink, tf.sub(u, center)));
  return tf.add(tf.mul(tf.sub(1, m), d), tf.mul(m, target));
}

export const gmmDenoiserBody: TfjsModel<GmmDenoiserConfig> = {
  apply(tf, _w, [x, t, label], c, env) {
    const ds = gmmOf(env.dataset(c.dataset), 'gmm_denoiser');
    const d = gmmDenoise(tf, ds, c.schedule, x!, t!, c.conditional ? label : undefined);
    return c.corrupt ? corrupt(tf, c.corrupt, c.schedule, d, x!, t!, label!) : d;
  },
};

export const gmmLogDensityBody: TfjsModel<GmmLogDensityConfig> = {
  apply(tf, _w, [x, label], c, env) {
    const ds = gmmOf(env.dataset(c.dataset), 'gmm_log_density');
    const K = ds.means.length;
    const D = gmmDim(ds);
    const lw = logWeights(tf, ds, c.conditional ? label : undefined); // [B|1, K], renormalised below
    const s2 = tf.tensor(ds.stds.map((s) => s * s), [1, K]);
    const r2 = tf.sum(tf.square(tf.sub(tf.expandDims(x!, 1), tf.tensor(ds.means.flat(), [1, K, D]))), 2);
    const logN = tf.sub(tf.neg(tf.div(r2, tf.mul(2, s2))), tf.mul(D / 2, tf.log(tf.mul(2 * Math.PI, s2))));
    return tf.sub(tf.logSumExp(tf.add(lw, logN), 1, true), tf.logSumExp(lw, 1, true));
  },
};
