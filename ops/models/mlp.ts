/** @file MLP with optional Fourier time embedding: [x, temb(t)] → Linear → SiLU → … → Linear. */
import * as z from 'zod';
import { defineModel, type HostTensor } from './model.ts';
import { OpShapeError, type Tensor, type TF } from '../define.ts';
import { linalg } from '../linalg.ts';
import { showType } from '../../dsl/types.ts';

export const MlpConfig = z
  .object({
    in: z.number().int().positive(),
    out: z.number().int().positive(),
    hidden: z.number().int().positive().default(128),
    /** hidden layers; depth = layers + 1 linear maps */
    layers: z.number().int().positive().default(2),
    /** take a time input t of shape [B, 1] */
    time: z.boolean().default(false),
    /** number of frequencies k = 1..n in [sin(2πkt), cos(2πkt)] */
    frequencies: z.number().int().positive().default(8),
  })
  .strict();
export type MlpConfig = z.infer<typeof MlpConfig>;

export function timeEmbedding(tf: TF, t: Tensor, n: number): Tensor {
  const k = tf.mul(tf.range(1, n + 1, 1, 'float32'), 2 * Math.PI).reshape([1, n]);
  const a = tf.mul(t, k);
  return tf.concat([tf.sin(a), tf.cos(a)], 1);
}

const widths = (c: MlpConfig) => [c.in + (c.time ? 2 * c.frequencies : 0), ...Array(c.layers).fill(c.hidden), c.out];

export const mlp = defineModel<MlpConfig>({
  kind: 'mlp',
  config: MlpConfig,
  outType(c, ins) {
    const want = c.time ? 2 : 1;
    if (ins.length !== want) throw new OpShapeError(`mlp${c.time ? ' with time' : ''} takes ${want} input(s), got ${ins.length}`);
    const [x, t] = ins;
    if (x!.shape.length !== 2 || x!.shape[1] !== c.in)
      throw new OpShapeError(`mlp input expected f32[B,${c.in}], got ${showType(x!)}`);
    if (t && (t.shape.length !== 2 || t.shape[1] !== 1 || t.shape[0] !== x!.shape[0]))
      throw new OpShapeError(`mlp time input expected f32[${x!.shape[0]},1], got ${showType(t)}`);
    return { dtype: 'f32', shape: [x!.shape[0]!, c.out] };
  },
  init(c, rng) {
    // torch.nn.Linear's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases
    const w = widths(c);
    const out: Record<string, HostTensor> = {};
    for (let i = 0; i + 1 < w.length; i++) {
      const bound = 1 / Math.sqrt(w[i]!);
      out[`l${i}.weight`] = { shape: [w[i]!, w[i + 1]!], data: rng.uniforms(w[i]! * w[i + 1]!, -bound, bound) };
      out[`l${i}.bias`] = { shape: [w[i + 1]!], data: rng.uniforms(w[i + 1]!, -bound, bound) };
    }
    return out;
  },
  apply(tf, weights, [x, t], c) {
    const { dense } = linalg(tf);
    let h = c.time ? tf.concat([x!, timeEmbedding(tf, t!, c.frequencies)], 1) : x!;
    const n = widths(c).length - 1;
    for (let i = 0; i < n; i++) {
      h = dense(h, weights[`l${i}.weight`]!, weights[`l${i}.bias`]!);
      if (i + 1 < n) h = tf.mul(h, tf.sigmoid(h)); // SiLU
    }
    return h;
  },
});
