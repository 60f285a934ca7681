/** @file One arm × seed of the forbidden-zone benchmark: train, and measure every `evalEvery` steps (step 0 = after the warm-up). */
import { openExecutor } from '../../runtime/open.ts';
import { buildIR } from '../../dsl/pipeline.ts';
import { measureAlong } from './measure.ts';
import { FZ_REGION, forbiddenZone, fzRing, type FzConfig } from '../../pipelines/forbidden-zone.ts';
import { fzMetrics, fzTargets, type FzMetrics } from './fz-metrics.ts';

export interface FzRunSpec {
  arm: string;
  seed: number;
  overrides: Partial<FzConfig>;
  evalSamples: number;
  backend: string;
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

export async function runFzArm(spec: FzRunSpec): Promise<FzRunResult> {
  const t0 = performance.now();
  const ir = buildIR(forbiddenZone, spec.overrides);
  const exe = await openExecutor(ir, spec.seed, spec.backend);
  try {
    const targets = fzTargets(fzRing.spec, 2, spec.evalSamples / 2, spec.seed);
    let last: { samples: Float32Array; labels: Float32Array } | undefined;
    const measure = (step: number) => {
      const s = exe.sample(spec.evalSamples);
      last = { samples: s.data, labels: s.extras.label! };
      return { step, ...fzMetrics(fzRing.spec, FZ_REGION, s.data, s.extras.label!, s.extras.advantage, targets) };
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
