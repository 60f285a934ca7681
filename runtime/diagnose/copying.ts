/**
 * @file The copying diagnostic (`--diagnose copying`): at each evaluation, compare the student's samples G(z) with
 * the teacher's flow map Φ(z) on the same noises, and map G(z) back through Φ⁻¹ (docs/methods/copying.md).
 * Needs `g.evaluate({ samples, teacher, noise })`: the noise the student's samples were drawn from.
 */
import type { Executor } from '../executor.ts';
import { pfOde } from '../../gpu/lower/network.ts';
import { copyingMetrics, type CopyingMetrics } from '../../ops/metrics/copying.ts';
import { UserError } from '../../dsl/errors.ts';
import { gmmDim, gmmMoments } from '../../ops/datasets.ts';
import { gmmOf, type GmmSpec } from '../../dsl/ir/schema.ts';

export interface CopyingOptions {
  /** Heun steps of Φ and Φ⁻¹ */
  steps: number;
  /** Φ⁻¹ starts here (σ > 0) and Φ ends here, on the same grid */
  tMin: number;
  /** rows in the exact optimal assignment */
  otRows: number;
}

const COPYING_DEFAULTS: CopyingOptions = { steps: 64, tMin: 1e-3, otRows: 512 };

/** What the diagnostic needs from the graph; a clear error when the pipeline does not declare it. */
function copyingReady(exe: Executor): void {
  const e = exe.ir.eval;
  if (!e?.teacher) throw new UserError(`--diagnose copying: pipeline '${exe.ir.name}' names no teacher in g.evaluate({ teacher })`);
  if (!e.extras?.noise) throw new UserError(`--diagnose copying: pipeline '${exe.ir.name}' names no noise in g.evaluate({ noise }) (the student's input z)`);
}

/** The copying diagnostic when `diagnose` asks for it (a clear error on a backend that reads only asynchronously). */
export function copyingDiagnosticFor(exe: Executor, diagnose: string[] | undefined): CopyingDiagnostic | undefined {
  if (!diagnose?.includes('copying')) return undefined;
  if (!exe.backend.syncReads) throw new UserError(`--diagnose copying reads the teacher's samples back synchronously, which backend '${exe.backend.name}' cannot do here; run it on wasm or cpu`);
  return new CopyingDiagnostic(exe);
}

export class CopyingDiagnostic {
  private phi?: { z: Float32Array; x: Float32Array };
  private target: GmmSpec;
  /** the data scale a: the root mean per-coordinate variance of the target */
  private sigmaData: number;
  constructor(
    private exe: Executor,
    private o: CopyingOptions = COPYING_DEFAULTS,
  ) {
    copyingReady(exe);
    this.target = gmmOf(exe.ir.datasets[exe.ir.eval!.target], 'the copying diagnostic');
    const d = gmmDim(this.target);
    const { cov } = gmmMoments(this.target);
    this.sigmaData = Math.sqrt(cov.filter((_, i) => i % (d + 1) === 0).reduce((a, b) => a + b, 0) / d);
  }

  /** the flow map of `role` (default the teacher) read as a denoiser under the teacher's schedule, or its inverse */
  flow(x: Float32Array, n: number, d: number, invert: boolean, role?: string): Float32Array {
    const t = this.exe.ir.eval!.teacher!;
    return this.exe.withModels({ ...this.exe.ir.dims, B: n }, 'copying', (ctx) =>
      pfOde(ctx, ctx.tf.tensor(x, [n, d]), { model: role ?? t.role, schedule: t.schedule, solver: 'heun', steps: this.o.steps, tMax: 1, tMin: this.o.tMin, invert }).dataSync(),
    ) as Float32Array;
  }

  /** the teacher's Φ(z) on the last noises measured */
  get teacherSamples(): Float32Array | undefined {
    return this.phi?.x;
  }

  /** `samples` G(z) [n, d] and the noises z they came from (the evaluation's fixed draws) */
  measure(samples: Float32Array, noise: Float32Array, d: number): CopyingMetrics {
    const n = samples.length / d;
    const same = this.phi && this.phi.z.length === noise.length && this.phi.z.every((v, i) => v === noise[i]);
    if (!same) this.phi = { z: Float32Array.from(noise), x: this.flow(noise, n, d, false) };
    return copyingMetrics({
      z: noise,
      student: samples,
      teacher: this.phi!.x,
      recovered: this.flow(samples, n, d, true),
      d,
      gmm: this.target,
      sigmaData: this.sigmaData,
      otRows: this.o.otRows,
      seed: this.exe.seed,
    });
  }
}
