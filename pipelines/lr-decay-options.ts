/** @file The learning-rate decay as pipeline options (`--set lrDecay=cosine lrDecayStart=0.5 lrFinal=0.1`), shared by
 * the pipelines that offer it, and the `adam(lr, …)` decay those options mean for a run of `steps` steps. */
import { z } from 'zod';
import { LR_DECAY_KINDS, type LrDecay } from '../ops/lr-decay.ts';

type Kind = 'none' | LrDecay['kind'];

/** the three options, with the pipeline's own default kind */
export const lrDecayOptions = (kind: Kind) => ({
  lrDecay: z.enum(['none', ...LR_DECAY_KINDS]).default(kind).describe("decay of the main updates' learning rates (not pre-fit or warm-up updates) from step lrDecayStart·steps to the end (none: constant)"),
  lrDecayStart: z.number().min(0).lt(1).default(0.5).describe('where the learning-rate decay starts, as a fraction of the steps'),
  lrFinal: z.number().min(0).max(1).default(0.1).describe('the learning rates at the last step, as a fraction of their start'),
});

/** the optimizer option for `adam(lr, decayOf(c))`: the decay from ⌊lrDecayStart·steps⌋ to the last step, or none */
export const decayOf = (c: { lrDecay: Kind; lrDecayStart: number; lrFinal: number; steps: number }): { decay?: LrDecay } =>
  c.lrDecay === 'none' ? {} : { decay: { kind: c.lrDecay, start: Math.floor(c.lrDecayStart * c.steps), end: c.steps, final: c.lrFinal } };
