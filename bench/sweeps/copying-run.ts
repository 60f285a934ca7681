/** @file One dimension × arm × seed of the copying bench: train the student, measure copying and quality as it goes. */
import { openExecutor } from '../../runtime/open.ts';
import { buildIR } from '../../dsl/pipeline.ts';
import { gmmOf } from '../../dsl/ir/schema.ts';
import { measureAlong } from './measure.ts';
import { CopyingDiagnostic } from '../../runtime/diagnose/copying.ts';
import { copying, type CopyingConfig } from '../../pipelines/copying.ts';
import { energyDistance } from '../../ops/metrics/energy.ts';
import { component } from '../../ops/metrics/copying.ts';
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
}

export interface CopyingRunResult {
  arm: string;
  dim: number;
  seed: number;
  wallSeconds: number;
  curve: CopyingPoint[];
  final: CopyingPoint;
  /** the teacher's own sampler Φ on the same noises: the floor of the quality metrics */
  teacher: { energyDistance: number; modeTV: number };
}

/** total variation between the mode histogram of x (most likely component) and the mixture weights */
function modeTV(g: GmmSpec, x: Float32Array, d: number): number {
  const n = x.length / d;
  const counts = new Array<number>(g.means.length).fill(0);
  for (let i = 0; i < n; i++) counts[component(g, x.subarray(i * d, (i + 1) * d))]!++;
  const tot = g.weights.reduce((a, b) => a + b, 0);
  return counts.reduce((a, c, k) => a + Math.abs(c / n - g.weights[k]! / tot), 0) / 2;
}

export async function runCopyingArm(spec: CopyingRunSpec): Promise<CopyingRunResult> {
  const t0 = performance.now();
  const ir = buildIR(copying, { ...spec.overrides, dim: spec.dim });
  const exe = await openExecutor(ir, spec.seed, spec.backend);
  try {
    const target = gmmOf(ir.datasets[ir.eval!.target], 'the copying bench');
    const d = spec.dim;
    const truth = sampleGmm(target, spec.evalSamples, new Rng([spec.seed, 'copying-target']));
    const diag = new CopyingDiagnostic(exe);
    const measure = (step: number): CopyingPoint => {
      const s = exe.sample(spec.evalSamples);
      const m = diag.measure(s.data, s.extras.noise!, d);
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
        modeTV: modeTV(target, s.data, d),
      };
    };
    const curve = await measureAlong(exe, ir.run.steps, ir.run.evalEvery, measure);
    const phi = diag.teacherSamples!;
    return {
      arm: spec.arm,
      dim: d,
      seed: spec.seed,
      wallSeconds: (performance.now() - t0) / 1000,
      curve,
      final: curve[curve.length - 1]!,
      teacher: { energyDistance: energyDistance(phi, truth, d), modeTV: modeTV(target, phi, d) },
    };
  } finally {
    exe.dispose();
  }
}
