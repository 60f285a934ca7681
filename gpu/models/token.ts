/** @file The token models on TensorFlow.js (their meaning is in ops/models/token.ts). */
import type { TfjsModel } from './model.ts';
import type { Tensor, TF } from '../lower/context.ts';
import { linalg } from '../linalg.ts';
import { timeEmbedding } from './mlp.ts';
import { oracleMarginals } from '../../ops/tokens.ts';
import { tokenMlpWidths, type TokenMlpConfig, type TokenOracleConfig } from '../../ops/models/token.ts';

/** revealed positions → their one-hot; masked ones → `probs` */
function carryOver(tf: TF, zt: Tensor, probs: Tensor, V: number): Tensor {
  const masked = tf.expandDims(tf.cast(tf.equal(zt, V), 'float32'), -1);
  return tf.add(tf.mul(probs, masked), tf.cast(tf.oneHot(zt, V), 'float32')); // oneHot(MASK = V) is a zero row
}

export const tokenMlpBody: TfjsModel<TokenMlpConfig> = {
  apply(tf, weights, ins, c) {
    const [zt, t] = ins;
    const e = c.noise > 0 ? ins[2] : undefined;
    const { dense } = linalg(tf);
    const B = zt!.shape[0]!;
    const { length: L, vocab: V } = c;
    let h = tf.concat([tf.reshape(tf.cast(tf.oneHot(zt!, V + 1), 'float32'), [B, L * (V + 1)]), timeEmbedding(tf, t!, c.frequencies)], 1);
    const n = tokenMlpWidths(c).length - 1;
    for (let i = 0; i < n; i++) {
      h = dense(h, weights[`l${i}.weight`]!, weights[`l${i}.bias`]!);
      if (i === 0 && c.noise > 0) h = tf.add(h, tf.matMul(e!, weights['noise.weight']!));
      if (i + 1 < n) h = tf.mul(h, tf.sigmoid(h)); // SiLU
    }
    let logits = tf.reshape(h, [B, L, V]);
    if (c.residual) {
      const b = ins[ins.length - 1]!;
      const smoothed = c.smoothing > 0 ? tf.add(tf.mul(b, 1 - c.smoothing), c.smoothing / V) : b;
      logits = tf.add(logits, tf.log(tf.maximum(smoothed, 1e-8)));
    }
    return carryOver(tf, zt!, tf.softmax(logits), V);
  },
};

export const tokenOracleBody: TfjsModel<TokenOracleConfig> = {
  hostReads: true,
  apply(tf, _w, [zt], c, env) {
    const ds = env.dataset(c.dataset);
    if (ds.kind !== 'tokens') throw new Error('internal: token_oracle on a mixture');
    const B = zt!.shape[0]!;
    return tf.tensor(oracleMarginals(ds, zt!.dataSync(), B), [B, ds.length, ds.vocab]);
  },
};
