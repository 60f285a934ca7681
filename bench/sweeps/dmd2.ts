/**
 * @file `distillery bench dmd2` (docs/methods/dmd.md): DMD2's parts one at a time on the ring and the grid — the
 * recipe before them (base), a floor under DMD's normaliser, the SNR-weighted fake loss, the GAN head, EMA, a student
 * that can form sharp maps (capacity), decaying learning rates, the defaults, all of them, and a 4-step student
 * trained by backward simulation — each over seeds.
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { RunFolder } from '../../runtime/files.ts';
import { UserError } from '../../dsl/errors.ts';
import { runPool } from './pool.ts';
import { meanStd } from './measure.ts';
import { overlay, renderChart } from '../../runtime/report/charts.ts';
import type { Dmd2RunResult, Dmd2RunSpec } from './dmd2-run.ts';
import { GRID_DEFAULTS } from '../../pipelines/dmd2.ts';

const TOYS = ['ring', 'grid'] as const;

/** every arm sets each option it depends on, so that changing a pipeline default changes no arm */
const BASE = { layers: 2, normFloor: 0, normalizer: 'sample', fakeWeighting: 'none', ganGenerator: 0, ema: 0, lrDecay: 'none', studentSteps: 1, studentPrefit: 0, lrStudent: 3e-4 };
const CAPACITY = { layers: 3, fourier: 8 };
const DECAY = { lrDecay: 'cosine', lrDecayStart: 0.5, lrFinal: 0.1 };
/** a 4-step student trained by backward simulation with fresh noise, pre-fitted to the teacher on its ladder */
const K4 = { studentSteps: 4, studentPrefit: 1000, studentRenoise: 'fresh' };
/** the pipelines' defaults: capacity, DMD's normaliser over the batch with a floor, the learning rates' decay */
const DEFAULT = { ...BASE, ...CAPACITY, normFloor: 0.05, normalizer: 'batch', ...DECAY };
/** the ring's student had no Fourier features before, the grid's 4 */
const both = (o: object) => ({ ring: { fourier: 0, ...o }, grid: { fourier: 4, ...o } });
export const DMD2_ARMS: Record<string, { describe: string; ring: object; grid: object }> = {
  base: { describe: 'the recipe before this bench: 2 hidden layers, no floor, no SNR weighting, no GAN, no EMA', ...both(BASE) },
  floor: { describe: "+ a floor of 0.05 under DMD's per-sample normaliser", ...both({ ...BASE, normFloor: 0.05 }) },
  snr: { describe: "+ the fake score's x0 errors weighted by 1 + α²/σ²", ...both({ ...BASE, fakeWeighting: 'snr' }) },
  gan: { describe: '+ the GAN head (generator weight 0.1, discriminator 1)', ...both({ ...BASE, ganGenerator: 0.1 }) },
  ema: { describe: "+ EMA 0.999 of the student's weights", ...both({ ...BASE, ema: 0.999 }) },
  capacity: { describe: "+ 3 hidden layers and 8 Fourier features of the student's noise input", ...both({ ...BASE, ...CAPACITY }) },
  decay: { describe: '+ every learning rate decayed along a cosine from half the steps to 0.1 of its start', ...both({ ...BASE, ...DECAY }) },
  default: {
    describe: "capacity + floor + batch normaliser + decay: the defaults of dmd2-ring; dmd2-grid's add its 4-step student (as k4)",
    ring: { ...DEFAULT },
    grid: { ...DEFAULT, ...K4, steps: GRID_DEFAULTS.steps },
  },
  all: { describe: 'the defaults + SNR weighting + GAN + EMA', ...both({ ...DEFAULT, fakeWeighting: 'snr', ganGenerator: 0.1, ema: 0.999 }) },
  k4: { describe: '4-step student, backward simulation with fresh noise between rungs (DMD2), prefit to the teacher on its ladder, and the defaults', ...both({ ...DEFAULT, ...K4 }) },
};

