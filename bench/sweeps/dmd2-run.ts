/** @file One arm × toy × seed of the DMD2 benchmark, in its own process: a full run whose folder stays beside the results. */
import { buildIR } from '../../dsl/pipeline.ts';
import { runIR } from '../../runtime/run.ts';
import { PIPELINES } from '../../pipelines/index.ts';

export interface Dmd2RunSpec {
  toy: 'ring' | 'grid';
  arm: string;
  seed: number;
  overrides: Record<string, unknown>;
  backend: string;
  out: string;
}

export interface Dmd2RunResult {
  toy: Dmd2RunSpec['toy'];
  arm: string;
  seed: number;
  wallSeconds: number;
  metrics: Record<string, unknown>;
  curve: { step: number; energyDistance: number }[];
}

export async function runDmd2Arm(s: Dmd2RunSpec): Promise<Dmd2RunResult> {
  const def = PIPELINES[`dmd2-${s.toy}`]!;
  const ir = buildIR(def, s.overrides);
  const summary = await runIR(ir, { seed: s.seed, backend: s.backend, out: s.out, quiet: true, config: { ...s.overrides } });
  return { toy: s.toy, arm: s.arm, seed: s.seed, wallSeconds: summary.wallSeconds, metrics: summary.metrics, curve: summary.energyDistanceByStep };
}
