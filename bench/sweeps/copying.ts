/**
 * @file `distillery bench copying`: DMD2 students of an exact teacher across dimensions, in the arms of
 * docs/methods/copying.md — initialised from the teacher or at random, update ratio 5 or 1, and DMD with
 * its regression loss as the positive control. Copying is reported beside distribution quality, so that a student
 * that failed to learn is never read as one that remapped.
 */
import { fileURLToPath } from 'node:url';
import { RunFolder } from '../../runtime/files.ts';
import { lineChart } from '../../runtime/sinks/plot.ts';
import { runPool } from './pool.ts';
import { meanStd } from './measure.ts';
import { UserError } from '../../dsl/errors.ts';
import type { CopyingConfig } from '../../pipelines/copying.ts';
import type { CopyingPoint, CopyingRunResult, CopyingRunSpec } from './copying-run.ts';

export interface CopyingArm {
  arm: string;
  label: string;
  overrides: Partial<CopyingConfig>;
  color: [number, number, number];
}

const LR3 = { lrStudent: 1e-3, lrFake: 1e-3 };
export const COPYING_ARMS: CopyingArm[] = [
  { arm: 'teacher-init', label: 'F1, DMD2, student from the teacher, 5:1', overrides: { init: 'teacher', ratio: 5 }, color: [210, 30, 30] },
  { arm: 'teacher-init-lr1e-3', label: 'F1, as teacher-init at learning rate 1e-3', overrides: { init: 'teacher', ratio: 5, ...LR3 }, color: [240, 150, 150] },
  { arm: 'random-init', label: 'F1, DMD2, random student, 5:1', overrides: { init: 'random', ratio: 5 }, color: [30, 100, 220] },
  { arm: 'ratio-1', label: 'F1, DMD2, student from the teacher, 1:1', overrides: { init: 'teacher', ratio: 1 }, color: [230, 140, 0] },
  { arm: 'dmd-regression-5', label: 'F1, DMD + regression λ 0.25 on (z, Φ(z)), 5:1 (positive control)', overrides: { init: 'teacher', ratio: 5, regression: 0.25 }, color: [150, 60, 200] },
  { arm: 'f2-teacher-init', label: 'F2 (the ring embedded in R^d), DMD2, student from the teacher, 5:1', overrides: { data: 'ring', init: 'teacher', ratio: 5 }, color: [20, 160, 80] },
  { arm: 'f2-teacher-init-lr1e-3', label: 'F2, as f2-teacher-init at learning rate 1e-3', overrides: { data: 'ring', init: 'teacher', ratio: 5, ...LR3 }, color: [140, 220, 160] },
  { arm: 'f2-random-init', label: 'F2, DMD2, random student, 5:1', overrides: { data: 'ring', init: 'random', ratio: 5 }, color: [20, 60, 140] },
  { arm: 'f2-regression-5', label: 'F2, DMD + regression λ 0.25, 5:1 (positive control)', overrides: { data: 'ring', init: 'teacher', ratio: 5, regression: 0.25 }, color: [90, 30, 120] },
  { arm: 'f2-mlp-teacher', label: 'F2, a trained MLP teacher (4000 updates); student and fake start as exact copies of it, 5:1', overrides: { data: 'ring', teacher: 'mlp', init: 'teacher', ratio: 5 }, color: [200, 120, 40] },
  { arm: 'f2-gan', label: 'F2, DMD2 with its GAN head (generator weight 0.1), student from the teacher, 5:1', overrides: { data: 'ring', init: 'teacher', ratio: 5, gan: 0.1 }, color: [100, 100, 100] },
];

export const DEFAULT_DIMS = [2, 4, 8, 16, 32, 64, 128];
/** the decisive check: F2 at low and high d, both learning rates */
export const DEFAULT_COPYING_ARMS = ['f2-teacher-init', 'f2-teacher-init-lr1e-3', 'f2-random-init', 'f2-regression-5', 'teacher-init', 'random-init'];

