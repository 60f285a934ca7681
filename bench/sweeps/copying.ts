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
import type { CopyingConfig } from '../../pipelines/copying.ts';
import type { CopyingPoint, CopyingRunResult, CopyingRunSpec } from './copying-run.ts';

export const COPYING_ARMS: { arm: string; label: string; overrides: Partial<CopyingConfig>; color: [number, number, number] }[] = [
  { arm: 'teacher-init', label: 'DMD2, student from the teacher, 5:1', overrides: { init: 'teacher', ratio: 5 }, color: [210, 30, 30] },
  { arm: 'random-init', label: 'DMD2, random student, 5:1', overrides: { init: 'random', ratio: 5 }, color: [30, 100, 220] },
  { arm: 'ratio-1', label: 'DMD2, student from the teacher, 1:1', overrides: { init: 'teacher', ratio: 1 }, color: [230, 140, 0] },
  { arm: 'dmd-regression', label: 'DMD + regression λ 0.25 (positive control), 1:1', overrides: { init: 'teacher', ratio: 1, regression: 0.25 }, color: [40, 40, 40] },
  { arm: 'dmd-regression-5', label: 'DMD + regression λ 0.25, 5:1 (the control without the 1:1 instability)', overrides: { init: 'teacher', ratio: 5, regression: 0.25 }, color: [150, 60, 200] },
  { arm: 'f2-teacher-init', label: 'DMD2 on F2 (the ring embedded in R^d), student from the teacher, 5:1', overrides: { data: 'ring', init: 'teacher', ratio: 5 }, color: [20, 160, 80] },
];

export const DEFAULT_DIMS = [2, 4, 8, 16, 32, 64, 128];

export function copyingBudget(quick: boolean): Partial<CopyingConfig> & { evalSamples: number } {
  return quick ? { steps: 100, evalEvery: 50, prefitSteps: 200, fakeWarmup: 100, evalSamples: 512 } : { steps: 400, evalEvery: 100, prefitSteps: 500, fakeWarmup: 300, evalSamples: 1024 };
}

const KEYS: (keyof CopyingPoint)[] = ['copyingScore', 'dNoise', 'dCopy', 'modeAgreement', 'e1', 'e2Student', 'e2Teacher', 'procrustesResidual', 'energyDistance', 'modeTV'];

export async function benchCopying(o: { dims: number[]; seeds: number; quick: boolean; out: string; backend: string; log?: (l: string) => void }): Promise<string[]> {
  const folder = new RunFolder(o.out);
  const t0 = performance.now();
  try {
    const { evalSamples, ...budget } = copyingBudget(o.quick);
    const jobs: CopyingRunSpec[] = [];
    // the largest dimensions first, so the slowest runs do not finish last on one core
    for (const dim of [...o.dims].sort((a, b) => b - a))
      for (let seed = 1; seed <= o.seeds; seed++) for (const a of COPYING_ARMS) jobs.push({ arm: a.arm, dim, seed, overrides: { ...budget, ...a.overrides }, evalSamples, backend: o.backend });
    const results = await runPool<CopyingRunSpec, CopyingRunResult>(fileURLToPath(new URL('./copying-run.ts', import.meta.url)), 'runCopyingArm', jobs, {
      onResult: (r) =>
        o.log?.(`d ${r.dim} ${r.arm} seed ${r.seed}: copying ${r.final.copyingScore.toFixed(3)} (dNoise ${r.final.dNoise?.toFixed(3)}, dCopy ${r.final.dCopy.toFixed(3)}), energy distance ${r.final.energyDistance.toFixed(4)} vs teacher ${r.teacher.energyDistance.toFixed(4)} (${r.wallSeconds.toFixed(0)} s)`),
    });
    const table = COPYING_ARMS.map((a) => ({
      arm: a.arm,
      label: a.label,
      overrides: a.overrides,
      byDim: Object.fromEntries(
        o.dims.map((dim) => {
          const runs = results.filter((r) => r.arm === a.arm && r.dim === dim).sort((x, y) => x.seed - y.seed);
          const perSeed = Object.fromEntries(KEYS.map((k) => [k, runs.map((r) => r.final[k])]));
          const stats = Object.fromEntries(KEYS.map((k) => [k, meanStd(runs.map((r) => r.final[k]).filter((v): v is number => typeof v === 'number' && Number.isFinite(v)))])) as Record<(typeof KEYS)[number], { mean: number; std: number }>;
          return [dim, { perSeed, ...stats, initialCopyingScore: runs.map((r) => r.curve[0]!.copyingScore), teacherEnergyDistance: runs.map((r) => r.teacher.energyDistance), teacherModeTV: runs.map((r) => r.teacher.modeTV) }];
        }),
      ),
    }));
    const wallSeconds = (performance.now() - t0) / 1000;
    const json = { bench: 'copying', quick: o.quick, seeds: o.seeds, dims: o.dims, backend: o.backend, budget: { ...budget, evalSamples }, wallSeconds, arms: table };
    folder.write('results.json', JSON.stringify(json, null, 1));
    folder.write('results.md', markdown(json));
    // one line per arm: the mean of `key` over seeds against log₂ d
    const curve = (key: keyof CopyingPoint) =>
      COPYING_ARMS.map((a, i) => ({ color: a.color, points: o.dims.map((d) => [Math.log2(d), table[i]!.byDim[d]![key].mean] as [number, number]) }));
    folder.write('copying-vs-dim.png', lineChart(curve('copyingScore'), { yMax: 1 }));
    // dCopy stays meaningful when samples leave the data manifold, where Φ⁻¹ (and so dNoise) blows up
    folder.write('dcopy-vs-dim.png', lineChart(curve('dCopy'), { yMax: 1.2 }));
    return folder.commit();
  } catch (e) {
    folder.discard();
    throw e;
  }
}

