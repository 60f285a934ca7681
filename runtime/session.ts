/**
 * @file One run's computation, apart from where its results go: compile, the executor, the training stream with its
 * metric rows, the final evaluation's numbers, the summary and the weights as safetensors bytes. Nothing here touches
 * a file: the CLI writes a run folder from it (run.ts), the lab's worker posts it to its page.
 */
import { map, type Observable } from 'rxjs';
import type { GraphIR } from '../dsl/ir/schema.ts';
import { compile, printPlan, type Plan } from '../dsl/compile/index.ts';
import type { Backend } from '../gpu/backend.ts';
import { Executor, type ExecutorOptions, type ExecutorState } from './executor.ts';
import { initialWeights, noFile } from './init.ts';
import { beatsTeacherSteps, DEFAULT_EVAL_SAMPLES, evalSetup, exactSamplesEnergyDistance, gaussianBaseline, modeNumbers, studentMetricsAsync, studentSteps, TEACHER_PICTURE, teacherHeadline, teacherLadder, tokenTeacherLadder, type EvalSetup, type GmmEvalSetup, type StudentMetrics } from './evaluate.ts';
import { modeStats } from '../ops/metrics/modes.ts';
import { massEnergyDistance } from '../ops/metrics/mass-energy.ts';
import { lastLosses, type Summary } from './summary.ts';
export { lastLosses } from './summary.ts';
import { train, type Evaluator, type Gate, type StepEvent } from './train.ts';
import { encodeSafetensors } from './safetensors-bytes.ts';
import { copyingDiagnosticFor, type CopyingDiagnostic } from './diagnose/copying.ts';
import type { CopyingMetrics } from '../ops/metrics/copying.ts';
import type { HostTensor } from '../ops/models/index.ts';

export type Row = Record<string, number | null>;

/** the copying metrics as flat metric columns (null between evaluations) */
export const copyingColumns = (m: CopyingMetrics | undefined) => ({
  copyingScore: m?.copyingScore ?? null,
  dCopy: m?.dCopy ?? null,
  dNoise: m?.dNoise ?? null,
  modeAgreement: m?.modeAgreement ?? null,
  withinModeCorrelation: m?.withinModeCorrelation ?? null,
  ...(m?.planes ? { dCopyInPlane: m.planes.inPlane.dCopy, dCopyOffPlane: m.planes.offPlane.dCopy } : {}),
  deltaE1: m?.energy.e1 ?? null,
  deltaE2: m?.energy.e2Student ?? null,
});

/** the metric columns of one row: every evaluated metric, null at steps without an evaluation */
export function evalColumns(setup: EvalSetup | undefined, m: Record<string, number> | undefined): Row {
  if (!setup) return {};
  const keys = setup.kind === 'gmm' ? ['energyDistance', 'modesCovered', 'offModeFraction'] : ['tv', 'invalidRate', 'gm', 'gmAR', 'sampleEntropy', 'supportRecall'];
  return Object.fromEntries(keys.map((k) => [k, m?.[k] ?? null]));
}


const finiteOrNull = (v: number): number | null => (Number.isFinite(v) ? v : null);

/** a mixture run's summary: the student's metrics beside the teacher's sampler ladders and the Gaussian baseline;
 * also the kept samples of the teacher's TEACHER_PICTURE sampler (same noise as the ladder), for teacher-samples.png */