export function copyingBudget(quick: boolean, steps?: number): Partial<CopyingConfig> & { evalSamples: number; teacherSteps: number; untilFloor?: number } {
  if (quick) return { steps: steps ?? 100, evalEvery: 50, prefitSteps: 200, fakeWarmup: 100, evalSamples: 512, teacherSteps: 300 };
  const cap = steps ?? 2000;
  // every 100 steps up to 1000, then every 250 (the first steps decide whether a student copies or drifts)
  return { steps: cap, evalEvery: cap <= 1000 ? 100 : 250, prefitSteps: 1000, fakeWarmup: 1000, evalSamples: 1024, teacherSteps: 4000, untilFloor: 2 };
}

const KEYS: (keyof CopyingPoint)[] = ['copyingScore', 'dNoise', 'dCopy', 'dCopyInPlane', 'dCopyOffPlane', 'modeAgreement', 'withinModeCorrelation', 'withinModeCorrelationInPlane', 'e1', 'e2Student', 'e2Teacher', 'procrustesResidual', 'energyDistance', 'modeTV', 'spreadRatio', 'modesHalfShare'];

const f3 = (v: number | null | undefined, dp = 3) => (typeof v === 'number' ? v.toFixed(dp) : '—');

export async function benchCopying(o: { dims: number[]; seeds: number; quick: boolean; out: string; backend: string; arms?: string[]; steps?: number; parallel?: number; log?: (l: string) => void }): Promise<string[]> {
  const names = o.arms ?? DEFAULT_COPYING_ARMS;
  const unknown = names.filter((n) => !COPYING_ARMS.some((a) => a.arm === n));
  if (unknown.length) throw new UserError(`unknown copying arm(s) ${unknown.join(', ')}; choose from ${COPYING_ARMS.map((a) => a.arm).join(', ')}`);
  const arms = COPYING_ARMS.filter((a) => names.includes(a.arm));
  const folder = new RunFolder(o.out);
  const t0 = performance.now();
  try {
    const { evalSamples, untilFloor, teacherSteps, ...budget } = copyingBudget(o.quick, o.steps);
    const jobs: CopyingRunSpec[] = [];
    // the largest dimensions first, so the slowest runs do not finish last on one core
    for (const dim of [...o.dims].sort((a, b) => b - a))
      for (let seed = 1; seed <= o.seeds; seed++)
        for (const a of arms) jobs.push({ arm: a.arm, dim, seed, overrides: { ...budget, ...a.overrides }, evalSamples, backend: o.backend, teacherSteps, ...(untilFloor ? { untilFloor } : {}) });
    const results = await runPool<CopyingRunSpec, CopyingRunResult>(fileURLToPath(new URL('./copying-run.ts', import.meta.url)), 'runCopyingArm', jobs, {
      ...(o.parallel ? { parallel: o.parallel } : {}),
      onResult: (r) =>
        o.log?.(
          `d ${r.dim} ${r.arm} seed ${r.seed}: ${r.verdict} at step ${r.stoppedAt}; mode agreement ${f3(r.curve[0]!.modeAgreement, 2)} → ${f3(r.final.modeAgreement, 2)}, ` +
            `dCopy ${f3(r.final.dCopy)} (in-plane ${f3(r.final.dCopyInPlane)}), within-mode correlation ${f3(r.final.withinModeCorrelation, 2)}, ` +
            `energy distance ${r.final.energyDistance.toFixed(4)} (floor ${r.floor.toFixed(4)}) (${r.wallSeconds.toFixed(0)} s)`,
        ),
    });
    const table = arms.map((a) => ({
      arm: a.arm,
      label: a.label,
      overrides: a.overrides,
      byDim: Object.fromEntries(
        o.dims.map((dim) => {
          const runs = results.filter((r) => r.arm === a.arm && r.dim === dim).sort((x, y) => x.seed - y.seed);
          const perSeed = Object.fromEntries(KEYS.map((k) => [k, runs.map((r) => r.final[k])]));
          const stats = Object.fromEntries(KEYS.map((k) => [k, meanStd(runs.map((r) => r.final[k]).filter((v): v is number => typeof v === 'number' && Number.isFinite(v)))])) as Record<(typeof KEYS)[number], { mean: number; std: number }>;
          const initial = Object.fromEntries(KEYS.map((k) => [k, runs.map((r) => r.curve[0]![k])]));
          return [
            dim,
            {
              perSeed,
              ...stats,
              initial,
              verdicts: runs.map((r) => r.verdict),
              initialFlowMap: runs.map((r) => r.initialFlowMap),
              trainedTeacher: runs.map((r) => r.trainedTeacher ?? null),
              stoppedAt: runs.map((r) => r.stoppedAt),
              floor: runs.map((r) => r.floor),
              wallSeconds: runs.map((r) => r.wallSeconds),
              curves: runs.map((r) => r.curve),
              teacherEnergyDistance: runs.map((r) => r.teacher.energyDistance),
              teacherModeTV: runs.map((r) => r.teacher.modeTV),
            },
          ];
        }),
      ),
    }));
    const wallSeconds = (performance.now() - t0) / 1000;
    const json = { bench: 'copying', quick: o.quick, seeds: o.seeds, dims: o.dims, backend: o.backend, parallel: o.parallel ?? null, budget: { ...budget, evalSamples, teacherSteps, untilFloor: untilFloor ?? null }, wallSeconds, arms: table };
    folder.write('results.json', JSON.stringify(json, null, 1));
    folder.write('results.md', markdown(json, arms));
    // one line per arm: the mean of `key` over seeds against log₂ d
    const vsDim = (key: keyof CopyingPoint) =>
      arms.map((a, i) => ({ color: a.color, points: o.dims.map((d) => [Math.log2(d), table[i]!.byDim[d]![key].mean] as [number, number]).filter((p) => Number.isFinite(p[1])) }));
    folder.write('agreement-vs-dim.png', lineChart(vsDim('modeAgreement'), { yMax: 1 }));
    folder.write('dcopy-vs-dim.png', lineChart(vsDim('dCopy'), { yMax: 1.2 }));
    if (arms.some((a) => a.overrides.data === 'ring')) folder.write('dcopy-in-plane-vs-dim.png', lineChart(vsDim('dCopyInPlane'), { yMax: 1.2 }));
    // per dimension, every run's mode agreement against the step: does the student copy from the start, then drift?
    for (const d of o.dims)
      folder.write(
        `agreement-vs-step-d${d}.png`,
        lineChart(
          results.filter((r) => r.dim === d).map((r) => ({ color: arms.find((a) => a.arm === r.arm)!.color, points: r.curve.map((p) => [p.step, p.modeAgreement ?? 0] as [number, number]) })),
          { yMax: 1 },
        ),
      );
    return folder.commit();
  } catch (e) {
    folder.discard();
    throw e;
  }
}

