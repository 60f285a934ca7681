/**
 * @file One job of the D-MMD benchmark, in its own process:
 * - 'teachers': the exact oracle's k-step sampler (τ = 1 and the low temperature) and, after its training, the learned
 *   teacher's, at every N of the ladder;
 * - 'student': a D-MMD student trained and measured along the way (step 0 = the student as the teacher, before D-MMD).
 */
import { openExecutor } from '../../runtime/open.ts';
import { buildIR } from '../../dsl/pipeline.ts';
import { measureAlong } from './measure.ts';
import { evalSetup, tokenTeacherLadder, type TokenEvalSetup } from '../../runtime/evaluate.ts';
import { warmup, type StepEvent } from '../../runtime/train.ts';
import { dmmdPipeline, type DmmdConfig } from '../../pipelines/dmmd.ts';
import { discreteMetrics, type DiscreteMetrics } from '../../ops/metrics/discrete.ts';

export interface DmmdRunSpec {
  job: 'teachers' | 'student';
  arm: string;
  seed: number;
  overrides: Partial<DmmdConfig>;
  evalSamples: number;
  backend: string;
  /** teachers: the step counts N, and the low temperature */
  ladder?: number[];
  lowTemperature?: number;
}

export interface DmmdRunResult {
  job: DmmdRunSpec['job'];
  arm: string;
  seed: number;
  wallSeconds: number;
  /** students: metrics along training, and the last; `logged`: the pipeline's logged outputs (dead zone, ε
   * sensitivity, auxiliary fit) averaged over the steps since the previous measurement */
  curve?: ({ step: number; logged?: Record<string, number> } & DiscreteMetrics)[];
  final?: DiscreteMetrics;
  /** students: the last logged KL(x̂_θ ‖ x̂_φ) and output entropy */
  outputs?: Record<string, number>;
  /** teachers: sampler → N → metrics */
  ladders?: Record<string, Record<string, DiscreteMetrics>>;
}

async function executor(overrides: Partial<DmmdConfig>, seed: number, backend: string) {
  const ir = buildIR(dmmdPipeline, overrides);
  const exe = await openExecutor(ir, seed, backend);
  return { ir, exe };
}

export async function runDmmdArm(spec: DmmdRunSpec): Promise<DmmdRunResult> {
  const t0 = performance.now();
  const base = { job: spec.job, arm: spec.arm, seed: spec.seed };
  if (spec.job === 'teachers') {
    const ladders: Record<string, Record<string, DiscreteMetrics>> = {};
    const ladder = spec.ladder ?? [1, 2, 4, 8, 16, 32, 64, 256];
    {
      const { exe } = await executor({ ...spec.overrides, teacher: 'oracle' }, spec.seed, spec.backend);
      const setup = evalSetup(exe, spec.evalSamples) as TokenEvalSetup;
      ladders.oracle = tokenTeacherLadder(exe, setup, ladder);
      if (spec.lowTemperature) ladders[`oracle τ ${spec.lowTemperature}`] = tokenTeacherLadder(exe, setup, ladder, spec.lowTemperature);
      exe.dispose();
    }
    {
      // the learned teacher: its training is the pipeline's first warm-up phase
      const { exe } = await executor({ ...spec.overrides, teacher: 'learned' }, spec.seed, spec.backend);
      warmup(exe);
      ladders.learned = tokenTeacherLadder(exe, evalSetup(exe, spec.evalSamples) as TokenEvalSetup, ladder);
      exe.dispose();
    }
    return { ...base, wallSeconds: (performance.now() - t0) / 1000, ladders };
  }
  const { ir, exe } = await executor(spec.overrides, spec.seed, spec.backend);
  try {
    const target = ir.datasets[ir.eval!.target]!;
    if (target.kind !== 'tokens') throw new Error('internal: the dmmd pipeline evaluates on tokens');
    let outputs: Record<string, number> = {};
    let sums: Record<string, { sum: number; n: number }> = {};
    const onStep = (e: StepEvent) => {
      for (const [k, v] of Object.entries(e.outputs)) if (Number.isFinite(v)) ((sums[k] ??= { sum: 0, n: 0 }).sum += v), sums[k].n++;
    };
    const measure = (step: number, e?: StepEvent) => {
      const s = exe.sample(spec.evalSamples);
      if (e) outputs = e.outputs;
      const logged = Object.fromEntries(Object.entries(sums).map(([k, v]) => [k, v.sum / v.n]));
      sums = {};
      return { step, ...discreteMetrics(target, s.data, spec.evalSamples, spec.seed), ...(step > 0 ? { logged } : {}) };
    };
    const curve = await measureAlong(exe, ir.run.steps, ir.run.evalEvery, measure, { onStep });
    const { step: _s, logged: _l, ...final } = curve[curve.length - 1]!;
    return { ...base, wallSeconds: (performance.now() - t0) / 1000, curve, final, outputs };
  } finally {
    exe.dispose();
  }
}