async function gmmSummary(exe: Executor, setup: GmmEvalSetup, student: Pick<StudentMetrics, 'metrics' | 'samples' | 'modes'>): Promise<{ metrics: Record<string, unknown>; teacherSamples?: Float32Array }> {
  const m = student.metrics;
  const modes = student.modes ?? modeStats(setup.target, student.samples, setup.d);
  const euler = await teacherLadder(exe, setup, 'euler', undefined, TEACHER_PICTURE.steps);
  const heun = await teacherLadder(exe, setup, 'heun', [1, 2, 4, 8, 16]);
  const steps = studentSteps(exe.ir);
  const teacherModes = euler.kept && modeStats(setup.target, euler.kept, setup.d);
  const metrics = {
    // one line: the largest teacher samplers the student beats, and the next ones, which it does not
    headline: teacherHeadline({ studentSteps: steps, energyDistance: m.energyDistance!, euler: euler.energyDistance, heun: heun.energyDistance }),
    energyDistance: m.energyDistance,
    // what the mode masses alone make of it: exact modes holding the student's on-mode shares (the rest comes from
    // samples off the modes or misshapen inside them); null when no sample is on a mode (as summary.json stores NaN)
    massEnergyDistance: finiteOrNull(m.massEnergyDistance ?? massEnergyDistance(setup.componentDistances, modes.modeShares, setup.target.weights)),
    // the student's sampling steps as the graph shows them (null: not known)
    studentSteps: steps,
    // the largest N such that the student's energy distance is at or below the teacher's N-step Euler (Heun)
    // sampler's and every cheaper one's on the ladder; null: worse than the 1-step sampler
    beatsTeacherEulerSteps: beatsTeacherSteps(euler.energyDistance, m.energyDistance!),
    beatsTeacherHeunSteps: beatsTeacherSteps(heun.energyDistance, m.energyDistance!),
    teacherEnergyDistanceByNfe: euler.energyDistance,
    teacherSolver: 'euler',
    teacherHeunEnergyDistanceBySteps: heun.energyDistance,
    gaussianBaselineEnergyDistance: gaussianBaseline(exe, setup),
    // exact samples' energy distance to the same target samples over a few fresh draws: its sd is the estimator's
    // noise at this sample count, the scale below which two energy distances cannot be told apart
    exactSamplesEnergyDistance: exactSamplesEnergyDistance(exe.seed, setup),
    // a mode is covered when it holds at least half its weight's share of the on-mode samples (mass ratio ≥ 0.5)
    modesCovered: modes.modesCovered,
    modesTotal: modes.modesTotal,
    // samples beyond 3σ of every mode; they count for no mode in the ratios
    offModeFraction: modes.offModeFraction,
    // a mode's mass ratio: its share of the on-mode samples over its weight's share (1 balanced, 0.5 half, 0 empty)
    minModeMassRatio: modes.minModeMassRatio,
    maxModeMassRatio: modes.maxModeMassRatio,
    // modes within a factor 2 of their share (mass ratio in [0.5, 2]); every one when it equals modesTotal
    modesWithinFactor2: modes.modesWithinFactor2,
    // per mode: its share of the on-mode samples, and its weight's share
    modeShares: modes.modeShares,
    modeWeights: modes.modeWeights,
    // the same statistics for the teacher's TEACHER_PICTURE sampler (the report's teacher picture)
    ...(teacherModes ? { teacherPicture: { solver: TEACHER_PICTURE.solver, steps: TEACHER_PICTURE.steps, ...modeNumbers(teacherModes), massEnergyDistance: finiteOrNull(massEnergyDistance(setup.componentDistances, teacherModes.modeShares, setup.target.weights)), modeShares: teacherModes.modeShares } } : {}),
    evalSamples: setup.n,
  };
  return { metrics, ...(euler.kept ? { teacherSamples: euler.kept } : {}) };
}

/** The final evaluation's numbers (native or imported run): for a mixture the teacher's ladders and the modes, for
 * tokens the teacher's k-step ladder; and the teacher's picture samples where there are some. */
export async function finalMetrics(exe: Executor, setup: EvalSetup, m: StudentMetrics): Promise<{ metrics: Record<string, unknown>; teacherSamples?: Float32Array }> {
  if (setup.kind === 'gmm') return gmmSummary(exe, setup, m);
  // the teacher's k-step sampler beside the student: does the student at k steps beat the teacher at k?
  return { metrics: { ...m.metrics, teacherBySteps: tokenTeacherLadder(exe, setup) } };
}

/** where a resumed run continues from (a checkpoint's state) */
export interface SessionResume {
  exec: ExecutorState;
  /** the last finished step */
  step: number;
  rows: Row[];
  nonFiniteEvents: { step: number; role: string }[];
  trainSeconds: number;
  /** names the state in errors ("checkpoint DIR") */
  what: string;
}

