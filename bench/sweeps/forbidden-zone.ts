/**
 * @file `distillery bench forbidden-zone`: every arm of docs/methods/amd.md on the same budget and seeds, one child
 * process per run (as many at once as there are cores), then results.json, results.md and the plots.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { UserError } from '../../dsl/errors.ts';
import { runPool } from './pool.ts';
import { meanStd } from './measure.ts';
import { RunFolder } from '../../runtime/files.ts';
import { lineChart, scatterOverDensity } from '../../runtime/sinks/plot.ts';
import { FZ_OMEGA, FZ_REGION, forbiddenZone, fzRing, type FzConfig } from '../../pipelines/forbidden-zone.ts';
import { resolveConfig } from '../../dsl/pipeline.ts';
import { AMD_DEFAULTS } from '../../dsl/objectives/amd.ts';
import type { FzRunResult, FzRunSpec, runFzTrap } from './fz-run.ts';
import type { FzMetrics } from './fz-metrics.ts';

/** the soft reward, with ρ's ã unclipped below: the setting in which RLS can tell a deep sample of R from a shallow one */
const SOFT: Partial<FzConfig> = { reward: 'soft', temperature: 15, rlsClip: 10 };

export interface FzArm {
  arm: string;
  label: string;
  overrides: Partial<FzConfig>;
  color: [number, number, number];
}

export const FZ_ARMS: FzArm[] = [
  { arm: 'dmd', label: 'DMD (1:1, no anchors)', overrides: { method: 'dmd' }, color: [120, 120, 120] },
  { arm: 'dmd2', label: 'DMD2 (5:1)', overrides: { method: 'dmd2' }, color: [0, 0, 0] },
  { arm: 'amd-dsa', label: 'AMD-DSA (s 0.5, λ_rls 0)', overrides: { method: 'amd', lambdaRls: 0 }, color: [30, 100, 220] },
  { arm: 'amd-rls', label: 'AMD-RLS (s 0, λ_rls 1), clipped reward', overrides: { method: 'amd', s: 0 }, color: [230, 140, 0] },
  { arm: 'amd', label: 'AMD (DSA + RLS)', overrides: { method: 'amd' }, color: [210, 30, 30] },
  { arm: 'amd-permuted', label: 'AMD, permuted ã (control)', overrides: { method: 'amd', permute: true }, color: [40, 160, 60] },
  ...([0.5, 1, 2, 5] as const).map((l, i): FzArm => ({
    arm: `rls-soft-${l}`,
    label: `RLS (s 0, λ_rls ${l}), soft reward`,
    overrides: { method: 'amd', s: 0, lambdaRls: l, ...SOFT },
    color: [255, 200 - 45 * i, 0],
  })),
  ...([2, 5] as const).map((l): FzArm => ({
    arm: `rls-clipped-${l}`,
    label: `RLS (s 0, λ_rls ${l}), clipped reward (control: ρ flat in R)`,
    overrides: { method: 'amd', s: 0, lambdaRls: l },
    color: [120, 60, 0],
  })),
  { arm: 'rls-soft-beta', label: 'RLS ρ = β (s 0.5, DSA off), soft reward', overrides: { method: 'amd', dsa: 'off', s: 0.5, rls: 'beta', ...SOFT }, color: [150, 80, 0] },
  { arm: 'dsa-alpha', label: 'DSA α only (s 0.5, β = 1, λ_rls 0), soft reward', overrides: { method: 'amd', dsa: 'alpha', lambdaRls: 0, ...SOFT }, color: [80, 160, 255] },
  { arm: 'dsa-beta', label: 'DSA β only (s 0.5, α = 1, λ_rls 0), soft reward', overrides: { method: 'amd', dsa: 'beta', lambdaRls: 0, ...SOFT }, color: [0, 40, 140] },
  { arm: 'dmd2-matched', label: 'DMD2 at ω 4.2 (≈ the α-moving arms’ average guidance)', overrides: { method: 'dmd2', omega: 4.2 }, color: [90, 90, 90] },
  { arm: 'reward-grad', label: 'DMD2 + reward gradient (λ_r 0.05), soft reward', overrides: { method: 'dmd2', lambdaReward: 0.05, ...SOFT }, color: [200, 0, 200] },
];

/** what `bench forbidden-zone` runs without --arms: DMD2, the RLS sweep and its β form, the DSA ablations, DMD2 at their
 * average guidance, the reward-gradient baseline */
export const FZ_DEFAULT_ARMS = ['dmd2', 'rls-soft-0.5', 'rls-soft-1', 'rls-soft-2', 'rls-soft-5', 'rls-soft-beta', 'dsa-alpha', 'dsa-beta', 'dmd2-matched', 'reward-grad'];