export interface Dmd2BenchOptions {
  seeds: number;
  quick: boolean;
  out: string;
  backend: string;
  arms?: string[];
  toys?: string[];
  parallel?: number;
  /** steps and evaluation interval of every run (default: the pipelines' own; --quick: 1000 and 250) */
  budget?: { steps: number; evalEvery: number };
  log?: (l: string) => void;
}

type Stat = { mean: number; std: number; perSeed: number[] };
const stat = (v: number[]): Stat => ({ ...meanStd(v), perSeed: v });
const num = (m: Record<string, unknown>, k: string) => (typeof m[k] === 'number' ? (m[k] as number) : NaN);

export async function benchDmd2(o: Dmd2BenchOptions): Promise<string[]> {
  const arms = o.arms ?? Object.keys(DMD2_ARMS);
  const toys = o.toys ?? [...TOYS];
  for (const a of arms) if (!DMD2_ARMS[a]) throw new UserError(`unknown arm '${a}'; choose ${Object.keys(DMD2_ARMS).join(', ')}`);
  for (const t of toys) if (!(TOYS as readonly string[]).includes(t)) throw new UserError(`unknown toy '${t}'; choose ${TOYS.join(', ')}`);
  const folder = new RunFolder(o.out);
  const t0 = performance.now();
  try {
    const budget = o.budget ?? (o.quick ? { steps: 1000, evalEvery: 250 } : {});
    const jobs: Dmd2RunSpec[] = [];
    for (let seed = 1; seed <= o.seeds; seed++)
      for (const toy of toys)
        for (const arm of arms)
          jobs.push({ toy: toy as Dmd2RunSpec['toy'], arm, seed, overrides: { ...DMD2_ARMS[arm]![toy as 'ring' | 'grid'], ...budget }, backend: o.backend, out: folder.subfolder(`runs/${toy}-${arm}-seed${seed}`) });
    const results = await runPool<Dmd2RunSpec, Dmd2RunResult>(fileURLToPath(new URL('./dmd2-run.ts', import.meta.url)), 'runDmd2Arm', jobs, {
      ...(o.parallel ? { parallel: o.parallel } : {}),
      onResult: (r) =>
        o.log?.(`${r.toy} ${r.arm} seed ${r.seed}: energy distance ${num(r.metrics, 'energyDistance').toFixed(4)}, off-mode ${(100 * num(r.metrics, 'offModeFraction')).toFixed(1)}%, modes ${r.metrics.modesCovered}/${r.metrics.modesTotal}, beats ${r.metrics.beatsTeacherEulerSteps ?? 0}-step Euler (${r.wallSeconds.toFixed(0)} s)`),
    });
    const rows = toys.flatMap((toy) =>
      arms.map((arm) => {
        const runs = results.filter((r) => r.toy === toy && r.arm === arm).sort((a, b) => a.seed - b.seed);
        const m = (k: string) => stat(runs.map((r) => num(r.metrics, k)));
        return {
          toy,
          arm,
          describe: DMD2_ARMS[arm]!.describe,
          options: DMD2_ARMS[arm]![toy as 'ring' | 'grid'],
          energyDistance: m('energyDistance'),
          offModeFraction: m('offModeFraction'),
          modesCovered: m('modesCovered'),
          modesWithinFactor2: m('modesWithinFactor2'),
          modesTotal: num(runs[0]!.metrics, 'modesTotal'),
          minModeMassRatio: m('minModeMassRatio'),
          beatsTeacherEulerSteps: runs.map((r) => (r.metrics.beatsTeacherEulerSteps as number | null) ?? 0),
          wallSeconds: stat(runs.map((r) => r.wallSeconds)),
          teacherEuler: runs[0]!.metrics.teacherEnergyDistanceByNfe as Record<string, number>,
          curves: runs.map((r) => r.curve),
        };
      }),
    );
    const wallSeconds = (performance.now() - t0) / 1000;
    const json = { bench: 'dmd2', quick: o.quick, seeds: o.seeds, backend: o.backend, parallel: o.parallel ?? null, budget, wallSeconds, rows };
    folder.write('results.json', JSON.stringify(json, null, 1));
    folder.write('results.md', markdown(json));
    for (const toy of toys) {
      const series = rows
        .filter((r) => r.toy === toy)
        .map((r) => ({ name: r.arm, points: r.curves[0]!.map((p, i) => ({ x: p.step, y: meanStd(r.curves.map((c) => c[i]?.energyDistance ?? NaN)).mean })) }));
      const chart = await renderChart(overlay(`dmd2-${toy}: energy distance vs step (mean over ${o.seeds} seed(s))`, series, { x: 'step', y: 'energy distance', log: true, points: true }));
      folder.write(`${toy}-energy-vs-step.png`, chart.png);
      folder.write(`${toy}-energy-vs-step.svg`, chart.svg);
      // each arm's seed-1 samples beside the others
      for (const arm of arms) {
        const job = jobs.find((j) => j.toy === toy && j.arm === arm && j.seed === 1);
        const png = job && path.join(job.out, 'samples.png');
        if (png && fs.existsSync(png)) folder.write(`samples-${toy}-${arm}.png`, fs.readFileSync(png));
      }
    }
    return folder.commit();
  } catch (e) {
    folder.discard();
    throw e;
  }
}

