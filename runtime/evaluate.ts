/** @file The run's metrics: energy distance of student samples, the teacher's sampler ladder, baselines, modes. */
import type { Executor, Sample } from './executor.ts';
import type { GmmSpec, GraphIR, TokensSpec } from '../dsl/ir/schema.ts';
import { discreteMetrics, type DiscreteMetrics } from '../ops/metrics/discrete.ts';
import { maskedSample } from '../gpu/lower/samplers.ts';
import { Rng } from '../ops/rng.ts';
import { gmmDim, gmmMoments, sampleGmm } from '../ops/datasets.ts';
import { energyDistance } from '../ops/metrics/energy.ts';
import { modeStats, type ModeStats } from '../ops/metrics/modes.ts';
import { componentDistances, massEnergyDistance } from '../ops/metrics/mass-energy.ts';
import { pfOde } from '../gpu/lower/network.ts';

const TEACHER_NFES = [1, 2, 4, 8, 16, 32, 64] as const;

export interface GmmEvalSetup {
  kind: 'gmm';
  target: GmmSpec;
  d: number;
  n: number;
  targetSamples: Float32Array;
  /** E|Xᵢ − Xⱼ′| between the target's components, for the mass part of the energy distance (ops/metrics/mass-energy.ts) */
  componentDistances: number[][];
}

/** token datasets: samples are sequences, scored exactly against q (ops/metrics/discrete.ts) */
export interface TokenEvalSetup {
  kind: 'tokens';
  target: TokensSpec;
  /** sequence length */
  d: number;
  n: number;
}

export type EvalSetup = GmmEvalSetup | TokenEvalSetup;

/** samples a run evaluates the student on, unless told otherwise */
export const DEFAULT_EVAL_SAMPLES = 4096;

export function evalSetup(exe: Executor, n = DEFAULT_EVAL_SAMPLES): EvalSetup {
  const e = exe.ir.eval!;
  const target = exe.ir.datasets[e.target]!;
  if (target.kind === 'tokens') return { kind: 'tokens', target, d: target.length, n };
  const d = gmmDim(target);
  const targetSamples = sampleGmm(target, n, new Rng([exe.seed, 'eval-target']));
  return { kind: 'gmm', target, d, n, targetSamples, componentDistances: componentDistances(target, new Rng([exe.seed, 'eval-components'])) };
}

export interface StudentMetrics {
  /** mixtures: energyDistance and the ModeStats numbers (ops/metrics/modes.ts); token sets: the DiscreteMetrics */
  metrics: Record<string, number>;
  /** mixtures: the whole mode statistics (per-mode shares too), so that the summary need not count again */
  modes?: ModeStats;
  samples: Float32Array;
  extras: Record<string, Float32Array>;
}

export function studentMetrics(exe: Executor, s: EvalSetup): StudentMetrics {
  return metricsOf(exe, s, exe.sample(s.n));
}

/** `studentMetrics` on any backend: the samples are read asynchronously */
export async function studentMetricsAsync(exe: Executor, s: EvalSetup): Promise<StudentMetrics> {
  return metricsOf(exe, s, await exe.sampleAsync(s.n));
}

function metricsOf(exe: Executor, s: EvalSetup, { data, extras }: Sample): StudentMetrics {
  const samples = Float32Array.from(data);
  if (s.kind === 'tokens') return { metrics: { ...discreteMetrics(s.target, data, s.n, exe.seed) }, samples, extras };
  const modes = modeStats(s.target, samples, s.d);
  const metrics = {
    energyDistance: energyDistance(samples, s.targetSamples, s.d),
    // the part of it the mode masses alone make (exact modes with the student's on-mode shares)
    massEnergyDistance: massEnergyDistance(s.componentDistances, modes.modeShares, s.target.weights),
    ...modeNumbers(modes),
  };
  return { metrics, modes, samples, extras };
}

/** the scalar mode statistics (the per-mode arrays left out) */
export const modeNumbers = (m: ModeStats) => ({
  modesCovered: m.modesCovered,
  modesTotal: m.modesTotal,
  offModeFraction: m.offModeFraction,
  minModeMassRatio: m.minModeMassRatio,
  maxModeMassRatio: m.maxModeMassRatio,
  modesWithinFactor2: m.modesWithinFactor2,
});

