/** @file One dimension × arm × seed of the copying bench: train the student, measure copying and quality as it goes. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { lastValueFrom } from 'rxjs';
import { openExecutor } from '../../runtime/open.ts';
import { train } from '../../runtime/train.ts';
import { encodeSafetensors } from '../../runtime/safetensors.ts';
import { buildIR } from '../../dsl/pipeline.ts';
import { gmmOf } from '../../dsl/ir/schema.ts';
import { measureAlong } from './measure.ts';
import { CopyingDiagnostic } from '../../runtime/diagnose/copying.ts';
import { copying, copyingTeacher, type CopyingConfig } from '../../pipelines/copying.ts';
import { energyDistance } from '../../ops/metrics/energy.ts';
import { component, copyingMetrics, derangement } from '../../ops/metrics/copying.ts';
import { sampleGmm } from '../../ops/datasets.ts';
import { Rng } from '../../ops/rng.ts';
import type { GmmSpec } from '../../dsl/ir/schema.ts';

export interface CopyingRunSpec {
  arm: string;
  dim: number;
  seed: number;
  overrides: Partial<CopyingConfig>;
  evalSamples: number;
  backend: string;
  /** teacher 'mlp': its denoising-score-matching updates before the student starts (default 4000) */
  teacherSteps?: number;
  /** stop at the first evaluation whose energy distance is within this factor of the floor (`steps` is the cap) */
  untilFloor?: number;
}

export interface CopyingPoint {
  step: number;
  copyingScore: number;
  dNoise: number | null;
  dCopy: number;
  modeAgreement: number | null;
  e1: number;
  e2Student: number;
  e2Teacher: number;
  procrustesResidual: number | null;
  energyDistance: number;
  /** total variation between the student's mode masses and the true ones */
  modeTV: number;
  /** pooled cosine of G(z) − μ and Φ(z) − μ where both fall in mode μ: the pairing inside a mode, scale-free */
  withinModeCorrelation: number | null;
  /** data on a plane (F2): dCopy and the within-mode correlation of the in-plane and off-plane parts */
  dCopyInPlane: number | null;
  dCopyOffPlane: number | null;
  withinModeCorrelationInPlane: number | null;
  /** E‖G(z) − G(z′)‖² / E‖Φ(z) − Φ(z′)‖² over shuffled pairs: ≪ 1 for a collapsed student */
  spreadRatio: number;
  /** modes holding at least half their share of the samples */
  modesHalfShare: number;
}

/** How a run ended: only a student that matched the distribution can be read as copying or remapping. */
export type CopyingVerdict = 'collapsed' | 'unconverged' | 'converged';

export interface CopyingRunResult {
  arm: string;
  dim: number;
  seed: number;
  wallSeconds: number;
  curve: CopyingPoint[];
  final: CopyingPoint;
  /** the teacher's own sampler Φ on the same noises: the floor of the quality metrics */
  teacher: { energyDistance: number; modeTV: number };
  /** the energy distance a student needs to count as converged: max(the teacher's, two exact draws'), floored at 1e-4.
   * With a trained teacher, every energy distance is to the teacher's own samples, not to the data. */
  floor: number;
  /** `collapsed`: fewer than half the modes hold half their share, or spreadRatio < 0.25; `unconverged`: energy
   * distance above 2× the floor at the last step */
  verdict: CopyingVerdict;
  /** the step training stopped at (below `steps` when it reached the floor first) */
  stoppedAt: number;
  /**
   * The student network at step 0 read as a denoiser: its own flow map against the teacher's Φ on the same noises.
   * For a pre-fitted student this is the pre-fit's error; for one copied from a trained teacher it is exactly 0.
   */
  initialFlowMap: { dCopy: number; modeAgreement: number | null };
  /** the trained teacher (teacher 'mlp'): E‖D_θ − D*‖² / E‖D* − x₀‖² at the end of its training, and its training time */
  trainedTeacher?: TrainedTeacher;
}

export interface TrainedTeacher {
  teacherError: number;
  steps: number;
  wallSeconds: number;
}

/** the mode masses of x (most likely component) against the mixture weights: their total variation, and how many
 * modes hold at least half their share */
function modeMasses(g: GmmSpec, x: Float32Array, d: number): { tv: number; halfShare: number } {
  const n = x.length / d;
  const counts = new Array<number>(g.means.length).fill(0);
  for (let i = 0; i < n; i++) counts[component(g, x.subarray(i * d, (i + 1) * d))]!++;
  const tot = g.weights.reduce((a, b) => a + b, 0);
  return {
    tv: counts.reduce((a, c, k) => a + Math.abs(c / n - g.weights[k]! / tot), 0) / 2,
    halfShare: counts.filter((c, k) => c / n >= (0.5 * g.weights[k]!) / tot).length,
  };
}

/** mean ‖x_i − x_π(i)‖² over a fixed derangement π: twice the total variance */
function pairSpread(x: Float32Array, d: number, perm: number[]): number {
  let s = 0;
  for (let i = 0; i < perm.length; i++) for (let j = 0; j < d; j++) s += (x[i * d + j]! - x[perm[i]! * d + j]!) ** 2;
  return s / perm.length;
}

export const verdictOf = (p: CopyingPoint, floor: number, K: number, factor = 2): CopyingVerdict =>
  p.modesHalfShare < K / 2 || p.spreadRatio < 0.25 ? 'collapsed' : p.energyDistance > factor * floor ? 'unconverged' : 'converged';

