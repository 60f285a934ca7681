/** @file A finished native run's final weights measured again with another evaluation sample count, into a new
 * folder. The energy distance's estimator has a spread that falls as 1/n: at the default 4096 samples about 0.001 on
 * the ring toy, as large as the gap between a good student and the teacher's 16-step sampler, so comparisons at that
 * level need more samples than a run evaluates with along the way. */
import fs from 'node:fs';
import path from 'node:path';
import { parseIR } from '../dsl/ir/verify.ts';
import { GraphError, UserError } from '../dsl/errors.ts';
import { compile, printPlan } from '../dsl/compile/index.ts';
import { loadBackend } from '../gpu/backend.ts';
import { Executor } from './executor.ts';
import { initialWeights } from '../ops/models/init.ts';
import { loadSafetensors } from './safetensors.ts';
import { evalSetup, studentMetricsAsync } from './evaluate.ts';
import { finalEvaluation } from './run.ts';
import type { Summary } from './summary.ts';
import { RunFolder } from './files.ts';
import { commitReported, readMetrics } from './report/report.ts';

/** Evaluate the final weights of the native run in `dir` with `evalSamples` samples; write summary.json (the run's,
 * its metrics measured again, `evalSamples` set), samples, the report and the run's metrics.arrow into `out`. The run folder is not touched. */
export async function rescoreRun(dir: string, o: { out: string; evalSamples: number; backend?: string }): Promise<Summary> {
  const file = (f: string) => {
    const p = path.join(dir, f);
    if (!fs.existsSync(p)) throw new UserError(`'${dir}' is not a finished distillery run: ${f} is missing`);
    return p;
  };
  if (path.resolve(o.out) === path.resolve(dir)) throw new UserError(`--out must be another folder than the run '${dir}': its own numbers stay as they were measured`);
  let old: Summary;
  try {
    old = JSON.parse(fs.readFileSync(file('summary.json'), 'utf8')) as Summary;
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UserError(`${path.join(dir, 'summary.json')} is not valid JSON`);
  }
  const parsed = parseIR(JSON.parse(fs.readFileSync(file('ir.json'), 'utf8')));
  if (!parsed.ir) throw new GraphError(parsed.issues);
  if (!parsed.ir.eval) throw new UserError(`the pipeline '${parsed.ir.name}' of '${dir}' has no evaluation to measure again`);
  // the trained roles start from the weights the run evaluated (the EMA where it kept one); nothing trains here, so no
  // EMA is kept
  const ir = {
    ...parsed.ir,
    models: parsed.ir.models.map((m) => (m.trainable ? { ...m, load: file(`weights/${m.role}.safetensors`), initFrom: undefined } : m)),
    updates: parsed.ir.updates.map(({ ema: _ema, ...u }) => u),
  };
  const backend = await loadBackend(o.backend ?? 'wasm');
  const plan = compile(ir);
  const exe = new Executor(backend, plan, old.seed, initialWeights(ir, old.seed, loadSafetensors));
  const folder = new RunFolder(o.out);
  try {
    const t0 = performance.now();
    const setup = evalSetup(exe, o.evalSamples);
    const m = await studentMetricsAsync(exe, setup);
    const final = await finalEvaluation(exe, setup, m, folder);
    const summary: Summary = { ...old, metrics: { ...final.metrics, evalSamples: o.evalSamples, rescoredFrom: path.resolve(dir), rescoreSeconds: (performance.now() - t0) / 1000 } };
    // the run's metric rows and plan come along, so that the folder is a whole run folder (`report DIR` rebuilds it)
    const rows = readMetrics(file('metrics.arrow'));
    const planText = printPlan(plan);
    folder.write('metrics.arrow', fs.readFileSync(file('metrics.arrow')));
    folder.write('plan.txt', planText + '\n');
    await commitReported(folder, { summary, rows, planText, samplesPng: final.samplesPng, teacherSamplesPng: final.teacherSamplesPng });
    return summary;
  } catch (e) {
    folder.discard();
    throw e;
  } finally {
    exe.dispose();
  }
}