/** Token sets: the exact metrics of the teacher's k-step masked sampler at each step count (same draws for each k). */
export function tokenTeacherLadder(exe: Executor, s: TokenEvalSetup, steps: readonly number[] = TOKEN_TEACHER_STEPS, temperature = 1): Record<string, DiscreteMetrics> {
  const t = exe.ir.eval?.teacher;
  if (!t) return {};
  const out: Record<string, DiscreteMetrics> = {};
  for (const k of steps) {
    const x = exe.withModels({ ...exe.ir.dims, B: s.n }, 'teacher-ladder', (ctx) =>
      maskedSample(ctx, { model: t.role, steps: k, rows: s.n, length: s.target.length, vocab: s.target.vocab, noise: 0, temperature }, s.n, new Rng([exe.seed, 'eval-teacher', k])),
    );
    out[String(k)] = discreteMetrics(s.target, x, s.n, exe.seed);
  }
  return out;
}

const TOKEN_TEACHER_STEPS = [1, 2, 4, 8, 16, 32, 64, 256] as const;

/** the teacher sampler whose samples a run keeps for its pictures (teacher-samples.png, the per-mode mass chart) */
export const TEACHER_PICTURE = { solver: 'euler', steps: 8 } as const;

export interface TeacherLadder {
  /** energy distance by step count (Euler: NFE = steps; Heun: NFE = 2·steps − 1) */
  energyDistance: Record<string, number>;
  /** the samples of the rung `keep` asked for */
  kept?: Float32Array;
}

/** Energy distance of the teacher's probability-flow sampler at each step count, every rung from the same noise. */
export async function teacherLadder(exe: Executor, s: GmmEvalSetup, solver: 'euler' | 'heun' = 'euler', steps: readonly number[] = TEACHER_NFES, keep?: number): Promise<TeacherLadder> {
  const t = exe.ir.eval?.teacher;
  if (!t) return { energyDistance: {} };
  const z = new Rng([exe.seed, 'eval-teacher-noise']).normals(s.n * s.d);
  const out: TeacherLadder = { energyDistance: {} };
  for (const n of steps) {
    const x = await exe.withModelsRead({ ...exe.ir.dims, B: s.n }, 'teacher-ladder', (ctx) =>
      pfOde(ctx, ctx.tf.tensor(z, [s.n, s.d]), { model: t.role, schedule: t.schedule, solver, steps: n, tMax: 1, tMin: 0 }),
    );
    out.energyDistance[String(n)] = energyDistance(x, s.targetSamples, s.d);
    if (n === keep) out.kept = Float32Array.from(x);
  }
  return out;
}

/**
 * The largest step count N of the ladder such that the student's energy distance is at or below the teacher's at N
 * and at every smaller step count of the ladder: "the student beats the teacher's N-step sampler" (and every
 * cheaper one). null when it does not beat the ladder's smallest rung (or the ladder is empty).
 */
export function beatsTeacherSteps(ladder: Record<string, number>, studentEd: number): number | null {
  let beaten: number | null = null;
  for (const n of Object.keys(ladder).map(Number).sort((a, b) => a - b)) {
    if (studentEd > ladder[String(n)]!) break;
    beaten = n;
  }
  return beaten;
}

/**
 * The student's sampling steps, read from the graph: the most evaluations of trained models along one path to the
 * evaluated samples, where a call counts 1 and a multi-step sampler over a trained model (`ancestral_sample`,
 * `masked_sample`, `pf_ode`) its steps. null when it cannot be told (no trained model on the way, or an op over one
 * without a step count).
 */
export function studentSteps(ir: GraphIR): number | null {
  if (!ir.eval) return null;
  const byId = new Map(ir.nodes.map((n) => [n.id, n]));
  const trained = new Set(ir.models.filter((m) => m.trainable).map((m) => m.role));
  const memo = new Map<string, number>();
  const depth = (id: string): number => {
    const n = byId.get(id);
    if (!n) return 0;
    if (memo.has(id)) return memo.get(id)!;
    const own = !trained.has(n.params.model as string) ? 0 : n.op === 'call' ? 1 : typeof n.params.steps === 'number' ? n.params.steps : NaN;
    const v = own + Math.max(0, ...n.inputs.map(depth));
    memo.set(id, v);
    return v;
  };
  const k = depth(ir.eval.samples);
  return Number.isFinite(k) && k > 0 ? k : null;
}