function markdown(r: { quick: boolean; seeds: number; dims: number[]; wallSeconds: number; budget: object; arms: { arm: string; label: string; overrides: Partial<CopyingConfig>; byDim: Record<string, any> }[] }, arms: CopyingArm[]): string {
  const f = (m: { mean: number; std: number }, dp = 3) => (Number.isFinite(m.mean) ? `${m.mean.toFixed(dp)} ± ${m.std.toFixed(dp)}` : '—');
  const seeds = (v: (number | null)[], dp = 2) => v.map((x) => f3(x, dp)).join(' / ');
  const lines = [
    `# copying bench${r.quick ? ' (--quick)' : ''}`,
    '',
    `${r.seeds} seed(s), dims ${r.dims.join(', ')}; budget ${JSON.stringify(r.budget)}; wall time ${r.wallSeconds.toFixed(0)} s.`,
    '',
    '- **verdict**: `collapsed` (fewer than half the modes hold half their share, or the samples spread < ¼ of the teacher’s), `unconverged` (energy distance above 2× the floor at the last step) or `converged`. Only a converged student can be read as copying or remapping.',
    '- **mode agreement**: share of z whose G(z) and Φ(z) fall in the same mode (chance 0.125), per seed at step 0 → at the last step.',
    '- **within-mode correlation**: pooled cosine of G(z) − μ and Φ(z) − μ where both fall in mode μ (1: same place inside the mode; 0: only the mode is shared).',
    '- **dCopy**: E‖G(z) − Φ(z)‖² / E‖G(z) − Φ(πz)‖² (0 copies, ≈ 1 independent); on F2 also its in-plane and off-plane parts (off the plane both carry noise of scale η that no pairing predicts).',
    '- **energy distance** to exact samples, and the floor: max(the teacher’s own samples’, two exact draws’).',
    '- **the initial network’s own flow map**: the student network at step 0 read as a denoiser, its flow map against Φ on the same noises — the pre-fit’s error for an exact teacher, exactly 0 for a copied MLP teacher.',
    '',
  ];
  for (const a of r.arms) {
    const plane = a.overrides.data === 'ring';
    lines.push(
      `## ${a.label} (\`${a.arm}\`)`,
      '',
      `| d | verdict | stopped at | mode agreement, step 0 → last | within-mode correlation${plane ? ' (in-plane)' : ''}, step 0 → last | dCopy${plane ? ' | in-plane | off-plane' : ''} | energy distance (floor) | modes ≥ ½ share | the initial network's own flow map vs Φ: mode agreement, dCopy |`,
      `|---|---|---|---|---|---${plane ? '|---|---' : ''}|---|---|---|`,
    );
    for (const d of r.dims) {
      const m = a.byDim[d];
      const wm = plane ? 'withinModeCorrelationInPlane' : 'withinModeCorrelation';
      const fl = (m.floor as number[]).reduce((x, y) => x + y, 0) / m.floor.length;
      lines.push(
        `| ${d} | ${(m.verdicts as string[]).join(' / ')} | ${(m.stoppedAt as number[]).join(' / ')} | ${seeds(m.initial.modeAgreement)} → ${seeds(m.perSeed.modeAgreement)} | ${seeds(m.initial[wm])} → ${seeds(m.perSeed[wm])} | ${f(m.dCopy)}${plane ? ` | ${f(m.dCopyInPlane)} | ${f(m.dCopyOffPlane)}` : ''} | ${f(m.energyDistance, 4)} (${fl.toFixed(4)}) | ${seeds(m.perSeed.modesHalfShare, 0)} | ${(m.initialFlowMap as { modeAgreement: number | null; dCopy: number }[]).map((x) => `${f3(x.modeAgreement, 2)}, ${f3(x.dCopy)}`).join(' / ')} |`,
      );
    }
    for (const d of r.dims) {
      const t = (a.byDim[d].trainedTeacher as ({ teacherError: number; steps: number } | null)[]).filter((x) => x);
      if (t.length) lines.push(`Trained teacher at d = ${d}: E‖D_θ − D*‖² / E‖D* − x₀‖² after ${t[0]!.steps} updates, per seed ${t.map((x) => x!.teacherError.toFixed(3)).join(' / ')}.`, '');
    }
    lines.push('');
  }
  lines.push(
    'Plots (x from 0 to the largest, y from 0, grid at tenths): `agreement-vs-dim.png` (mode agreement, y to 1), `dcopy-vs-dim.png` and, with F2 arms, `dcopy-in-plane-vs-dim.png` (y to 1.2) against log₂ d; `agreement-vs-step-d<d>.png`, every run’s mode agreement against the step (y to 1). Colours: ' +
      arms.map((a) => `${a.arm} rgb(${a.color.join(',')})`).join(', ') +
      '.',
    '',
  );
  return lines.join('\n');
}
