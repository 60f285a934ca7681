/**
 * @file Models over token sequences for masked diffusion (docs/methods/dmmd.md). Both take (z: i32[B,L], t: f32[B,1])
 * and return per-position probabilities f32[B,L,V] with the carry-over rule: a revealed position predicts its own
 * token, and MASK (id V) is never predicted.
 * - token_mlp: one-hot(z) ⊕ Fourier(t) → MLP → L·V logits; with `noise: n` it also takes ε: f32[B,n], fed through a
 *   zero-initialised projection into the first layer, so a noisy student starts as the net it was fitted to.
 * - token_oracle: the exact x̂(z)_d = q(x_d | revealed tokens) of a token dataset (no weights).
 */
import * as z from 'zod';
import { defineModel, denseStackMemory, type HostTensor } from './model.ts';
import { OpShapeError } from '../define.ts';
import { checkTime } from '../shape.ts';
import { showType, type TensorType } from '../../dsl/types.ts';

export const TokenMlpConfig = z
  .object({
    length: z.int().positive(),
    vocab: z.int().min(2),
    hidden: z.int().positive().default(256),
    layers: z.int().positive().default(3),
    frequencies: z.int().positive().default(8),
    /** size of the Gaussian input noise ε (0: no noise input) */
    noise: z.int().nonnegative().default(0),
    /** take a base model's probabilities b: f32[B,L,V] as the last input and return softmax(log b + MLP(z, t, ε)),
     * with the MLP's last layer at zero: the model starts exactly as its base (a student or auxiliary "initialised
     * from the teacher", even when the teacher is the exact oracle) */
    residual: z.boolean().default(false),
    /** residual base smoothed to (1 − λ)·b + λ/V: with an exact teacher's zeros (log b = −18) the model could not
     * move mass there in any useful number of steps; λ keeps every logit within reach */
    smoothing: z.number().min(0).max(1).default(0),
    /** residual models: scale of the last layer's initial weights (0: the model starts exactly as its base). A noisy
     * student needs some: with a zero last layer its output ignores ε, and nothing in the expected gradient makes it
     * start depending on ε (the two-coin student collapsed onto one mode) */
    lastInit: z.number().min(0).default(0),
    /** scale of the ε projection's initial weights (relative to 1/√noise) */
    noiseInit: z.number().min(0).default(1),
  })
  .strict();
export type TokenMlpConfig = z.infer<typeof TokenMlpConfig>;

function checkTokenInputs(name: string, ins: TensorType[], L: number, noise: number, base?: number): number {
  const want = 2 + Number(noise > 0) + Number(base !== undefined);
  if (ins.length !== want) throw new OpShapeError(`${name} takes (z, t${noise > 0 ? ', ε' : ''}${base !== undefined ? ', base' : ''}), got ${ins.length} input(s)`);
  const [zt, t] = ins;
  const e = noise > 0 ? ins[2] : undefined;
  const b = base !== undefined ? ins[want - 1] : undefined;
  if (b && (b.dtype !== 'f32' || b.shape.length !== 3 || b.shape[0] !== zt!.shape[0] || b.shape[1] !== L || b.shape[2] !== base))
    throw new OpShapeError(`${name} base probabilities expected f32[${zt!.shape[0]},${L},${base}], got ${showType(b)}`);
  if (zt!.dtype !== 'i32' || zt!.shape.length !== 2 || zt!.shape[1] !== L) throw new OpShapeError(`${name} tokens expected i32[B,${L}], got ${showType(zt!)}`, 'dtype_mismatch');
  const B = zt!.shape[0]!;
  checkTime(name, B, t!);
  if (e && (e.dtype !== 'f32' || e.shape.length !== 2 || e.shape[1] !== noise || e.shape[0] !== B)) throw new OpShapeError(`${name} noise expected f32[${B},${noise}], got ${showType(e)}`);
  return B as number;
}

export const tokenMlpWidths = (c: TokenMlpConfig) => [c.length * (c.vocab + 1) + 2 * c.frequencies, ...Array(c.layers).fill(c.hidden), c.length * c.vocab];

export const tokenMlp = defineModel<TokenMlpConfig>({
  kind: 'token_mlp',
  config: TokenMlpConfig,
  outType(c, ins) {
    const B = checkTokenInputs('token_mlp', ins, c.length, c.noise, c.residual ? c.vocab : undefined);
    return { dtype: 'f32', shape: [B, c.length, c.vocab] };
  },
  init(c, rng) {
    const w = tokenMlpWidths(c);
    const out: Record<string, HostTensor> = {};
    for (let i = 0; i + 1 < w.length; i++) {
      const bound = 1 / Math.sqrt(w[i]!);
      // a residual model starts as its base (scale 0) or near it
      const scale = c.residual && i + 2 === w.length ? c.lastInit : 1;
      out[`l${i}.weight`] = { shape: [w[i]!, w[i + 1]!], data: rng.uniforms(w[i]! * w[i + 1]!, -bound * scale, bound * scale) };
      out[`l${i}.bias`] = { shape: [w[i + 1]!], data: scale === 1 ? rng.uniforms(w[i + 1]!, -bound, bound) : new Float32Array(w[i + 1]!) };
    }
    // ε feeds the first layer. A residual model starts as its base through its zero last layer, so its ε projection
    // can start random: at zero, E_ε[∇] = 0 for it and nothing ever breaks the symmetry between noise draws
    // (two-coin runs collapsed onto one mode). A plain model zeroes the projection instead, to start as its fit.
    if (c.noise > 0) {
      const bound = c.noiseInit / Math.sqrt(c.noise);
      out['noise.weight'] = { shape: [c.noise, c.hidden], data: c.residual ? rng.uniforms(c.noise * c.hidden, -bound, bound) : new Float32Array(c.noise * c.hidden) };
    }
    return out;
  },
  memory: (c, rows, onTape) => denseStackMemory(tokenMlpWidths(c), rows, onTape),
});

export const TokenOracleConfig = z.object({ dataset: z.string().min(1) }).strict();
export type TokenOracleConfig = z.infer<typeof TokenOracleConfig>;

export const tokenOracle = defineModel<TokenOracleConfig>({
  kind: 'token_oracle',
  config: TokenOracleConfig,
  outType(c, ins, env) {
    const ds = env.dataset(c.dataset);
    if (!ds) throw new OpShapeError(`unknown dataset '${c.dataset}'`, 'unknown_dataset');
    if (ds.kind !== 'tokens') throw new OpShapeError(`token_oracle needs a token dataset; '${c.dataset}' holds ${ds.kind}`, 'unknown_dataset');
    const B = checkTokenInputs('token_oracle', ins, ds.length, 0);
    return { dtype: 'f32', shape: [B, ds.length, ds.vocab] };
  },
  init: () => ({}),
});