function markdown(r: { quick: boolean; seeds: number; backend: string; wallSeconds: number; budget: object; rows: { toy: string; arm: string; describe: string; energyDistance: Stat; offModeFraction: Stat; modesCovered: Stat; modesWithinFactor2: Stat; modesTotal: number; minModeMassRatio: Stat; beatsTeacherEulerSteps: number[]; wallSeconds: Stat; teacherEuler: Record<string, number> }[] }): string {
  const f = (m: Stat, dp = 4) => `${m.mean.toFixed(dp)} ± ${m.std.toFixed(dp)}`;
  const seeds = (m: Stat, dp = 4) => m.perSeed.map((v) => v.toFixed(dp)).join(' / ');
  const lines = [`# DMD2 bench${r.quick ? ' (--quick)' : ''}`, '', `${r.seeds} seed(s), backend ${r.backend}; budget ${JSON.stringify(r.budget) === '{}' ? "the pipelines' own" : JSON.stringify(r.budget)}; wall time ${r.wallSeconds.toFixed(0)} s. Mean ± std over seeds, then the value per seed.`, ''];
  for (const toy of [...new Set(r.rows.map((x) => x.toy))]) {
    const rows = r.rows.filter((x) => x.toy === toy);
    const t = rows[0]!.teacherEuler;
    lines.push(`## dmd2-${toy}`, '', `Teacher's Euler sampler (seed 1): ${Object.entries(t).map(([n, v]) => `${n} steps ${v.toFixed(4)}`).join(', ')}.`, '');
    lines.push('| arm | energy distance | per seed | off-mode | per seed | modes covered | within 2× | emptiest mode ratio | beats Euler (steps, per seed) | wall s |', '|---|---|---|---|---|---|---|---|---|---|');
    for (const x of rows)
      lines.push(`| ${x.arm} | ${f(x.energyDistance)} | ${seeds(x.energyDistance)} | ${(100 * x.offModeFraction.mean).toFixed(1)}% | ${x.offModeFraction.perSeed.map((v) => `${(100 * v).toFixed(1)}%`).join(' / ')} | ${seeds(x.modesCovered, 0)} of ${x.modesTotal} | ${seeds(x.modesWithinFactor2, 0)} | ${seeds(x.minModeMassRatio, 2)} | ${x.beatsTeacherEulerSteps.join(' / ')} | ${seeds(x.wallSeconds, 0)} |`);
    lines.push('', ...rows.map((x) => `- **${x.arm}**: ${x.describe}`), '');
  }
  lines.push('Plots: `<toy>-energy-vs-step.png|svg`; samples of seed 1 per arm: `samples-<toy>-<arm>.png`; every run folder under `runs/`.', '');
  return lines.join('\n');
}
