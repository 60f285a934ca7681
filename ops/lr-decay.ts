/** @file What a learning-rate decay means: the factor on an optimizer's base learning rate at a training step. One
 * formula for every target (the PyTorch export's runtime.py carries the same lines). */

/** lr(s) = lr · factor(s): 1 up to step `start`, then down to `final` at step `end` along a cosine (or a line), and
 * `final` after it. Warm-up updates (before step 1) run at the base rate. */
export const LR_DECAY_KINDS = ['cosine', 'linear'] as const;

export interface LrDecay {
  kind: (typeof LR_DECAY_KINDS)[number];
  start: number;
  end: number;
  final: number;
}

export function lrFactor(d: LrDecay | undefined, step: number): number {
  if (!d || step <= d.start) return 1;
  if (step >= d.end) return d.final;
  const p = (step - d.start) / (d.end - d.start);
  const fall = d.kind === 'cosine' ? 0.5 * (1 + Math.cos(Math.PI * p)) : 1 - p;
  return d.final + (1 - d.final) * fall;
}

/** the decay in the IR's and the plan's text form: `, cosine 4000→5000 to 0.1` */
export const decayText = (d: LrDecay | undefined): string => (d ? `, ${d.kind} ${d.start}→${d.end} to ${d.final}` : '');