export interface SessionOptions {
  seed: number;
  /** evaluation sample count (default 4096) */
  evalSamples?: number;
  /** extra diagnostics at each evaluation: 'copying' */
  diagnose?: string[];
  /** reads the safetensors file a model's `initFrom` names; where there are no files (a browser) leave it out */
  loadFile?: (file: string) => Record<string, HostTensor>;
  maxNonFinite?: number;
  poisonGradient?: ExecutorOptions['poisonGradient'];
  resume?: SessionResume;
  /** awaited before each step (training waits while it is pending; 'stop' ends it there): the lab's pause, stop and
   * live samples, the CLI's Ctrl-C */
  gate?: Gate;
  /** steps whose event carries the whole training state as it was right after them (where a checkpoint is taken) */
  snapshotAt?: (step: number) => boolean;
  /** measure the student away from the training loop (a worker thread) */
  evaluator?: Evaluator;
  /** decide updates on the device and read them back in batches (default: on webgpu) */
  deferReads?: boolean;
  /** performance.now() when the run began (its wall time counts from there; default: when the session opens) */
  startedAt?: number;
}

/** one step's event and the metric row it appended */
export interface StepRecord {
  event: StepEvent;
  row: Row;
}

/** The end of a run: its summary, the final samples (and the teacher's picture samples), the weights as files. */
export interface SessionResult {
  summary: Summary;
  /** the final evaluation's samples, [n, d] row-major (absent: the graph evaluates nothing) */
  samples?: Float32Array;
  teacherSamples?: Float32Array;
  d?: number;
  /** weights/<file> → safetensors bytes: `<role>.safetensors` what was evaluated, `<role>.raw.safetensors` beside it
   * where the role has an EMA */
  weights: Record<string, Uint8Array>;
  /** the metric rows, one per step */
  rows: Row[];
}

export class RunSession {
  readonly plan: Plan;
  readonly planText: string;
  readonly exe: Executor;
  readonly setup: EvalSetup | undefined;
  readonly rows: Row[];
  readonly nonFiniteEvents: { step: number; role: string }[];
  /** the first step this session trains (1, or the step after a resumed checkpoint) */
  readonly from: number;
  private readonly copying: CopyingDiagnostic | undefined;
  private readonly copyingAt = new Map<number, CopyingMetrics>();
  private readonly startedAt: number;
  private trainStart = 0;
  private last: StepEvent | undefined;

  /** Compile `ir` and build its executor on `backend` (the executor holds backend memory: `dispose` it). */
  constructor(
    readonly ir: GraphIR,
    readonly backend: Backend,
    readonly o: SessionOptions,
  ) {
    this.startedAt = o.startedAt ?? performance.now();
    const init = initialWeights(ir, o.seed, o.loadFile ?? noFile);
    const paramCount = (role: string) => Object.values(init.get(role) ?? {}).reduce((a, t) => a + t.data.length, 0);
    this.plan = compile(ir, { paramCount });
    this.planText = printPlan(this.plan);
    this.exe = new Executor(backend, this.plan, o.seed, init, { maxNonFinite: o.maxNonFinite, poisonGradient: o.poisonGradient, ...(o.deferReads !== undefined ? { deferReads: o.deferReads } : {}) });
    try {
      if (o.resume) this.exe.importState(o.resume.exec, o.resume.what);
      this.setup = ir.eval ? evalSetup(this.exe, o.evalSamples ?? DEFAULT_EVAL_SAMPLES) : undefined;
      this.copying = copyingDiagnosticFor(this.exe, o.diagnose);
    } catch (e) {
      this.exe.dispose();
      throw e;
    }
    this.rows = o.resume?.rows ?? [];
    this.nonFiniteEvents = o.resume?.nonFiniteEvents ?? [];
    this.from = (o.resume?.step ?? 0) + 1;
  }

  get steps(): number {
    return this.ir.run.steps;
  }

  /** seconds trained, a resumed run's earlier time included */
  trainSeconds(): number {
    return (this.o.resume?.trainSeconds ?? 0) + (performance.now() - this.trainStart) / 1000;
  }

