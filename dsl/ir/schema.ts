/** @file The IR: plain data, one zod schema, JSON round trip. Nodes sit in one array in topological order. */
import * as z from 'zod';
import { DTYPES } from '../types.ts';
import { MODEL_KINDS, OP_KINDS } from '../../ops/kinds.ts';
import { LR_DECAY_KINDS } from '../../ops/lr-decay.ts';

export const IR_VERSION = 1;

export const TensorTypeSchema = z.object({
  dtype: z.enum(DTYPES),
  shape: z.array(z.union([z.number().int().nonnegative(), z.string().min(1)])),
});

export const ScheduleSchema = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('rf') }),
  z.object({ kind: z.literal('vp') }),
  z.object({
    kind: z.literal('ve'),
    sigmaMin: z.number().positive(),
    sigmaMax: z.number().positive(),
    rho: z.number().positive(),
  }),
]);
export type Schedule = z.infer<typeof ScheduleSchema>;

export const NodeSchema = z.object({
  id: z.string().min(1),
  op: z.enum(OP_KINDS),
  inputs: z.array(z.string()),
  params: z.record(z.string(), z.unknown()),
  type: TensorTypeSchema,
  name: z.string().optional(),
  at: z.string().optional(),
  noGrad: z.boolean().optional(),
});
export type IRNode = z.infer<typeof NodeSchema>;

export const GmmSchema = z.object({
  kind: z.literal('gmm'),
  means: z.array(z.array(z.number())).min(1),
  stds: z.array(z.number().positive()),
  weights: z.array(z.number().nonnegative()),
  /** the class of each component (class-conditional toys); p(x | c) is the mixture of class c's components */
  classes: z.array(z.number().int().nonnegative()).optional(),
  /** low intrinsic dimension (docs/methods/copying.md): `stds` act inside the span of the orthonormal
   * rows of `basis` (r × D); off it every component has std `eta`: Cov_k = σ_k² UᵀU + η²(I − UᵀU) */
  subspace: z.object({ basis: z.array(z.array(z.number())).min(1), eta: z.number().positive() }).optional(),
});
export type GmmSpec = z.infer<typeof GmmSchema>;
/** sequences of `length` tokens in 0..vocab−1 with an exactly known law: every sequence of the support and its
 * probability (the discrete toys of docs/methods/dmmd.md: the two-coin set, the closed Markov language) */
export const TokensSchema = z.object({
  kind: z.literal('tokens'),
  length: z.int().min(1).max(64),
  vocab: z.int().min(2).max(256),
  support: z.array(z.array(z.int().min(0))).min(1),
  probs: z.array(z.number().nonnegative()),
});
export type TokensSpec = z.infer<typeof TokensSchema>;
export const DatasetSchema = z.discriminatedUnion('kind', [GmmSchema, TokensSchema]);
export type DatasetSpec = z.infer<typeof DatasetSchema>;
const isGmm = (d: DatasetSpec | undefined): d is GmmSpec => d?.kind === 'gmm';
/** the dataset as a Gaussian mixture; `what` names the user for the error */
export function gmmOf(d: DatasetSpec | undefined, what: string): GmmSpec {
  if (!isGmm(d)) throw new Error(`${what} needs a Gaussian-mixture dataset, got ${d ? `'${d.kind}'` : 'none'}`);
  return d;
}

export const ModelSchema = z.object({
  role: z.string().min(1),
  kind: z.enum(MODEL_KINDS),
  config: z.record(z.string(), z.unknown()),
  trainable: z.boolean(),
  initFrom: z.string().optional(),
  load: z.string().optional(), // safetensors file with the weights
  at: z.string().optional(),
});
export type ModelDecl = z.infer<typeof ModelSchema>;

/** a learning-rate decay (ops/lr-decay.ts): the one rule both a parsed IR and verify apply */
export const LrDecaySchema = z
  .object({ kind: z.enum(LR_DECAY_KINDS), start: z.int().nonnegative(), end: z.int().positive(), final: z.number().min(0).max(1) })
  .refine((d) => d.end > d.start, { message: 'the decay must end after it starts (end > start)' });

export const AdamSchema = z.object({
  kind: z.literal('adam'),
  lr: z.number().positive(),
  beta1: z.number().min(0).lt(1),
  beta2: z.number().min(0).lt(1),
  eps: z.number().positive(),
  /** a decay of the learning rate over the main steps (ops/lr-decay.ts); absent: constant */
  decay: LrDecaySchema.optional(),
});
export type AdamConfig = z.infer<typeof AdamSchema>;

export const UpdateSchema = z.object({
  role: z.string().min(1),
  loss: z.string().min(1),
  optimizer: AdamSchema,
  /** updates of this role per step (DMD2: 5 for the fake score); 0: only in the warm-up (a pre-training phase) */
  ratio: z.number().int().nonnegative(),
  /** updates of this role alone before the first step */
  warmup: z.number().int().nonnegative(),
  /** decay of an exponential moving average of the role's weights, stepped after every applied update of the role
   * (by any of its updates); evaluation, samples and exported weights read it. Absent: off. One per role. */
  ema: z.number().gt(0).lt(1).optional(),
  at: z.string().optional(),
});
export type UpdateDecl = z.infer<typeof UpdateSchema>;

export const EvalSchema = z.object({
  samples: z.string().min(1),
  target: z.string().min(1),
  teacher: z.object({ role: z.string().min(1), schedule: ScheduleSchema }).optional(),
  /** per-sample values (rows aligned with the samples) that evaluators read beside them: name → node */
  extras: z.record(z.string(), z.string().min(1)).optional(),
});
export type EvalDecl = z.infer<typeof EvalSchema>;

export const GraphIRSchema = z.object({
  version: z.literal(IR_VERSION),
  name: z.string().min(1),
  dims: z.record(z.string(), z.number().int().positive()),
  datasets: z.record(z.string(), DatasetSchema),
  models: z.array(ModelSchema),
  nodes: z.array(NodeSchema),
  updates: z.array(UpdateSchema),
  outputs: z.record(z.string(), z.string()),
  eval: EvalSchema.optional(),
  run: z.object({ steps: z.number().int().positive(), evalEvery: z.number().int().nonnegative() }),
});
export type GraphIR = z.infer<typeof GraphIRSchema>;