export interface FzBenchOptions {
  seeds: number;
  quick: boolean;
  out: string;
  backend: string;
  /** runs at once (default: one per core) */
  parallel?: number;
  /** arm names (default FZ_DEFAULT_ARMS) */
  arms?: string[];
  /** student steps per run (default: the budget's) */
  steps?: number;
  /** seeds are firstSeed … firstSeed + seeds − 1 (default 1), so that a long sweep can be split over invocations */
  firstSeed?: number;
  /** options of the toy set for every arm and the trap pre-training (e.g. `teacher: 'attractor', tc: 0.9`); a key an
   * arm or the bench sets itself is refused */
  sets?: Partial<FzConfig>;
  log?: (line: string) => void;
}

/** the per-run budget: generator steps, warm-ups, evaluation size */
export function fzBudget(quick: boolean): Partial<FzConfig> & { evalSamples: number } {
  // the 'mode' teacher: its trap holds under DMD2 (the attractor's leaks out within the budget; docs/methods/amd.md)
  return quick
    ? { steps: 150, evalEvery: 50, trapSteps: 300, fakeWarmup: 100, teacher: 'mode', evalSamples: 1024 }
    : { steps: 5000, evalEvery: 250, trapSteps: 1000, fakeWarmup: 300, teacher: 'mode', evalSamples: 2048 };
}

/** the arms by name, each checked */
export function fzArms(names: string[] = FZ_DEFAULT_ARMS): FzArm[] {
  return names.map((n) => {
    const a = FZ_ARMS.find((x) => x.arm === n);
    if (!a) throw new UserError(`unknown forbidden-zone arm '${n}'; choose from ${FZ_ARMS.map((x) => x.arm).join(', ')}`);
    return a;
  });
}

/** options the bench decides itself, refused in `--set` with the way to get them */
const BENCH_OWNS: Record<string, string> = {
  init: "every arm starts from the seed's shared trapped student (the trap's own options, e.g. trapSteps, can be set)",
  steps: 'use --steps (it also spaces the measurements)',
  evalEvery: 'the bench measures every steps/20 (use --steps)',
};

const KEYS: (keyof FzMetrics)[] = ['trappedMass', 'energyDistance', 'modesCovered', 'meanLogDensity', 'modeEntropy', 'withinModeSpread', 'auroc', 'meanAdvantage', 'zoneRhoSpread'];

