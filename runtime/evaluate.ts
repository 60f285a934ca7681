/** @file The run's metrics: energy distance of student samples, the teacher's sampler ladder, baselines, modes. */
import type { Executor, Sample } from './executor.ts';
import type { GmmSpec, TokensSpec } from '../dsl/ir/schema.ts';
import { discreteMetrics, type DiscreteMetrics } from '../ops/metrics/discrete.ts';
import { maskedSample } from '../gpu/lower/samplers.ts';
import { Rng } from '../ops/rng.ts';
import { gmmDim, gmmMoments, sampleGmm } from '../ops/datasets.ts';
import { energyDistance } from '../ops/metrics/energy.ts';
import { modeStats } from '../ops/metrics/modes.ts';
import { pfOde } from '../gpu/lower/network.ts';

const TEACHER_NFES = [1, 2, 4, 8, 16, 32, 64] as const;

export interface GmmEvalSetup {
  kind: 'gmm';
  target: GmmSpec;
  d: number;
  n: number;
  targetSamples: Float32Array;
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

export function evalSetup(exe: Executor, n = 4096): EvalSetup {
  const e = exe.ir.eval!;
  const target = exe.ir.datasets[e.target]!;
  if (target.kind === 'tokens') return { kind: 'tokens', target, d: target.length, n };
  const d = gmmDim(target);
  return { kind: 'gmm', target, d, n, targetSamples: sampleGmm(target, n, new Rng([exe.seed, 'eval-target'])) };
}

export interface StudentMetrics {
  /** mixtures: energyDistance, modesCovered, modesTotal, offModeFraction, minModeMassRatio; token sets: the DiscreteMetrics */
  metrics: Record<string, number>;
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
  const m = modeStats(s.target, samples, s.d);
  return { metrics: { energyDistance: energyDistance(samples, s.targetSamples, s.d), modesCovered: m.modesCovered, modesTotal: m.modesTotal, offModeFraction: m.offModeFraction, minModeMassRatio: m.minModeMassRatio }, samples, extras };
}

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

/** Energy distance of the teacher's probability-flow sampler at each step count (Euler: NFE = steps). */
export async function teacherLadder(exe: Executor, s: GmmEvalSetup, solver: 'euler' | 'heun' = 'euler', steps: readonly number[] = TEACHER_NFES): Promise<Record<string, number>> {
  const t = exe.ir.eval?.teacher;
  if (!t) return {};
  const z = new Rng([exe.seed, 'eval-teacher-noise']).normals(s.n * s.d);
  const out: Record<string, number> = {};
  for (const n of steps) {
    const x = await exe.withModelsRead({ ...exe.ir.dims, B: s.n }, 'teacher-ladder', (ctx) =>
      pfOde(ctx, ctx.tf.tensor(z, [s.n, s.d]), { model: t.role, schedule: t.schedule, solver, steps: n, tMax: 1, tMin: 0 }),
    );
    out[String(n)] = energyDistance(x, s.targetSamples, s.d);
  }
  return out;
}

/** The smallest teacher step count whose energy distance is at or below the student's. */
export function equivalentNfe(ladder: Record<string, number>, studentEd: number): { nfe: number | null; exceedsLadder: boolean } {
  const steps = Object.keys(ladder).map(Number).sort((a, b) => a - b);
  for (const n of steps) if (ladder[String(n)]! <= studentEd) return { nfe: n, exceedsLadder: false };
  // better than every rung: report the largest as a lower bound
  return steps.length ? { nfe: steps[steps.length - 1]!, exceedsLadder: true } : { nfe: null, exceedsLadder: false };
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