function markdown(r: { quick: boolean; seeds: number; dims: number[]; wallSeconds: number; budget: object; arms: { arm: string; label: string; byDim: Record<string, any> }[] }): string {
  const f = (m: { mean: number; std: number }, dp = 3) => (Number.isFinite(m.mean) ? `${m.mean.toFixed(dp)} ± ${m.std.toFixed(dp)}` : '—');
  const lines = [
    `# copying bench${r.quick ? ' (--quick)' : ''}`,
    '',
    `${r.seeds} seed(s), dims ${r.dims.join(', ')}; budget ${JSON.stringify(r.budget)}; wall time ${r.wallSeconds.toFixed(0)} s.`,
    '',
    'Copying score = 1 − dNoise (1: the student reproduces the teacher’s noise→data map; 0: an independent pairing). dCopy: data-space pairing error vs a shuffled pairing.',
    'Energy distance and mode-mass TV measure distribution quality; the teacher’s own sampler on the same noises is the floor. Mean ± std over seeds, last step.',
    '',
  ];
  for (const a of r.arms) {
    lines.push(`## ${a.label}`, '', '| d | copying score | dNoise | dCopy | mode agreement | ΔE₂ student / teacher | energy distance (teacher) | mode TV |', '|---|---|---|---|---|---|---|---|');
    for (const d of r.dims) {
      const m = a.byDim[d];
      const tED = (m.teacherEnergyDistance as number[]).reduce((x, y) => x + y, 0) / m.teacherEnergyDistance.length;
      lines.push(`| ${d} | ${f(m.copyingScore)} | ${f(m.dNoise)} | ${f(m.dCopy)} | ${f(m.modeAgreement, 2)} | ${f(m.e2Student)} / ${f(m.e2Teacher)} | ${f(m.energyDistance, 4)} (${tED.toFixed(4)}) | ${f(m.modeTV)} |`);
    }
    lines.push('');
  }
  lines.push('Plots: `copying-vs-dim.png`, copying score (y, 0 to 1), and `dcopy-vs-dim.png`, dCopy (y, 0 to 1.2), against log₂ d (x, 0 to the largest), grid lines at tenths (colours: ' + COPYING_ARMS.map((a) => `${a.arm} rgb(${a.color.join(',')})`).join(', ') + ').', '');
  return lines.join('\n');
}
