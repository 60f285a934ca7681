/** @file MLP with optional Fourier time embedding: [x, temb(t)] → Linear → SiLU → … → Linear. */
import * as z from 'zod';
import { defineModel, denseStackMemory, type HostTensor } from './model.ts';
import { OpShapeError, type Tensor, type TF } from '../define.ts';
import { linalg } from '../linalg.ts';
import { fourier } from '../../gpu/fused.ts';
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
    /** Fourier features of the x input: [x, sin(k·x_j), cos(k·x_j)] for k = 1..n (0: off). They let a small MLP
     * form the near-discontinuous maps a one-step generator needs for many separated modes (spectral bias). */
    fourier: z.number().int().nonnegative().default(0),
    /** take a class label c: i32[B] as the last input, fed as a one-hot code (the null label −1 is all zeros) */
    classes: z.number().int().nonnegative().default(0),
  })
  .strict();
export type MlpConfig = z.infer<typeof MlpConfig>;

/** [sin(2πkt), cos(2πkt)] for k = 1..n along the last axis (`base` replaces 2π): one fused kernel */
export function timeEmbedding(_tf: TF, t: Tensor, n: number, base = 2 * Math.PI): Tensor {
  return fourier(t, n, base);
}

const widths = (c: MlpConfig) => [c.in * (1 + 2 * c.fourier) + (c.time ? 2 * c.frequencies : 0) + c.classes, ...Array(c.layers).fill(c.hidden), c.out];

export const mlp = defineModel<MlpConfig>({
  kind: 'mlp',
  config: MlpConfig,
  outType(c, ins) {
    const want = 1 + Number(c.time) + Number(c.classes > 0);
    const sig = ['x', ...(c.time ? ['t'] : []), ...(c.classes > 0 ? ['c'] : [])].join(', ');
    if (ins.length !== want) throw new OpShapeError(`mlp takes (${sig}), got ${ins.length} input(s)`);
    const x = ins[0];
    const t = c.time ? ins[1] : undefined;
    const label = c.classes > 0 ? ins[want - 1] : undefined;
    if (label && (label.dtype !== 'i32' || label.shape.length !== 1 || label.shape[0] !== x!.shape[0]))
      throw new OpShapeError(`mlp class input expected i32[${x!.shape[0]}], got ${showType(label)}`, 'dtype_mismatch');
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
  memory: (c, rows, onTape) => denseStackMemory(widths(c), rows, onTape),
  apply(tf, weights, ins, c, env) {
    const { dense } = linalg(tf);
    const parts = [ins[0]!];
    if (c.fourier > 0) parts.push(timeEmbedding(tf, ins[0]!.reshape([-1, c.in, 1]), c.fourier, 1).reshape([-1, 2 * c.fourier * c.in]));
    if (c.time) parts.push(timeEmbedding(tf, ins[1]!, c.frequencies));
    if (c.classes > 0) parts.push(tf.cast(tf.oneHot(ins[ins.length - 1]!, c.classes), 'float32'));
    let h = parts.length > 1 ? tf.concat(parts, 1) : parts[0]!;
    const n = widths(c).length - 1;
    // the first layer's input gradient only when an input needs one; later layers' whenever anything upstream does
    const weights_ = env.grad?.weights ?? true;
    const inputs = env.grad ? env.grad.inputs.some(Boolean) : true;
    for (let i = 0; i < n; i++)
      h = dense(h, weights[`l${i}.weight`]!, weights[`l${i}.bias`]!, {
        act: i + 1 < n ? 'silu' : 'linear',
        grad: { weights: weights_, input: i === 0 ? inputs : weights_ || inputs },
      });
    return h;
  },
});
