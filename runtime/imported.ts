/** @file A run made elsewhere (the exported PyTorch package's train.py) turned into distillery's run folder: the final
 * weights evaluated here exactly as a native run's are (energy distance, the teacher ladder, modes…), metrics.jsonl
 * as metrics.arrow, summary.json, samples and the report. */
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { parseIR } from '../dsl/ir/verify.ts';
import { GraphError, UserError } from '../dsl/errors.ts';
import { compile, printPlan } from '../dsl/compile/index.ts';
import { loadBackend } from '../gpu/backend.ts';
import { Executor } from './executor.ts';
import { initialWeights } from '../ops/models/init.ts';
import { loadSafetensors } from './safetensors.ts';
import { evalSetup, studentMetricsAsync, type StudentMetrics } from './evaluate.ts';
import { copyingColumns, evalColumns, finalEvaluation, lastLosses } from './run.ts';
import { copyingDiagnosticFor } from './diagnose/copying.ts';
import type { Summary } from './summary.ts';
import { RunFolder } from './files.ts';
import { metricsToArrow } from './sinks/arrow.ts';
import { commitReported } from './report/report.ts';

const RunJson = z.object({
  format: z.literal('distillery-torch-run'),
  pipeline: z.string(),
  seed: z.int(),
  steps: z.int().min(0),
  ranks: z.int().min(1),
  device: z.string(),
  trainSeconds: z.number().min(0),
  nonFinite: z.object({ skipped: z.record(z.string(), z.int()), events: z.array(z.object({ step: z.int(), role: z.string() })) }),
});

/** Evaluate the exported run in `dir` and write distillery's files beside it; returns its summary. */
export async function evaluateImported(dir: string, o: { backend?: string; evalSamples?: number; diagnose?: string[] } = {}): Promise<Summary> {
  const file = (f: string) => {
    const p = path.join(dir, f);
    if (!fs.existsSync(p)) throw new UserError(`'${dir}' is not a finished run of an exported package: ${f} is missing`);
    return p;
  };
  const run = RunJson.safeParse(JSON.parse(fs.readFileSync(file('run.json'), 'utf8')));
  if (!run.success) throw new UserError(`${path.join(dir, 'run.json')}: ${run.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  const r = run.data;
  const parsed = parseIR(JSON.parse(fs.readFileSync(file('ir.json'), 'utf8')));
  if (!parsed.ir) throw new GraphError(parsed.issues);
  // the trained roles start from the run's final weights; the others as the run had them
  const ir = { ...parsed.ir, models: parsed.ir.models.map((m) => (m.trainable ? { ...m, load: file(`weights/${m.role}.safetensors`), initFrom: undefined } : m)) };
  const rows = fs.readFileSync(file('metrics.jsonl'), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, number | null>);
  const backend = await loadBackend(o.backend ?? 'wasm');
  const plan = compile(ir);
  const exe = new Executor(backend, plan, r.seed, initialWeights(ir, r.seed, loadSafetensors));
  const folder = new RunFolder(dir);
  try {
    const metrics: Record<string, unknown> = {};
    let samplesPng: Uint8Array | undefined;
    let teacherSamplesPng: Uint8Array | undefined;
    if (ir.eval) {
      const setup = evalSetup(exe, o.evalSamples ?? 4096);
      const copying = copyingDiagnosticFor(exe, o.diagnose);
      const diagnose = (at: StudentMetrics) => (copying ? copying.measure(at.samples, at.extras.noise!, setup.d) : undefined);
      // the weights train.py saved every evalEvery steps, measured as a native run measures them along the way
      const evals = path.join(dir, 'evals');
      const snapshots = fs.existsSync(evals) ? fs.readdirSync(evals).filter((f) => /^step-\d{8}\.safetensors$/.test(f)).sort() : [];
      const trained = ir.models.filter((m) => m.trainable).map((m) => m.role);
      for (const f of snapshots) {
        const step = Number(f.slice(5, 13));
        const w = loadSafetensors(path.join(evals, f));
        for (const role of trained) exe.loadWeights(role, Object.fromEntries(Object.entries(w).filter(([k]) => k.startsWith(`${role}/`)).map(([k, t]) => [k.slice(role.length + 1), t])), path.join(evals, f));
        const at = await studentMetricsAsync(exe, setup);
        const row = rows.find((x) => x.step === step);
        if (row) Object.assign(row, evalColumns(setup, at.metrics), copying ? copyingColumns(diagnose(at)) : {});
      }
      for (const role of trained) exe.loadWeights(role, loadSafetensors(file(`weights/${role}.safetensors`)));
      const m = await studentMetricsAsync(exe, setup);
      const finalCopying = diagnose(m);
      const final = await finalEvaluation(exe, setup, m, folder);
      Object.assign(metrics, final.metrics, finalCopying ? { copying: finalCopying } : {});
      ({ samplesPng, teacherSamplesPng } = final);
      // the last row carries the final evaluation, as a native run's does
      if (rows.length) Object.assign(rows[rows.length - 1]!, evalColumns(setup, m.metrics), copying ? copyingColumns(finalCopying) : {});
    }
    const planText = printPlan(plan);
    const summary: Summary = {
      pipeline: ir.name,
      seed: r.seed,
      backend: `torch (${r.ranks} rank${r.ranks > 1 ? 's' : ''}, ${r.device})`,
      steps: r.steps,
      wallSeconds: r.trainSeconds,
      iterationsPerSecond: r.steps / Math.max(r.trainSeconds, 1e-9),
      metrics,
      energyDistanceByStep: rows.filter((x) => typeof x.energyDistance === 'number').map((x) => ({ step: x.step!, energyDistance: x.energyDistance! })),
      finalLosses: lastLosses(rows),
      nonFinite: r.nonFinite,
    };
    folder.write('metrics.arrow', metricsToArrow(rows));
    folder.write('plan.txt', planText + '\n');
    await commitReported(folder, { summary, rows, planText, samplesPng, teacherSamplesPng });
    return summary;
  } catch (e) {
    folder.discard();
    throw e;
  } finally {
    exe.dispose();
  }
}