/** a number for a sentence: three significant digits, no trailing zeros */
const num = (v: number) => String(Number(v.toPrecision(3)));

/**
 * One line saying what the student's energy distance means against the teacher's samplers: the largest Euler and
 * Heun step counts it beats (see `beatsTeacherSteps`) and the next ones, which it does not.
 */
export function teacherHeadline(o: { studentSteps: number | null; energyDistance: number; euler: Record<string, number>; heun: Record<string, number> }): string {
  const who = `the student (${o.studentSteps ? `${o.studentSteps} step${o.studentSteps === 1 ? '' : 's'}, ` : ''}energy distance ${num(o.energyDistance)})`;
  const ladders = [['Euler', o.euler], ['Heun', o.heun]] as const;
  if (ladders.every(([, l]) => !Object.keys(l).length)) return `${who}: no teacher sampler to compare with`;
  const rung = (solver: string, l: Record<string, number>, n: number) => `${n}-step ${solver} (${num(l[String(n)]!)})`;
  const beaten: string[] = [];
  const next: string[] = [];
  for (const [solver, l] of ladders) {
    const steps = Object.keys(l).map(Number).sort((a, b) => a - b);
    const k = beatsTeacherSteps(l, o.energyDistance);
    if (k !== null) beaten.push(rung(solver, l, k));
    const after = steps.find((n) => k === null || n > k);
    if (after !== undefined) next.push(rung(solver, l, after));
  }
  if (!beaten.length) return `${who} beats none of the teacher's samplers, not even its ${next.join(' or ')}`;
  const head = `${who} beats the teacher's ${beaten.join(' and ')} sampler${beaten.length > 1 ? 's' : ''}`;
  return next.length ? `${head}, not its ${next.join(' or ')}` : `${head}, the largest on its ladders`;
}

/** Energy distance of the moment-matched Gaussian: what "learned only a blob" scores. */
export function gaussianBaseline(exe: Executor, s: GmmEvalSetup): number {
  const { mean, cov } = gmmMoments(s.target);
  const d = s.d;
  // Cholesky of the covariance
  const L = new Array<number>(d * d).fill(0);
  for (let i = 0; i < d; i++)
    for (let j = 0; j <= i; j++) {
      let v = cov[i * d + j]!;
      for (let k = 0; k < j; k++) v -= L[i * d + k]! * L[j * d + k]!;
      L[i * d + j] = i === j ? Math.sqrt(Math.max(v, 0)) : v / L[j * d + j]!;
    }
  const e = new Rng([exe.seed, 'eval-gaussian']).normals(s.n * d);
  const x = new Float32Array(s.n * d);
  for (let r = 0; r < s.n; r++)
    for (let i = 0; i < d; i++) {
      let v = mean[i]!;
      for (let k = 0; k <= i; k++) v += L[i * d + k]! * e[r * d + k]!;
      x[r * d + i] = v;
    }
  return energyDistance(x, s.targetSamples, d);
}

/** draws of exact samples that measure the energy distance's spread */
export const EXACT_DRAWS = 8;

/** The energy distance of exact samples (fresh draws of the target, `s.n` each) against the run's target samples:
 * what a perfect sampler scores. Its spread is the estimator's noise at this sample count; differences below it say
 * nothing (the spread falls as 1/n). */
export function exactSamplesEnergyDistance(seed: number, s: GmmEvalSetup, draws = EXACT_DRAWS): { mean: number; sd: number; draws: number } {
  const v = Array.from({ length: draws }, (_, i) => energyDistance(sampleGmm(s.target, s.n, new Rng([seed, 'eval-exact', i])), s.targetSamples, s.d));
  const mean = v.reduce((a, b) => a + b, 0) / draws;
  return { mean, sd: Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / (draws - 1)), draws };
}
