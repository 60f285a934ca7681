/** @file One run on the CLI: a RunSession trained with a progress bar and checkpoints, its run folder written whole or
 * not at all. */
import path from 'node:path';
import { lastValueFrom, map } from 'rxjs';
import type { DatasetSpec, GraphIR } from '../dsl/ir/schema.ts';
import { printIR } from '../dsl/ir/print.ts';
import { loadBackend } from '../gpu/backend.ts';
import { NonFiniteError, type Executor, type ExecutorOptions, type ExecutorState } from './executor.ts';
import { DEFAULT_EVAL_SAMPLES, type EvalSetup, type StudentMetrics } from './evaluate.ts';
import { CHECKPOINT_FORMAT, CHECKPOINT_VERSION, checkpointName, loadCheckpoint, removeUnfinished, writeCheckpoint, type Checkpoint } from './checkpoint.ts';
import { MetricsFile } from './sinks/metrics-file.ts';
import { startEvalWorker, type EvalWorker } from './eval-worker/host.ts';
import { reportFiles } from './report/report.ts';
import type { Summary } from './summary.ts';
import { UserError } from '../dsl/errors.ts';
import { RunFolder } from './files.ts';
import { loadSafetensors } from './safetensors.ts';
import { metricsToArrow, samplesToArrow } from './sinks/arrow.ts';
import { scatterOverDensity, TEACHER_COLOR } from './sinks/plot.ts';
import { progress } from './sinks/progress.ts';
import { finalMetrics, RunSession, type Row, type SessionResult } from './session.ts';
export type { Summary } from './summary.ts';
export { copyingColumns, evalColumns, lastLosses } from './session.ts';

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
  /** when it aborts (Ctrl-C), training stops at the next step boundary: the metrics so far and a checkpoint of that
   * step are written, and runIR throws `Interrupted` */
  stop?: AbortSignal;
  /** the most seconds a metric row waits before it reaches metrics.arrows (default 1) */
  flushSeconds?: number;
  /** evaluate on a worker thread while training goes on (default true where the backend reads synchronously: wasm,
   * cpu); the metrics are the same numbers either way */
  evalWorker?: boolean;
}