export async function benchForbiddenZone(o: FzBenchOptions): Promise<string[]> {
  const log = o.log ?? (() => {});
  const folder = new RunFolder(o.out);
  const t0 = performance.now();
  try {
    const arms = fzArms(o.arms);
    const sets = o.sets ?? {};
    for (const key of Object.keys(sets)) {
      if (key in BENCH_OWNS) throw new UserError(`--set ${key}: ${BENCH_OWNS[key]}`);
      const owner = arms.find((a) => key in a.overrides);
      if (owner) throw new UserError(`--set ${key}: arm '${owner.arm}' sets '${key}' itself; choose the arms that vary it instead`);
    }
    const { evalSamples, ...base } = fzBudget(o.quick);
    const budget = { ...base, ...(o.steps ? { steps: o.steps, evalEvery: Math.max(50, Math.round(o.steps / 20)) } : {}), ...sets };
    const resolved = resolveConfig(forbiddenZone, budget, '--set'); // a bad value fails here, before any run starts
    const module = fileURLToPath(new URL('./fz-run.ts', import.meta.url));
    const pool = o.parallel ? { parallel: o.parallel } : {};
    // the trap pre-training once per seed, shared by every arm (all start from the same trapped student)
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'distillery-fz-trap-'));
    let results: FzRunResult[];
    let trapSeconds: number[];
    try {
      const seeds = [...Array(o.seeds).keys()].map((i) => i + (o.firstSeed ?? 1));
      const traps = await runPool<Parameters<typeof runFzTrap>[0], Awaited<ReturnType<typeof runFzTrap>>>(
        module,
        'runFzTrap',
        seeds.map((seed) => ({ seed, overrides: budget, backend: o.backend, out: path.join(tmp, `student-${seed}.safetensors`) })),
        { ...pool, onResult: (r) => log(`trap pre-training, seed ${r.seed} (${r.wallSeconds.toFixed(0)} s)`) },
      );
      trapSeconds = traps.map((t) => t.wallSeconds);
      const jobs: FzRunSpec[] = [];
      for (const seed of seeds)
        for (const a of arms) jobs.push({ arm: a.arm, seed, overrides: { ...budget, ...a.overrides }, evalSamples, backend: o.backend, studentInit: path.join(tmp, `student-${seed}.safetensors`) });
      results = await runPool<FzRunSpec, FzRunResult>(module, 'runFzArm', jobs, {
        ...pool,
        onResult: (r) =>
          log(`${r.arm} seed ${r.seed}: trapped mass ${(r.final.trappedMass * 100).toFixed(1)}%, energy distance ${r.final.energyDistance.toFixed(4)}, modes ${r.final.modesCovered}/8, spread ${r.final.withinModeSpread.toFixed(2)} (${r.wallSeconds.toFixed(0)} s)`),
      });
    } finally {
      fs.rmSync(tmp, { recursive: true, force: true });
    }
    const wallSeconds = (performance.now() - t0) / 1000;
    const byArm = arms.map((a) => ({ ...a, runs: results.filter((r) => r.arm === a.arm).sort((x, y) => x.seed - y.seed) }));
    const summary = Object.fromEntries(
      byArm.map((a) => [
        a.arm,
        {
          label: a.label,
          overrides: a.overrides,
          perSeed: Object.fromEntries(KEYS.map((k) => [k, a.runs.map((r) => r.final[k])])),
          runSeconds: a.runs.map((r) => r.wallSeconds),
          escapeStep: a.runs.map((r) => r.escapeStep),
          initialZoneRhoSpread: meanStd(a.runs.map((r) => r.curve[0]!.zoneRhoSpread).filter((v): v is number => v !== null)),
          averageGuidance: meanStd(a.runs.map((r) => averageGuidance({ ...sets, ...a.overrides }, r.curve))),
          initialTrappedMass: a.runs.map((r) => r.curve[0]!.trappedMass),
          ...Object.fromEntries(KEYS.map((k) => [k, meanStd(a.runs.map((r) => r.final[k]).filter((v): v is number => v !== null && !Number.isNaN(v)))])),
          curve: a.runs.map((r) => r.curve.map((p) => ({ step: p.step, trappedMass: p.trappedMass, energyDistance: p.energyDistance, modesCovered: p.modesCovered, withinModeSpread: p.withinModeSpread }))),
        },
      ]),
    );
    const dmd2 = byArm.find((a) => a.arm === 'dmd2')?.runs.map((r) => r.final.trappedMass) ?? [];
    const results_json = {
      bench: 'forbidden-zone',
      quick: o.quick,
      seeds: o.seeds,
      firstSeed: o.firstSeed ?? 1,
      backend: o.backend,
      budget: { ...budget, evalSamples, ratio: resolved.ratio, batch: resolved.batch, omega: resolved.omega },
      wallSeconds,
      trapSeconds,
      calibration: dmd2.length ? { dmd2TrappedMass: meanStd(dmd2).mean, dmd2TrappedMassPerSeed: dmd2, holds: meanStd(dmd2).mean >= 0.2 } : null,
      methods: summary,
    };
    folder.write('results.json', JSON.stringify(results_json, null, 1));

    for (const a of byArm) {
      const r = a.runs[0]!;
      const colors = (i: number) => (r.labels[i] === 0 ? ([220, 40, 30] as const) : ([40, 40, 40] as const));
      folder.write(`samples-${a.arm}.png`, scatterOverDensity(fzRing.spec, Float32Array.from(r.samples), { circles: [FZ_REGION], colors, extent: 5.5 }));
    }
    const series = byArm.map((a) => ({
      color: a.color,
      points: a.runs[0]!.curve.map((p, i) => [p.step, a.runs.reduce((s, r) => s + r.curve[i]!.trappedMass, 0) / a.runs.length] as [number, number]),
    }));
    const yMax = Math.max(0.05, ...series.flatMap((s) => s.points.map((p) => p[1])));
    folder.write('trapped-mass.png', lineChart(series, { yMax }));
    folder.write('results.md', resultsMarkdown(results_json, byArm, yMax));
    return folder.commit();
  } catch (e) {
    folder.discard();
    throw e;
  }
}

type Results = { quick: boolean; seeds: number; wallSeconds: number; budget: object; calibration: { dmd2TrappedMass: number; holds: boolean } | null; methods: Record<string, any> };

const fmt = (m: { mean: number; std: number }, d = 3, pct = false) => (pct ? `${(m.mean * 100).toFixed(1)} ± ${(m.std * 100).toFixed(1)}%` : `${m.mean.toFixed(d)} ± ${m.std.toFixed(d)}`);
const fmtOrDash = (m: { mean: number; std: number }, d: number) => (m.mean === undefined || Number.isNaN(m.mean) ? '—' : fmt(m, d));

