/**
 * @file One arm × seed of the forbidden-zone benchmark: train, and measure every `evalEvery` steps (step 0 = after the
 * warm-up). The trap pre-training does not depend on the arm, so the bench runs it once per seed (`runFzTrap`) and every
 * arm of that seed starts from the same trapped student.
 */
import fs from 'node:fs';
import { openExecutor } from '../../runtime/open.ts';
import { buildIR } from '../../dsl/pipeline.ts';
import { warmup } from '../../runtime/train.ts';
import { measureAlong } from './measure.ts';
import { FZ_REGION, forbiddenZone, fzRing, type FzConfig } from '../../pipelines/forbidden-zone.ts';
import { fzMetrics, fzTargets, type FzMetrics } from './fz-metrics.ts';
import { encodeSafetensors, loadSafetensors } from '../../runtime/safetensors.ts';

export interface FzRunSpec {
  arm: string;
  seed: number;
  overrides: Partial<FzConfig>;
  evalSamples: number;
  backend: string;
  /** a safetensors file of the student's weights after the trap pre-training (from `runFzTrap`); the run then skips its own */
  studentInit?: string;
}

export interface FzRunResult {
  arm: string;
  seed: number;
  wallSeconds: number;
  curve: ({ step: number } & FzMetrics)[];
  final: FzMetrics;
  /** the first measured step with trapped mass < 1% (null: never) */
  escapeStep: number | null;
  /** samples [n,2] and labels of the last measurement, for the plots */
  samples: number[];
  labels: number[];
}

/** The trap pre-training alone (no fake warm-up, no training): writes the student's weights to `spec.out`. */
export async function runFzTrap(spec: { seed: number; overrides: Partial<FzConfig>; backend: string; out: string }): Promise<{ seed: number; wallSeconds: number }> {
  const t0 = performance.now();
  const ir = buildIR(forbiddenZone, { ...spec.overrides, init: 'trap', fakeWarmup: 0 });
  const exe = await openExecutor(ir, spec.seed, spec.backend);
  try {
    warmup(exe);
    fs.writeFileSync(spec.out, encodeSafetensors(exe.hostWeights('student')));
    return { seed: spec.seed, wallSeconds: (performance.now() - t0) / 1000 };
  } finally {
    exe.dispose();
  }
}

export async function runFzArm(spec: FzRunSpec): Promise<FzRunResult> {
  const t0 = performance.now();
  const ir = buildIR(forbiddenZone, spec.studentInit ? { ...spec.overrides, init: 'random' } : spec.overrides);
  const exe = await openExecutor(ir, spec.seed, spec.backend);
  try {
    if (spec.studentInit) exe.loadWeights('student', loadSafetensors(spec.studentInit), 'trapped student');
    const targets = fzTargets(fzRing.spec, 2, spec.evalSamples / 2, spec.seed);
    let last: { samples: Float32Array; labels: Float32Array } | undefined;
    const measure = (step: number) => {
      const s = exe.sample(spec.evalSamples);
      last = { samples: s.data, labels: s.extras.label! };
      return { step, ...fzMetrics(fzRing.spec, FZ_REGION, s.data, s.extras.label!, s.extras.advantage, targets, s.extras.rho) };
    };
    const curve = await measureAlong(exe, ir.run.steps, ir.run.evalEvery, measure);
    const final = curve[curve.length - 1]!;
    const { step: _s, ...finalMetrics } = final;
    return {
      arm: spec.arm,
      seed: spec.seed,
      wallSeconds: (performance.now() - t0) / 1000,
      curve,
      final: finalMetrics,
      escapeStep: curve.find((p) => p.trappedMass < 0.01)?.step ?? null,
      samples: Array.from(last!.samples),
      labels: Array.from(last!.labels),
    };
  } finally {
    exe.dispose();
  }
}