/** a run stopped by `RunOptions.stop`: where its metrics and its checkpoint are */
export class Interrupted extends UserError {
  constructor(
    readonly step: number,
    readonly checkpoint: string | undefined,
    readonly metrics: string,
  ) {
    super(`interrupted after step ${step}: metrics so far in ${metrics}${checkpoint ? `, checkpoint ${checkpoint}; continue with \`distillery run --resume ${path.dirname(path.dirname(checkpoint))}\`` : ''}`);
  }
}



/** What a finished session leaves in its run folder besides checkpoints: the IR and plan, the options, metrics.arrow,
 * samples.arrow and the sample pictures, the weights, summary.json and the report. The lab writes a browser run with
 * it too. */
export async function writeRunOutputs(
  folder: RunFolder,
  r: { ir: GraphIR; planText: string; config?: Record<string, unknown>; result: Omit<SessionResult, 'weights'> & { weights: Record<string, Uint8Array> }; target?: DatasetSpec },
): Promise<void> {
  const { result } = r;
  folder.write('ir.json', JSON.stringify(r.ir, null, 1));
  folder.write('ir.txt', printIR(r.ir) + '\n');
  folder.write('plan.txt', r.planText + '\n');
  if (r.config) folder.write('config.json', JSON.stringify(r.config, null, 2) + '\n');
  folder.write('metrics.arrow', metricsToArrow(result.rows));
  const { samplesPng, teacherSamplesPng } = result.samples && result.d !== undefined ? writeSamples(folder, r.target, result.d, result.samples, result.teacherSamples) : {};
  for (const [name, bytes] of Object.entries(result.weights)) folder.write(`weights/${name}`, bytes);
  folder.write('summary.json', JSON.stringify(result.summary, null, 2) + '\n');
  for (const [name, data] of Object.entries(await reportFiles({ summary: result.summary, rows: result.rows, planText: r.planText, config: r.config, samplesPng, teacherSamplesPng }))) folder.write(name, data);
}

/** The final evaluation of an imported run, written: finalMetrics, plus samples.arrow and the pictures of a 2-D mixture. */
export async function finalEvaluation(exe: Executor, setup: EvalSetup, m: StudentMetrics, folder: RunFolder): Promise<{ metrics: Record<string, unknown>; samplesPng?: Uint8Array; teacherSamplesPng?: Uint8Array }> {
  const { metrics, teacherSamples } = await finalMetrics(exe, setup, m);
  return { metrics, ...writeSamples(folder, setup.target, setup.d, m.samples, teacherSamples) };
}

/** samples.arrow, and for a 2-D mixture samples.png over its density and teacher-samples.png */
function writeSamples(folder: RunFolder, target: DatasetSpec | undefined, d: number, samples: Float32Array, teacherSamples?: Float32Array): { samplesPng?: Uint8Array; teacherSamplesPng?: Uint8Array } {
  folder.write('samples.arrow', samplesToArrow(samples, d));
  if (target?.kind !== 'gmm' || d !== 2) return {};
  const samplesPng = scatterOverDensity(target, samples);
  folder.write('samples.png', samplesPng);
  if (!teacherSamples) return { samplesPng };
  const teacherSamplesPng = scatterOverDensity(target, teacherSamples, { colors: () => TEACHER_COLOR });
  folder.write('teacher-samples.png', teacherSamplesPng);
  return { samplesPng, teacherSamplesPng };
}

export async function runIR(ir0: GraphIR, o: RunOptions): Promise<Summary> {
  const t0 = performance.now();
  if (o.resume) removeUnfinished(o.out);
  const folder = new RunFolder(o.out, { clean: !!o.resume });
  let lastCheckpoint: string | undefined = o.resume?.dir;
  let session: RunSession | undefined;
  let metrics: MetricsFile | undefined;
  let evaluator: EvalWorker | undefined;
  try {
    const ir: GraphIR = { ...ir0, run: { ...ir0.run, steps: o.steps ?? ir0.run.steps } };
    const backend = await loadBackend(o.backend);
    const away = !!ir.eval && backend.syncReads && (o.evalWorker ?? true);
    const every = o.checkpointEvery ?? 0;
    const s = (session = new RunSession(ir, backend, {
      seed: o.seed,
      startedAt: t0,
      // a checkpoint step's event carries the state right after it: training need not wait while it is written
      snapshotAt: (step) => every > 0 && step % every === 0 && step < (o.steps ?? ir0.run.steps),
      gate: () => (o.stop?.aborted ? 'stop' : undefined),
      // the worker starts once the session has accepted the graph and its files (a bad input is the session's error)
      ...(away ? { evaluator: (step: number, w: Parameters<EvalWorker['evaluate']>[1]) => evaluator!.evaluate(step, w) } : {}),
      loadFile: loadSafetensors,
      ...(o.evalSamples ? { evalSamples: o.evalSamples } : {}),
      ...(o.diagnose ? { diagnose: o.diagnose } : {}),
      ...(o.maxNonFinite ? { maxNonFinite: o.maxNonFinite } : {}),
      ...(o.poisonGradient ? { poisonGradient: o.poisonGradient } : {}),
      ...(o.resume
        ? { resume: { exec: o.resume.exec, step: o.resume.state.step, rows: o.resume.state.rows as Row[], nonFiniteEvents: o.resume.state.nonFiniteEvents ?? [], trainSeconds: o.resume.state.trainSeconds ?? 0, what: `checkpoint ${o.resume.dir}` } }
        : {}),
    }));
    if (away) evaluator = await startEvalWorker({ ir, seed: o.seed, backend: o.backend, evalSamples: o.evalSamples ?? DEFAULT_EVAL_SAMPLES });
    const steps = ir.run.steps;
    const keep = o.keep ?? 3;
    // the rows reach disk as they come; a resumed run's stream starts again from its checkpoint's rows
    const m = (metrics = new MetricsFile(o.out, { pipeline: ir.name, seed: o.seed, backend: o.backend, steps, planText: s.planText, ...(o.config ? { config: o.config } : {}) }, s.rows, o.flushSeconds));
    const checkpoint = (step: number, state: ExecutorState, rows: Row[], trainSeconds: number) =>
      (lastCheckpoint = writeCheckpoint(
        o.out,
        {
          format: CHECKPOINT_FORMAT,
          version: CHECKPOINT_VERSION,
          pipeline: ir.name,
          step,
          run: { seed: o.seed, backend: o.backend, steps, checkpointEvery: every, keep, ...(o.evalSamples ? { evalSamples: o.evalSamples } : {}), ...(o.diagnose ? { diagnose: o.diagnose } : {}), ...(o.maxNonFinite ? { maxNonFinite: o.maxNonFinite } : {}) },
          ...(o.config ? { config: o.config } : {}),
          rows,
          trainSeconds,
          nonFiniteEvents: s.nonFiniteEvents.filter((x) => x.step <= step),
        },
        ir,
        state,
        keep,
      ));
    const bar = progress(steps, { quiet: o.quiet ?? false });
    let lastStep = s.from - 1;
    try {
      await lastValueFrom(
        s.train().pipe(
          map(({ event: e, row }) => {
            if (!o.quiet) for (const role of e.nonFinite) process.stderr.write(`step ${e.step}: non-finite loss or gradient in role '${role}': update skipped (${s.exe.nonFinite.get(role)} so far)\n`);
            bar.update(e);
            m.push(row);
            lastStep = e.step;
            // the rows reach this step in order: those so far are exactly the checkpoint's
            if (e.state) {
              m.flush();
              checkpoint(e.step, e.state, s.rows, row.wallSeconds ?? s.trainSeconds());
            }
          }),
        ),
        { defaultValue: undefined },
      );
    } finally {
      bar.stop();
    }
    if (lastStep < steps && o.stop?.aborted) {
      m.close();
      // the state now is the one after the last step: a checkpoint of it, unless the newest already is
      const at = lastCheckpoint && path.basename(lastCheckpoint) === checkpointName(lastStep) ? lastCheckpoint : lastStep > 0 ? checkpoint(lastStep, await s.exe.exportStateAsync(), s.rows, s.trainSeconds()) : undefined;
      throw new Interrupted(lastStep, at, m.path);
    }
    m.flush();
    const result = await s.finish();
    await writeRunOutputs(folder, { ir, planText: s.planText, ...(o.config ? { config: o.config } : {}), result, ...(ir.eval ? { target: ir.datasets[ir.eval.target] } : {}) });
    s.dispose();
    folder.commit();
    m.remove();
    return result.summary;
  } catch (e) {
    session?.dispose(); // a failed run must not leave its variables registered with the backend
    metrics?.close(); // the rows so far stay on disk
    folder.discard();
    if (e instanceof NonFiniteError)
      throw new UserError(`training stopped: ${e.message}; ${lastCheckpoint ? `last good checkpoint: ${lastCheckpoint}` : 'no checkpoint was written (--checkpoint-every N)'}`);
    throw e;
  } finally {
    await evaluator?.close();
  }
}

/** Continue the run whose folder (or checkpoint folder) is `dir`, as it was configured. */
export async function resumeRun(dir: string, o: { quiet?: boolean; out?: string; stop?: AbortSignal } = {}): Promise<Summary> {
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
    ...(o.stop ? { stop: o.stop } : {}),
    ...(r.evalSamples ? { evalSamples: r.evalSamples } : {}),
    ...(r.diagnose ? { diagnose: r.diagnose } : {}),
    ...(r.maxNonFinite ? { maxNonFinite: r.maxNonFinite } : {}),
    ...(c.state.config ? { config: c.state.config } : {}),
  });
}