/**
 * DSA's average guidance over a run: ω_eff = 1 + ᾱ(ω − 1) with ᾱ = 1 + s·mean ã, averaged over the measurements
 * (ᾱ = 1 when α does not move: DMD, DMD2, RLS alone, β-only). An arm is compared with DMD2 at matched guidance
 * when its ω_eff is ω.
 */
export function averageGuidance(overrides: Partial<FzConfig>, curve: { meanAdvantage: number | null }[]): number {
  const omega = overrides.omega ?? FZ_OMEGA;
  const alphaMoves = overrides.method === 'amd' && (overrides.dsa ?? 'both') !== 'beta' && overrides.dsa !== 'off' && overrides.tau === undefined;
  if (!alphaMoves) return omega;
  const s = overrides.s ?? AMD_DEFAULTS.s;
  const meanAdv = curve.reduce((a, p) => a + (p.meanAdvantage ?? 0), 0) / curve.length;
  return 1 + (1 + s * meanAdv) * (omega - 1);
}

function resultsMarkdown(r: Results, arms: { arm: string; label: string; color: number[] }[], yMax: number): string {
  const rows = arms.map((a) => {
    const m = r.methods[a.arm];
    const esc = (m.escapeStep as (number | null)[]).map((s) => (s === null ? '—' : String(s))).join(', ');
    return `| ${a.label} | ${fmt(m.trappedMass, 3, true)} | ${esc} | ${fmt(m.modesCovered, 2)} | ${fmt(m.withinModeSpread, 2)} | ${fmt(m.energyDistance, 4)} | ${fmt(m.meanLogDensity, 2)} | ${fmt(m.modeEntropy, 3)} | ${fmtOrDash(m.initialZoneRhoSpread, 3)} | ${fmt(m.averageGuidance, 2)} | ${fmtOrDash(m.auroc, 2)} |`;
  });
  const perSeed = arms.map((a) => {
    const m = r.methods[a.arm];
    const col = (k: string, f: (v: number) => string) => (m.perSeed[k] as number[]).map(f).join(' / ');
    return `| ${a.arm} | ${col('trappedMass', (v) => (v * 100).toFixed(1))} | ${col('modesCovered', String)} | ${col('withinModeSpread', (v) => v.toFixed(2))} | ${col('energyDistance', (v) => v.toFixed(4))} |`;
  });
  return [
    `# forbidden-zone bench${r.quick ? ' (--quick)' : ''}`,
    '',
    `${r.seeds} seed(s); budget ${JSON.stringify(r.budget)}; wall time ${r.wallSeconds.toFixed(0)} s.`,
    '',
    r.calibration
      ? `Calibration: DMD2 keeps ${(r.calibration.dmd2TrappedMass * 100).toFixed(1)}% of class-0 mass in R (${r.calibration.holds ? 'holds: ≥ 20%' : 'FAILS: < 20%'}).`
      : 'Calibration: not checked (no DMD2 arm).',
    '',
    'Mean ± std over seeds at the last step. Trapped mass: class-0 samples in R. Escape: first measured step with trapped mass < 1% (per seed; — never).',
    'Modes: of 8, those holding ≥ 50% of their share within 3σ. Spread: within-mode std / σ (1 is the data). Both measure the blur cost.',
    'Energy distance to the true p(x|c), averaged over classes. Entropy in nats (ln 4 = 1.386 at most). ρ spread in R: std/mean of the RLS weight over',
    'the trapped samples after the warm-up (0: RLS cannot tell deep from shallow). ω_eff: average guidance 1 + ᾱ(ω − 1) over the run. AUROC of −ã for x ∈ R.',
    '',
    '| method | trapped mass | escape step | modes | spread | energy distance | mean log p(x\\|c) | mode entropy | ρ spread in R | ω_eff | AUROC |',
    '|---|---|---|---|---|---|---|---|---|---|---|',
    ...rows,
    '',
    'Per seed (seed 1 / 2 / …): trapped mass %, modes, spread, energy distance.',
    '',
    '| arm | trapped mass | modes | spread | energy distance |',
    '|---|---|---|---|---|',
    ...perSeed,
    '',
    `Plots: \`samples-<method>.png\` (seed 1: class 0 red, class 1 black, R drawn as a circle), \`trapped-mass.png\` (mean over seeds vs step; x from 0 to the last step, y from 0 to ${(yMax * 100).toFixed(1)}%, grid lines at tenths; colours: ` +
      arms.map((a) => `${a.arm} rgb(${a.color.join(',')})`).join(', ') +
      ').',
    '',
  ].join('\n');
}
