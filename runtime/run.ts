/** @file One run: compile, train on a backend, evaluate, and write the run folder (all or nothing). */
import { lastValueFrom, tap, toArray } from 'rxjs';
import type { GraphIR } from '../dsl/ir/schema.ts';
import { compile, printPlan } from '../dsl/compile/index.ts';
import { printIR } from '../dsl/ir/print.ts';
import { loadBackend } from '../gpu/backend.ts';
import { Executor, initialWeights } from './executor.ts';
import { evalSetup, equivalentNfe, gaussianBaseline, teacherLadder } from './evaluate.ts';
import { train, type StepEvent } from './train.ts';
import { RunFolder } from './files.ts';
import { encodeSafetensors, loadSafetensors } from './safetensors.ts';
import { metricsToArrow, samplesToArrow } from './sinks/arrow.ts';
import { scatterOverDensity } from './sinks/plot.ts';
import { progress } from './sinks/progress.ts';
import { CopyingDiagnostic } from './diagnose/copying.ts';
import type { CopyingMetrics } from '../ops/metrics/copying.ts';

/** the copying metrics as flat metric columns (null between evaluations) */
const copyingColumns = (m: CopyingMetrics | undefined) => ({
  copyingScore: m?.copyingScore ?? null,
  dCopy: m?.dCopy ?? null,
  dNoise: m?.dNoise ?? null,
  modeAgreement: m?.modeAgreement ?? null,
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
}

export interface Summary {
  pipeline: string;
  seed: number;
  backend: string;
  steps: number;
  wallSeconds: number;
  iterationsPerSecond: number;
  metrics: Record<string, unknown>;
  energyDistanceByStep: { step: number; energyDistance: number }[];
  finalLosses: Record<string, number>;
}

export async function runIR(ir0: GraphIR, o: RunOptions): Promise<Summary> {
  const t0 = performance.now();
  const folder = new RunFolder(o.out);
  try {
    const ir: GraphIR = { ...ir0, run: { ...ir0.run, steps: o.steps ?? ir0.run.steps } };
    const backend = await loadBackend(o.backend);
    const init = initialWeights(ir, o.seed, loadSafetensors);
    const paramCount = (role: string) => Object.values(init.get(role) ?? {}).reduce((a, t) => a + t.data.length, 0);
    const plan = compile(ir, { paramCount });
    folder.write('ir.json', JSON.stringify(ir, null, 1));
    folder.write('ir.txt', printIR(ir) + '\n');
    folder.write('plan.txt', printPlan(plan) + '\n');
    const exe = new Executor(backend, plan, o.seed, init);
    const setup = ir.eval ? evalSetup(exe, o.evalSamples ?? 4096) : undefined;
    const steps = ir.run.steps;
    const copying = o.diagnose?.includes('copying') ? new CopyingDiagnostic(exe) : undefined;
    const copyingAt = new Map<number, CopyingMetrics>();
    const bar = progress(steps, { quiet: o.quiet ?? false });
    const trainStart = performance.now();
    const events = await lastValueFrom(
      train(exe, steps, setup, ir.run.evalEvery).pipe(
        tap((e) => {
          if (copying && e.eval) copyingAt.set(e.step, copying.measure(e.eval.samples, e.eval.extras.noise!, setup!.d));
          bar.update(e);
        }),
        toArray(),
      ),
    ).finally(() => bar.stop());
    const trainSeconds = (performance.now() - trainStart) / 1000;
    const rows = events.map((e: StepEvent) => ({
      step: e.step,
      wallSeconds: e.wallSeconds,
      ...Object.fromEntries(Object.entries(e.losses).map(([k, v]) => [`loss.${k}`, v])),
      ...e.outputs,
      energyDistance: e.eval?.energyDistance ?? null,
      modesCovered: e.eval?.modesCovered ?? null,
      offModeFraction: e.eval?.offModeFraction ?? null,
      ...(copying ? copyingColumns(copyingAt.get(e.step)) : {}),
    }));
    folder.write('metrics.arrow', metricsToArrow(rows));
    const last = events[events.length - 1]!;
    const metrics: Record<string, unknown> = {};
    if (setup) {
      const m = last.eval!; // the stream evaluates the last step
      const ladder = teacherLadder(exe, setup, 'euler');
      const eq = equivalentNfe(ladder, m.energyDistance);
      const matched = Object.keys(ladder).map(Number).filter((n) => ladder[String(n)]! >= m.energyDistance);
      Object.assign(metrics, {
        energyDistance: m.energyDistance,
        teacherEnergyDistanceByNfe: ladder,
        teacherSolver: 'euler',
        equivalentTeacherNfe: eq.nfe,
        equivalentTeacherNfeExceedsLadder: eq.exceedsLadder,
        // the largest step count whose teacher sampler the student matches or beats (null: worse than 1 step)
        studentMatchesTeacherNfe: matched.length ? Math.max(...matched) : null,
        teacherHeunEnergyDistanceBySteps: teacherLadder(exe, setup, 'heun', [1, 2, 4, 8, 16]),
        gaussianBaselineEnergyDistance: gaussianBaseline(exe, setup),
        modesCovered: m.modesCovered,
        modesTotal: m.modesTotal,
        offModeFraction: m.offModeFraction,
        evalSamples: setup.n,
      });
      if (copying) metrics.copying = copyingAt.get(last.step);
      folder.write('samples.arrow', samplesToArrow(m.samples, setup.d));
      if (setup.d === 2) folder.write('samples.png', scatterOverDensity(setup.target, m.samples));
    }
    for (const d of ir.models.filter((x) => x.trainable))
      folder.write(`weights/${d.role}.safetensors`, encodeSafetensors(exe.hostWeights(d.role), { role: d.role, kind: d.kind, config: JSON.stringify(d.config) }));
    const summary: Summary = {
      pipeline: ir.name,
      seed: o.seed,
      backend: backend.name,
      steps,
      wallSeconds: (performance.now() - t0) / 1000,
      iterationsPerSecond: steps / trainSeconds,
      metrics,
      energyDistanceByStep: events.filter((e) => e.eval).map((e) => ({ step: e.step, energyDistance: e.eval!.energyDistance })),
      finalLosses: last.losses,
    };
    folder.write('summary.json', JSON.stringify(summary, null, 2) + '\n');
    exe.dispose();
    folder.commit();
    return summary;
  } catch (e) {
    folder.discard();
    throw e;
  }
}
