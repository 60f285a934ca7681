/** @file MLP with optional Fourier time embedding: [x, fourier(x), temb(t), onehot(c)] → Linear → SiLU → … → Linear.
 * temb(t) = [sin(2πkt)…, cos(2πkt)…] for k = 1..frequencies; fourier(x) = per coordinate [sin(k·x_j)…, cos(k·x_j)…],
 * or per direction u_d of `fourierDirections` [sin(k·u_d·x)…, cos(k·u_d·x)…]. */
import * as z from 'zod';
import { defineModel, denseStackMemory, type HostTensor } from './model.ts';
import { OpShapeError } from '../define.ts';
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
    /** take the Fourier features along n directions equally spaced in angle, u_d = (cos πd/n, sin πd/n), instead of
     * along the coordinates (0; 2-D inputs only). Per-coordinate features tile the plane in axis-aligned cells, which
     * favours targets aligned with the axes; n directions give a feature set closed under rotations by π/n. */
    fourierDirections: z.number().int().nonnegative().default(0),
    /** take a class label c: i32[B] as the last input, fed as a one-hot code (the null label −1 is all zeros) */
    classes: z.number().int().nonnegative().default(0),
    /** scale of the last linear map's initial weights and bias (0: the output starts at exactly 0, as a residual
     * correction that starts at nothing) */
    lastScale: z.number().min(0).default(1),
  })
  .strict();
export type MlpConfig = z.infer<typeof MlpConfig>;

/** the lines the x input's Fourier features are taken along: the coordinates, or `fourierDirections` of them */
export const fourierLines = (c: MlpConfig) => (c.fourierDirections > 0 ? c.fourierDirections : c.in);

/** the [in, n] matrix whose columns are the unit directions u_d = (cos πd/n, sin πd/n) of `fourierDirections` */
export function fourierDirectionMatrix(n: number): number[][] {
  const u = Array.from({ length: n }, (_, d) => (Math.PI * d) / n);
  return [u.map(Math.cos), u.map(Math.sin)];
}

export const mlpWidths = (c: MlpConfig) => [
  c.in + 2 * c.fourier * fourierLines(c) + (c.time ? 2 * c.frequencies : 0) + c.classes,
  ...Array(c.layers).fill(c.hidden),
  c.out,
];

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
    if (c.fourierDirections > 0 && c.in !== 2) throw new OpShapeError(`mlp fourierDirections needs a 2-D input (in = 2), got in = ${c.in}`);
    if (c.fourierDirections > 0 && c.fourier === 0) throw new OpShapeError(`mlp fourierDirections ${c.fourierDirections} takes the Fourier features along directions, but fourier is 0 (no features)`);
    if (x!.shape.length !== 2 || x!.shape[1] !== c.in)
      throw new OpShapeError(`mlp input expected f32[B,${c.in}], got ${showType(x!)}`);
    if (t && (t.shape.length !== 2 || t.shape[1] !== 1 || t.shape[0] !== x!.shape[0]))
      throw new OpShapeError(`mlp time input expected f32[${x!.shape[0]},1], got ${showType(t)}`);
    return { dtype: 'f32', shape: [x!.shape[0]!, c.out] };
  },
  // the last hidden layer's activations (after its SiLU): what DMD2's GAN head classifies
  outputs: (c, ins) => ({ features: { dtype: 'f32', shape: [ins[0]!.shape[0]!, c.hidden] } }),
  init(c, rng) {
    // torch.nn.Linear's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases
    const w = mlpWidths(c);
    const out: Record<string, HostTensor> = {};
    for (let i = 0; i + 1 < w.length; i++) {
      const bound = (i + 2 === w.length ? c.lastScale : 1) / Math.sqrt(w[i]!);
      out[`l${i}.weight`] = { shape: [w[i]!, w[i + 1]!], data: rng.uniforms(w[i]! * w[i + 1]!, -bound, bound) };
      out[`l${i}.bias`] = { shape: [w[i + 1]!], data: rng.uniforms(w[i + 1]!, -bound, bound) };
    }
    return out;
  },
  memory: (c, rows, onTape) => denseStackMemory(mlpWidths(c), rows, onTape),
});
