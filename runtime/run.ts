/** @file One run: compile, train on a backend, evaluate, and write the run folder (all or nothing). */
import path from 'node:path';
import { concatMap, lastValueFrom } from 'rxjs';
import type { GraphIR } from '../dsl/ir/schema.ts';
import { compile, printPlan } from '../dsl/compile/index.ts';
import { printIR } from '../dsl/ir/print.ts';
import { loadBackend } from '../gpu/backend.ts';
import { Executor, NonFiniteError, type ExecutorOptions } from './executor.ts';
import { initialWeights } from './init.ts';
import { beatsTeacherSteps, evalSetup, gaussianBaseline, modeNumbers, studentMetricsAsync, studentSteps, TEACHER_PICTURE, teacherHeadline, teacherLadder, tokenTeacherLadder, type EvalSetup, type GmmEvalSetup, type StudentMetrics } from './evaluate.ts';
import { modeStats } from '../ops/metrics/modes.ts';
import { CHECKPOINT_FORMAT, CHECKPOINT_VERSION, loadCheckpoint, removeUnfinished, writeCheckpoint, type Checkpoint } from './checkpoint.ts';
import { reportFiles } from './report/report.ts';
import type { Summary } from './summary.ts';
import { UserError } from '../dsl/errors.ts';
import { train, type StepEvent } from './train.ts';
import { RunFolder } from './files.ts';
import { encodeSafetensors, loadSafetensors } from './safetensors.ts';
import { metricsToArrow, samplesToArrow } from './sinks/arrow.ts';
import { scatterOverDensity, TEACHER_COLOR } from './sinks/plot.ts';
import { progress } from './sinks/progress.ts';
import { copyingDiagnosticFor } from './diagnose/copying.ts';
export type { Summary } from './summary.ts';
import type { CopyingMetrics } from '../ops/metrics/copying.ts';

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

export interface RunOptions {
  seed: number;
  backend: string;
  out: string;
  steps?: number;
  quiet?: boolean;
  /** evaluation sample count (default 4096) */
  evalSamples?: number;
  /** extra diagnostics at each evaluation: 'copying' */
  diagnose?: string[];
  /** the resolved pipeline options, recorded in config.json and the report */
  config?: Record<string, unknown>;
  /** write a checkpoint every this many steps (0: never) into <out>/checkpoints, keeping the last `keep` (default 3) */
  checkpointEvery?: number;
  keep?: number;
  /** stop after this many non-finite (skipped) updates in a row (default 20) */
  maxNonFinite?: number;
  /** continue from this checkpoint (see `resumeRun`) */
  resume?: Checkpoint;
  /** testing aid, passed to the executor */
  poisonGradient?: ExecutorOptions['poisonGradient'];
}


type Row = Record<string, number | null>;

/** the metric columns of one row: every evaluated metric, null at steps without an evaluation */
export function evalColumns(setup: EvalSetup | undefined, m: Record<string, number> | undefined): Row {
  if (!setup) return {};
  const keys = setup.kind === 'gmm' ? ['energyDistance', 'modesCovered', 'offModeFraction'] : ['tv', 'invalidRate', 'gm', 'gmAR', 'sampleEntropy', 'supportRecall'];
  return Object.fromEntries(keys.map((k) => [k, m?.[k] ?? null]));
}

/** each role's loss in the last metrics row */
export const lastLosses = (rows: Row[]): Record<string, number> =>
  Object.fromEntries(Object.entries(rows[rows.length - 1] ?? {}).filter(([k]) => k.startsWith('loss.')).map(([k, v]) => [k.slice(5), v as number]));

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
    ...(teacherModes ? { teacherPicture: { solver: TEACHER_PICTURE.solver, steps: TEACHER_PICTURE.steps, ...modeNumbers(teacherModes), modeShares: teacherModes.modeShares } } : {}),
    evalSamples: setup.n,
  };
  return { metrics, ...(euler.kept ? { teacherSamples: euler.kept } : {}) };
}

/** The final evaluation of a run (native or imported): the summary's metrics — for a mixture the teacher's ladders and
 * the modes, for tokens the teacher's k-step ladder — and samples.arrow, plus samples.png and teacher-samples.png for
 * a 2-D mixture. */
