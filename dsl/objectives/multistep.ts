/** @file Multi-step students (DMD2's "denoising" generator): a time-conditioned x0-predictor run on a fixed ladder of
 * noise levels, each step predicting x0 and re-noising it to the next rung (with fresh noise as DMD2 does, or with the
 * noise the step implies, DDIM's deterministic update); and backward simulation,
 * which builds the student's training input at a random rung by running its own sampler, without gradient. */
import type { Port, Scalar } from '../port.ts';
import { adam, type GraphBuilder, type Model } from '../builder.ts';
import type { Schedule } from '../ir/schema.ts';
import type { ScheduleName } from '../../ops/schedules.ts';
import type { Shape } from '../types.ts';

type X = Port<'f32', Shape>;

/** The k rungs t_0 = 1 > t_1 > … > t_{k−1} = 1/k, evenly spaced (DMD2's 999, 749, 499, 249 for k = 4). */
export const studentLadder = (k: number): number[] => Array.from({ length: k }, (_, j) => 1 - j / k);

interface Sampler {
  /** the student: (x_t, t) → x0 */
  student: Model;
  /** the rungs (`studentLadder(k)`); the first is pure noise under the schedule (σ = 1, α = 0 for rectified flow) */
  ladder: readonly number[];
  schedule: ScheduleName | Schedule;
  /** how a step reaches the next rung: 'fresh' noise (DMD2's sampler, the default) or 'ddim', the noise the step
   * implies, ε̂ = (x_t − α(t)·x0)/σ(t) — deterministic; with the teacher's denoiser it is the teacher's k-step
   * DDIM sampler (Euler under rectified flow) */
  renoise?: 'fresh' | 'ddim';
}

/** x_s = α(s)·x0 + σ(s)·ε at a constant s, ε fresh or DDIM's ε̂ from (x_t, t) */
function renoise(g: GraphBuilder, o: Sampler, x0: X, from: { x: X; t: number }, s: number): X {
  const rows = x0.type.shape[0]!;
  const at = (t: number) => g.fill([rows, 1], t);
  let eps: X;
  if (o.renoise === 'ddim') {
    const t = at(from.t);
    eps = from.x.sub(g.alpha(t, o.schedule).mul(x0)).div(g.sigma(t, o.schedule));
  } else eps = g.noise(x0.type.shape);
  const ss = at(s);
  return g.alpha(ss, o.schedule).mul(x0).add(g.sigma(ss, o.schedule).mul(eps)) as X;
}

/**
 * The student's inputs at every rung, from noise z: inputs[0] = z; inputs[j] = the x0 predicted at rung j − 1,
 * re-noised to t_j. Wrap in `g.noGrad` where no gradient may flow (backward simulation).
 */
export function rungInputs(g: GraphBuilder, z: X, o: Sampler): X[] {
  const rows = z.type.shape[0]!;
  const inputs: X[] = [z];
  for (let j = 0; j + 1 < o.ladder.length; j++) {
    const x0 = o.student(inputs[j]!, g.fill([rows, 1], o.ladder[j]!)) as X;
    inputs.push(renoise(g, o, x0, { x: inputs[j]!, t: o.ladder[j]! }, o.ladder[j + 1]!));
  }
  return inputs;
}

/** The k-step sampler: the x0 predicted at the last rung (what the student generates). */
export function multistepSample(g: GraphBuilder, z: X, o: Sampler): X {
  const inputs = rungInputs(g, z, o);
  const last = o.ladder.length - 1;
  return o.student(inputs[last]!, g.fill([z.type.shape[0]!, 1], o.ladder[last]!)) as X;
}

/**
 * Backward simulation: each row draws a rung j ~ U{0..k−1}; its input is built by the student's own sampler from z
 * without gradient; the student then predicts x0 at t_j with gradient. The losses apply to that x0. DMD2 draws one
 * rung per batch; one per row gives the same expectation with every rung in every batch. Returns x0, its input, t and
 * the rung as a label i32[B] (for a fake score that models each rung's samples apart, see docs/methods/dmd.md).
 */
export function backwardSimulation(g: GraphBuilder, z: X, o: Sampler): { x: X; xt: X; t: Port<'f32', Shape>; rung: Port<'i32', Shape> } {
  const rows = z.type.shape[0]!;
  const k = o.ladder.length;
  const inputs = g.noGrad(() => rungInputs(g, z, o));
  const u = g.uniform([rows, 1], 0, 1);
  let xt: X = inputs[0]!;
  let t: Port<'f32', Shape> = g.fill([rows, 1], o.ladder[0]!);
  let rung: Port<'f32', Shape> = g.fill([rows, 1], 0);
  for (let j = 1; j < k; j++) {
    const at = u.gt(j / k); // rows with u > j/k reach rung j (or a later one)
    xt = g.where(at, inputs[j]!, xt);
    t = g.where(at, o.ladder[j]!, t);
    rung = rung.add(at.cast('f32'));
  }
  return { x: o.student(xt, t) as X, xt, t, rung: rung.sum([1]).cast('i32') };
}

/**
 * "Initialised from the teacher" for a k-step student when the teacher is closed form: warm-up updates fitting
 * student(x_t, t_j) to teacher(x_t, t_j) on noised data at the ladder's rungs, ‖·‖², before training starts.
 */
export function prefitOnLadder(g: GraphBuilder, o: Sampler & { student: Model<string, 'trainable'>; teacher: Model; data: () => X; steps: number; lr: number }): void {
  const x0 = o.data();
  const rows = x0.type.shape[0]!;
  const k = o.ladder.length;
  const u = g.uniform([rows, 1], 0, 1);
  let t: Port<'f32', Shape> = g.fill([rows, 1], o.ladder[0]!);
  for (let j = 1; j < k; j++) t = g.where(u.gt(j / k), o.ladder[j]!, t);
  const xt = g.alpha(t, o.schedule).mul(x0).add(g.sigma(t, o.schedule).mul(g.noise(x0.type.shape)));
  const loss = o.student(xt, t).sub(g.stopGradient(o.teacher(xt, t))).square().mean() as Scalar;
  g.minimize(o.student, loss, { optimizer: adam(o.lr), ratio: 0, warmup: o.steps });
}