/** F4: train the MLP teacher on the run's data (same seed), write its weights beside the job, return where */
async function trainTeacher(spec: CopyingRunSpec, dir: string): Promise<TrainedTeacher & { file: string }> {
  const t0 = performance.now();
  const o = spec.overrides;
  const steps = spec.teacherSteps ?? 4000;
  const ir = buildIR(copyingTeacher, { dim: spec.dim, ...(o.data ? { data: o.data } : {}), ...(o.separation !== undefined ? { separation: o.separation } : {}), ...(o.width ? { width: o.width } : {}), ...(o.layers ? { layers: o.layers } : {}), steps, evalEvery: 0 });
  const exe = await openExecutor(ir, spec.seed, spec.backend);
  try {
    const last = await lastValueFrom(train(exe, steps, undefined, 0));
    const file = path.join(dir, `teacher-d${spec.dim}-s${spec.seed}.safetensors`);
    fs.writeFileSync(file, encodeSafetensors(exe.hostWeights('teacher')));
    return { file, teacherError: last.outputs.teacherError!, steps, wallSeconds: (performance.now() - t0) / 1000 };
  } finally {
    exe.dispose();
  }
}

export async function runCopyingArm(spec: CopyingRunSpec): Promise<CopyingRunResult> {
  const t0 = performance.now();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'distillery-copying-'));
  try {
    const trained = spec.overrides.teacher === 'mlp' ? await trainTeacher(spec, dir) : undefined;
    return await runStudent(spec, t0, trained);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function runStudent(spec: CopyingRunSpec, t0: number, trained?: TrainedTeacher & { file: string }): Promise<CopyingRunResult> {
  const ir = buildIR(copying, { ...spec.overrides, dim: spec.dim, ...(trained ? { teacherWeights: trained.file } : {}) });
  const exe = await openExecutor(ir, spec.seed, spec.backend);
  try {
    const target = gmmOf(ir.datasets[ir.eval!.target], 'the copying bench');
    const d = spec.dim;
    const diag = new CopyingDiagnostic(exe);
    const perm = derangement(spec.evalSamples, spec.seed);
    // the distribution a student distils: the data for an exact teacher; a trained teacher's own samples (its flow
    // on other noises) for an MLP teacher, whose samples may be far from the data
    const reference = (key: string) =>
      trained ? diag.flow(new Rng([spec.seed, key]).normals(spec.evalSamples * d), spec.evalSamples, d, false) : sampleGmm(target, spec.evalSamples, new Rng([spec.seed, key]));
    const truth = reference('copying-target');
    // the floor: the teacher's own samples, or two reference draws where estimator noise is larger
    const exact2 = reference('copying-target-2');
    let floor = Math.max(1e-4, Math.abs(energyDistance(exact2, truth, d)));
    let initialFlowMap = { dCopy: NaN, modeAgreement: null as number | null };
    const measure = (step: number): CopyingPoint => {
      const s = exe.sample(spec.evalSamples);
      const m = diag.measure(s.data, s.extras.noise!, d);
      if (step === 0) {
        floor = Math.max(floor, energyDistance(diag.teacherSamples!, truth, d));
        const own = copyingMetrics({ z: s.extras.noise!, student: diag.flow(s.extras.noise!, spec.evalSamples, d, false, 'student'), teacher: diag.teacherSamples!, d, gmm: target, sigmaData: 0.5, otRows: 0, seed: spec.seed });
        initialFlowMap = { dCopy: own.dCopy, modeAgreement: own.modeAgreement };
      }
      const masses = modeMasses(target, s.data, d);
      return {
        step,
        copyingScore: m.copyingScore,
        dNoise: m.dNoise,
        dCopy: m.dCopy,
        modeAgreement: m.modeAgreement,
        e1: m.energy.e1,
        e2Student: m.energy.e2Student,
        e2Teacher: m.energy.e2Teacher,
        procrustesResidual: m.procrustes?.residual ?? null,
        energyDistance: energyDistance(s.data, truth, d),
        modeTV: masses.tv,
        withinModeCorrelation: m.withinModeCorrelation,
        dCopyInPlane: m.planes?.inPlane.dCopy ?? null,
        dCopyOffPlane: m.planes?.offPlane.dCopy ?? null,
        withinModeCorrelationInPlane: m.planes?.inPlane.withinModeCorrelation ?? null,
        spreadRatio: pairSpread(s.data, d, perm) / pairSpread(diag.teacherSamples!, d, perm),
        modesHalfShare: masses.halfShare,
      };
    };
    const K = target.means.length;
    const reached = (p: CopyingPoint) => spec.untilFloor !== undefined && p.step > 0 && verdictOf(p, floor, K, spec.untilFloor) === 'converged';
    const curve = await measureAlong(exe, ir.run.steps, ir.run.evalEvery, measure, { done: reached });
    const phi = diag.teacherSamples!;
    const final = curve[curve.length - 1]!;
    return {
      arm: spec.arm,
      dim: d,
      seed: spec.seed,
      wallSeconds: (performance.now() - t0) / 1000,
      curve,
      final,
      teacher: { energyDistance: energyDistance(phi, truth, d), modeTV: modeMasses(target, phi, d).tv },
      floor,
      verdict: verdictOf(final, floor, K),
      stoppedAt: final.step,
      initialFlowMap,
      ...(trained ? { trainedTeacher: { teacherError: trained.teacherError, steps: trained.steps, wallSeconds: trained.wallSeconds } satisfies TrainedTeacher } : {}),
    };
  } finally {
    exe.dispose();
  }
}