export async function finalEvaluation(exe: Executor, setup: EvalSetup, m: StudentMetrics, folder: RunFolder): Promise<{ metrics: Record<string, unknown>; samplesPng?: Uint8Array; teacherSamplesPng?: Uint8Array }> {
  let metrics: Record<string, unknown>;
  let teacherSamples: Float32Array | undefined;
  if (setup.kind === 'gmm') ({ metrics, teacherSamples } = await gmmSummary(exe, setup, m));
  // the teacher's k-step sampler beside the student: does the student at k steps beat the teacher at k?
  else metrics = { ...m.metrics, teacherBySteps: tokenTeacherLadder(exe, setup) };
  folder.write('samples.arrow', samplesToArrow(m.samples, setup.d));
  if (setup.kind !== 'gmm' || setup.d !== 2) return { metrics };
  const samplesPng = scatterOverDensity(setup.target, m.samples);
  folder.write('samples.png', samplesPng);
  if (!teacherSamples) return { metrics, samplesPng };
  const teacherSamplesPng = scatterOverDensity(setup.target, teacherSamples, { colors: () => TEACHER_COLOR });
  folder.write('teacher-samples.png', teacherSamplesPng);
  return { metrics, samplesPng, teacherSamplesPng };
}

export async function runIR(ir0: GraphIR, o: RunOptions): Promise<Summary> {
  const t0 = performance.now();
  if (o.resume) removeUnfinished(o.out);
  const folder = new RunFolder(o.out, { clean: !!o.resume });
  let lastCheckpoint: string | undefined = o.resume?.dir;
  let made: Executor | undefined;
  try {
    const ir: GraphIR = { ...ir0, run: { ...ir0.run, steps: o.steps ?? ir0.run.steps } };
    const backend = await loadBackend(o.backend);
    const init = initialWeights(ir, o.seed, loadSafetensors);
    const paramCount = (role: string) => Object.values(init.get(role) ?? {}).reduce((a, t) => a + t.data.length, 0);
    const plan = compile(ir, { paramCount });
    const planText = printPlan(plan);
    folder.write('ir.json', JSON.stringify(ir, null, 1));
    folder.write('ir.txt', printIR(ir) + '\n');
    folder.write('plan.txt', planText + '\n');
    if (o.config) folder.write('config.json', JSON.stringify(o.config, null, 2) + '\n');
    const exe = (made = new Executor(backend, plan, o.seed, init, { maxNonFinite: o.maxNonFinite, poisonGradient: o.poisonGradient }));
    if (o.resume) exe.importState(o.resume.exec, `checkpoint ${o.resume.dir}`);
    const setup = ir.eval ? evalSetup(exe, o.evalSamples ?? 4096) : undefined;
    const steps = ir.run.steps;
    const from = (o.resume?.state.step ?? 0) + 1;
    const copying = copyingDiagnosticFor(exe, o.diagnose);
    const copyingAt = new Map<number, CopyingMetrics>();
    const rows: Row[] = (o.resume?.state.rows as Row[] | undefined) ?? [];
    const nonFiniteEvents = o.resume?.state.nonFiniteEvents ?? [];
    const every = o.checkpointEvery ?? 0;
    const keep = o.keep ?? 3;
    const bar = progress(steps, { quiet: o.quiet ?? false });
    const priorSeconds = o.resume?.state.trainSeconds ?? 0;
    const trainStart = performance.now();
    let last: StepEvent | undefined;
    await lastValueFrom(
      train(exe, steps, setup, ir.run.evalEvery, { warmup: !o.resume, from }).pipe(
        concatMap(async (e) => {
          if (copying && e.eval) copyingAt.set(e.step, copying.measure(e.eval.samples, e.eval.extras.noise!, setup!.d));
          for (const role of e.nonFinite) {
            nonFiniteEvents.push({ step: e.step, role });
            if (!o.quiet) process.stderr.write(`step ${e.step}: non-finite loss or gradient in role '${role}': update skipped (${exe.nonFinite.get(role)} so far)\n`);
          }
          rows.push({
            step: e.step,
            wallSeconds: priorSeconds + e.wallSeconds,
            ...Object.fromEntries(Object.entries(e.losses).map(([k, v]) => [`loss.${k}`, v])),
            ...Object.fromEntries(Object.entries(e.gradNorms).map(([k, v]) => [`gradNorm.${k}`, v])),
            ...Object.fromEntries([...exe.nonFinite].map(([k, v]) => [`nonFinite.${k}`, v])),
            ...e.outputs,
            ...evalColumns(setup, e.eval?.metrics),
            ...(copying ? copyingColumns(copyingAt.get(e.step)) : {}),
          });
          last = e;
          bar.update(e);
          // never at the last step: the run folder itself holds the final state
          if (every > 0 && e.step % every === 0 && e.step < steps)
            lastCheckpoint = writeCheckpoint(
              o.out,
              {
                format: CHECKPOINT_FORMAT,
                version: CHECKPOINT_VERSION,
                pipeline: ir.name,
                step: e.step,
                run: { seed: o.seed, backend: o.backend, steps, checkpointEvery: every, keep, ...(o.evalSamples ? { evalSamples: o.evalSamples } : {}), ...(o.diagnose ? { diagnose: o.diagnose } : {}), ...(o.maxNonFinite ? { maxNonFinite: o.maxNonFinite } : {}) },
                ...(o.config ? { config: o.config } : {}),
                rows,
                trainSeconds: priorSeconds + (performance.now() - trainStart) / 1000,
                nonFiniteEvents,
              },
              ir,
              await exe.exportStateAsync(),
              keep,
            );
          return e;
        }),
      ),
      { defaultValue: undefined },
    ).finally(() => bar.stop());
    const trainSeconds = priorSeconds + (performance.now() - trainStart) / 1000;
    folder.write('metrics.arrow', metricsToArrow(rows));
    const metrics: Record<string, unknown> = {};
    let samplesPng: Uint8Array | undefined;
    let teacherSamplesPng: Uint8Array | undefined;
    if (setup) {
      // a run resumed from its last step has no event left: evaluate the restored student (same draws)
      const final = await finalEvaluation(exe, setup, last?.eval ?? (await studentMetricsAsync(exe, setup)), folder);
      Object.assign(metrics, final.metrics);
      if (copying) metrics.copying = copyingAt.get(steps);
      ({ samplesPng, teacherSamplesPng } = final);
    }
    // weights/<role>.safetensors: what was evaluated (the EMA where a role has one); <role>.raw.safetensors beside it
    // then holds the trained weights themselves, to continue training from
    for (const d of ir.models.filter((x) => x.trainable)) {
      const meta = { role: d.role, kind: d.kind, config: JSON.stringify(d.config) };
      const ema = plan.ema[d.role];
      folder.write(`weights/${d.role}.safetensors`, encodeSafetensors(await exe.hostWeightsAsync(d.role, 'eval'), ema === undefined ? meta : { ...meta, ema: String(ema) }));
      if (ema !== undefined) folder.write(`weights/${d.role}.raw.safetensors`, encodeSafetensors(await exe.hostWeightsAsync(d.role, 'raw'), meta));
    }
    const finalLosses = lastLosses(rows);
    const summary: Summary = {
      pipeline: ir.name,
      seed: o.seed,
      backend: backend.name,
      steps,
      wallSeconds: (performance.now() - t0) / 1000,
      iterationsPerSecond: (steps - from + 1) / Math.max(trainSeconds - priorSeconds, 1e-9),
      metrics,
      energyDistanceByStep: rows.filter((r) => typeof r.energyDistance === 'number').map((r) => ({ step: r.step!, energyDistance: r.energyDistance! })),
      finalLosses,
      nonFinite: { skipped: Object.fromEntries(exe.nonFinite), events: nonFiniteEvents },
      ...(o.resume ? { resumedFrom: o.resume.state.step } : {}),
    };
    folder.write('summary.json', JSON.stringify(summary, null, 2) + '\n');
    for (const [name, data] of Object.entries(await reportFiles({ summary, rows, planText, config: o.config, samplesPng, teacherSamplesPng }))) folder.write(name, data);
    exe.dispose();
    folder.commit();
    return summary;
  } catch (e) {
    made?.dispose(); // a failed run must not leave its variables registered with the backend
    folder.discard();
    if (e instanceof NonFiniteError)
      throw new UserError(`training stopped: ${e.message}; ${lastCheckpoint ? `last good checkpoint: ${lastCheckpoint}` : 'no checkpoint was written (--checkpoint-every N)'}`);
    throw e;
  }
}

/** Continue the run whose folder (or checkpoint folder) is `dir`, as it was configured. */
export async function resumeRun(dir: string, o: { quiet?: boolean; out?: string } = {}): Promise<Summary> {
  const c = loadCheckpoint(dir);
  const r = c.state.run;
  const runDir = o.out ?? path.dirname(path.dirname(c.dir));
  return runIR(c.ir, {
    seed: r.seed,
    backend: r.backend,
    out: runDir,
    steps: r.steps,
    quiet: o.quiet ?? false,
    checkpointEvery: r.checkpointEvery,
    keep: r.keep,
    resume: c,
    ...(r.evalSamples ? { evalSamples: r.evalSamples } : {}),
    ...(r.diagnose ? { diagnose: r.diagnose } : {}),
    ...(r.maxNonFinite ? { maxNonFinite: r.maxNonFinite } : {}),
    ...(c.state.config ? { config: c.state.config } : {}),
  });
}