  /** The training stream (warm-up first unless resumed): one record per step, its row already in `rows`. */
  train(): Observable<StepRecord> {
    this.trainStart = performance.now();
    const prior = this.o.resume?.trainSeconds ?? 0;
    const setup = this.setup;
    return train(this.exe, this.steps, setup, this.ir.run.evalEvery, { warmup: !this.o.resume, from: this.from, ...(this.o.gate ? { gate: this.o.gate } : {}), ...(this.o.snapshotAt ? { snapshotAt: this.o.snapshotAt } : {}), ...(this.o.evaluator ? { evaluator: this.o.evaluator } : {}) }).pipe(
      map((e) => {
        let copying: CopyingMetrics | undefined;
        if (this.copying && e.eval) this.copyingAt.set(e.step, (copying = this.copying.measure(e.eval.samples, e.eval.extras.noise!, setup!.d)));
        for (const role of e.nonFinite) this.nonFiniteEvents.push({ step: e.step, role });
        const row: Row = {
          step: e.step,
          wallSeconds: prior + e.wallSeconds,
          ...Object.fromEntries(Object.entries(e.losses).map(([k, v]) => [`loss.${k}`, v])),
          ...Object.fromEntries(Object.entries(e.gradNorms).map(([k, v]) => [`gradNorm.${k}`, v])),
          ...Object.fromEntries([...this.exe.nonFinite].map(([k, v]) => [`nonFinite.${k}`, v])),
          ...e.outputs,
          ...evalColumns(setup, e.eval?.metrics),
          ...(this.copying ? copyingColumns(copying) : {}),
        };
        this.rows.push(row);
        this.last = e;
        return { event: e, row };
      }),
    );
  }

  /** After the stream: the final evaluation (the last step's, or a fresh one on the same draws for a run resumed
   * at its end or stopped early), the summary and the weights. */
  async finish(): Promise<SessionResult> {
    const trainSeconds = this.trainSeconds();
    const prior = this.o.resume?.trainSeconds ?? 0;
    const exe = this.exe;
    const lastStep = this.last?.step ?? this.from - 1;
    const metrics: Record<string, unknown> = {};
    let samples: Float32Array | undefined;
    let teacherSamples: Float32Array | undefined;
    if (this.setup) {
      const m = this.last?.eval ?? (await studentMetricsAsync(exe, this.setup));
      const final = await finalMetrics(exe, this.setup, m);
      Object.assign(metrics, final.metrics);
      if (this.copying) metrics.copying = this.copyingAt.get(this.steps);
      samples = m.samples;
      teacherSamples = final.teacherSamples;
    }
    const weights: Record<string, Uint8Array> = {};
    for (const d of this.ir.models.filter((x) => x.trainable)) {
      const meta = { role: d.role, kind: d.kind, config: JSON.stringify(d.config) };
      const ema = this.plan.ema[d.role];
      weights[`${d.role}.safetensors`] = encodeSafetensors(await exe.hostWeightsAsync(d.role, 'eval'), ema === undefined ? meta : { ...meta, ema: String(ema) });
      if (ema !== undefined) weights[`${d.role}.raw.safetensors`] = encodeSafetensors(await exe.hostWeightsAsync(d.role, 'raw'), meta);
    }
    const summary: Summary = {
      pipeline: this.ir.name,
      seed: this.o.seed,
      backend: this.backend.name,
      steps: this.steps,
      wallSeconds: (performance.now() - this.startedAt) / 1000,
      iterationsPerSecond: (lastStep - this.from + 1) / Math.max(trainSeconds - prior, 1e-9),
      metrics,
      energyDistanceByStep: this.rows.filter((r) => typeof r.energyDistance === 'number').map((r) => ({ step: r.step!, energyDistance: r.energyDistance! })),
      finalLosses: lastLosses(this.rows),
      nonFinite: { skipped: Object.fromEntries(exe.nonFinite), events: this.nonFiniteEvents },
      ...(this.o.resume ? { resumedFrom: this.o.resume.step } : {}),
      ...(lastStep < this.steps ? { stoppedAt: lastStep } : {}),
    };
    return { summary, rows: this.rows, weights, ...(samples ? { samples, d: this.setup!.d } : {}), ...(teacherSamples ? { teacherSamples } : {}) };
  }

  dispose(): void {
    this.exe.dispose();
  }
}
