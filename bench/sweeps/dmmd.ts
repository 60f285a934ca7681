/**
 * @file `distillery bench dmmd` (docs/methods/dmmd.md): on the closed Markov language, the oracle and the learned teacher
 * at N ∈ {1, 2, 4, 8, 16, 32, 64, 256} sampling steps (and the oracle at a low temperature), against D-MMD students
 * of the oracle at k ∈ {1, 2, 4, 8} steps with and without input noise. Every figure is exact against q.
 */
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { UserError } from '../../dsl/errors.ts';
import { RunFolder } from '../../runtime/files.ts';
import { runPool } from './pool.ts';
import { meanStd } from './measure.ts';
import { overlay, renderChart, type Series } from '../../runtime/report/charts.ts';
import { dmmdOptions, type DmmdConfig } from '../../pipelines/dmmd.ts';
import type { DiscreteMetrics } from '../../ops/metrics/discrete.ts';
import type { DmmdRunResult, DmmdRunSpec } from './dmmd-run.ts';

export const TEACHER_STEPS = [1, 2, 4, 8, 16, 32, 64, 256];
export const STUDENT_STEPS = [1, 2, 4, 8];
/** students with the Gaussian input ε, and the ablation without it */
export const DMMD_ARMS = ['noise', 'no-noise'] as const;
export type DmmdArm = (typeof DMMD_ARMS)[number];
const LOW_TEMPERATURE = 0.7;
const KEYS = ['invalidRate', 'tv', 'gm', 'gmAR', 'gmBigram', 'ppl', 'sampleEntropy', 'entropy', 'supportRecall', 'forwardKL'] as const satisfies readonly (keyof DiscreteMetrics)[];

export function dmmdBudget(quick: boolean): { overrides: Partial<DmmdConfig>; evalSamples: number; ks: number[] } {
  return quick
    ? { overrides: { steps: 300, evalEvery: 150, teacherSteps: 500 }, evalSamples: 4096, ks: [1, 4] }
    : { overrides: { steps: 2000, evalEvery: 500, teacherSteps: 2000 }, evalSamples: 16384, ks: STUDENT_STEPS };
}

type Stats = Record<(typeof KEYS)[number], { mean: number; std: number; perSeed: number[] }>;
/** per metric: mean, std and the per-seed values; `gradientMoment` and `entropy` also under the issue's names */
const stats = (ms: DiscreteMetrics[]): Stats => {
  const s = Object.fromEntries(KEYS.map((k) => [k, { ...meanStd(ms.map((m) => m[k])), perSeed: ms.map((m) => m[k]) }])) as Stats;
  return Object.assign(s, { gradientMoment: s.gm });
};

/**
 * The teacher tables of an earlier results.json of this bench, instead of running the teacher jobs again: no
 * student option reaches them (the oracle's samplers, the learned teacher's CE training). Its budget must match and
 * it must hold at least `seeds` seeds; the statistics are recomputed over the first `seeds`.
 */
function priorTeachers(file: string, seeds: number, ladder: number[], budget: object): { table: Record<string, Record<string, Stats>>; dataTvFloor: number[] } {
  let r: { bench?: string; seeds?: number; budget?: Record<string, unknown>; teachers?: Record<string, Record<string, Stats>>; dataTvFloor?: number[] };
  try {
    r = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (e) {
    throw new UserError(`--teachers-from ${file}: cannot read it as JSON (${(e as Error).message})`);
  }
  if (r.bench !== 'dmmd' || !r.teachers || !r.dataTvFloor) throw new UserError(`--teachers-from ${file}: not a results.json of the dmmd bench`);
  if ((r.seeds ?? 0) < seeds) throw new UserError(`--teachers-from ${file}: holds ${r.seeds} seed(s), ${seeds} asked`);
  for (const [key, want] of Object.entries(budget))
    if (key !== 'steps' && key !== 'evalEvery' && r.budget?.[key] !== want) throw new UserError(`--teachers-from ${file}: its ${key} is ${r.budget?.[key]}, this bench's ${want}`);
  const table = Object.fromEntries(
    Object.entries(r.teachers).map(([sampler, byN]) => [
      sampler,
      Object.fromEntries(
        ladder.map((n) => {
          const m = byN[String(n)];
          if (!m) throw new UserError(`--teachers-from ${file}: no ${sampler} teacher at N = ${n}`);
          return [n, stats(m.invalidRate.perSeed.slice(0, seeds).map((_, i) => Object.fromEntries(KEYS.map((k) => [k, m[k].perSeed[i]!])) as unknown as DiscreteMetrics))];
        }),
      ),
    ]),
  );
  return { table, dataTvFloor: r.dataTvFloor.slice(0, seeds) };
}

/** `ks`, `arms`: a subset of the students (default all); `parallel`: runs at once (default one per core);
 * `teachersFrom`: an earlier results.json whose teacher tables are reused (priorTeachers) */
export async function benchDmmd(o: { seeds: number; quick: boolean; out: string; backend: string; ks?: number[]; arms?: DmmdArm[]; parallel?: number; teachersFrom?: string; log?: (l: string) => void }): Promise<string[]> {
  const folder = new RunFolder(o.out);
  const t0 = performance.now();
  try {
    const budget = dmmdBudget(o.quick);
    const { overrides, evalSamples } = budget;
    const ks = o.ks ?? budget.ks;
    const noises = (o.arms ?? DMMD_ARMS).map((a) => (a === 'noise' ? 16 : 0));
    const ladder = o.quick ? [1, 2, 4, 8, 16, 64] : TEACHER_STEPS;
    const prior = o.teachersFrom ? priorTeachers(o.teachersFrom, o.seeds, ladder, { ...overrides, evalSamples }) : undefined;
    const jobs: DmmdRunSpec[] = [];
    for (let seed = 1; seed <= o.seeds; seed++) {
      // the long jobs first: students at the largest k, and the teachers (their ladder reaches 256 steps)
      for (const k of [...ks].sort((a, b) => b - a))
        for (const noise of noises) jobs.push({ job: 'student', arm: `k${k}${noise ? '' : '-no-noise'}`, seed, overrides: { ...overrides, k, noise }, evalSamples, backend: o.backend });
      if (!prior) jobs.splice(seed === 1 ? 1 : jobs.length, 0, { job: 'teachers', arm: 'teachers', seed, overrides, evalSamples, backend: o.backend, ladder, lowTemperature: LOW_TEMPERATURE });
    }
    const results = await runPool<DmmdRunSpec, DmmdRunResult>(fileURLToPath(new URL('./dmmd-run.ts', import.meta.url)), 'runDmmdArm', jobs, {
      ...(o.parallel ? { parallel: o.parallel } : {}),
      onResult: (r) =>
        o.log?.(
          r.job === 'teachers'
            ? `teachers seed ${r.seed}: oracle invalid ${TEACHER_N(r, 'oracle', 4)} at 4 steps, learned ${TEACHER_N(r, 'learned', 4)} (${r.wallSeconds.toFixed(0)} s)`
            : `${r.arm} seed ${r.seed}: invalid ${r.final!.invalidRate.toFixed(3)} (start ${r.curve![0]!.invalidRate.toFixed(3)}), tv ${r.final!.tv.toFixed(3)}, GM ${r.final!.gm.toFixed(4)}, recall ${r.final!.supportRecall.toFixed(3)} (${r.wallSeconds.toFixed(0)} s)`,
        ),
    });
    const teachers = results.filter((r) => r.job === 'teachers');
    const samplers = prior ? Object.keys(prior.table) : Object.keys(teachers[0]!.ladders!);
    const teacherTable = prior?.table ?? Object.fromEntries(samplers.map((s) => [s, Object.fromEntries(ladder.map((n) => [n, stats(teachers.map((r) => r.ladders![s]![String(n)]!))]))]));
    const students = [...new Set(results.filter((r) => r.job === 'student').map((r) => r.arm))].map((arm) => {
      const runs = results.filter((r) => r.arm === arm).sort((a, b) => a.seed - b.seed);
      return { arm, k: Number(arm.match(/^k(\d+)/)![1]), noise: !arm.endsWith('no-noise'), ...stats(runs.map((r) => r.final!)), start: stats(runs.map((r) => r.curve![0]!)), outputs: runs.map((r) => r.outputs), curves: runs.map((r) => r.curve) };
    });
    const wallSeconds = (performance.now() - t0) / 1000;
    const { signalLog, logSmoothing, logFloor } = dmmdOptions.parse({});
    const json = { bench: 'dmmd', quick: o.quick, seeds: o.seeds, backend: o.backend, budget: { ...overrides, evalSamples }, signal: signalLog === 'smooth' ? { signalLog, logSmoothing } : { signalLog, logFloor }, wallSeconds, teachers: teacherTable, students, dataTvFloor: prior?.dataTvFloor ?? teachers.map((r) => r.ladders!.oracle!['1']!.tvFloor), ...(o.teachersFrom ? { teachersFrom: o.teachersFrom } : {}) };
    folder.write('results.json', JSON.stringify(json, null, 1));
    folder.write('results.md', markdown(json, ladder, ks));
    for (const [key, title, log] of [['invalidRate', 'invalid rate vs sampling steps', false], ['gm', 'exact GM (tabular reference) vs sampling steps', true]] as const) {
      const series: Series[] = [
        ...samplers.map((s) => ({ name: `teacher: ${s}`, points: ladder.map((n) => ({ x: n, y: teacherTable[s]![n]![key].mean })) })),
        ...[true, false].map((noise) => ({ name: `D-MMD student${noise ? '' : ', no input noise'}`, points: students.filter((x) => x.noise === noise).map((x) => ({ x: x.k as number, y: x[key].mean })) })),
      ].filter((x) => x.points.length > 0);
      const spec = overlay(title, series, { x: 'sampling steps', y: key, log, points: true });
      (spec as { encoding: { x: Record<string, unknown> } }).encoding.x.scale = { type: 'log', base: 2 };
      const chart = await renderChart(spec);
      folder.write(`${key}-vs-steps.png`, chart.png);
      folder.write(`${key}-vs-steps.svg`, chart.svg);
    }
    return folder.commit();
  } catch (e) {
    folder.discard();
    throw e;
  }
}

const TEACHER_N = (r: DmmdRunResult, s: string, n: number) => r.ladders![s]?.[String(n)]?.invalidRate.toFixed(3);

function markdown(r: { teachersFrom?: string; quick: boolean; seeds: number; wallSeconds: number; budget: object; teachers: Record<string, Record<string, Stats>>; students: ({ arm: string; k: unknown; noise: boolean; start: Stats; curves: DmmdRunResult['curve'][] } & Stats)[] }, ladder: number[], ks: number[]): string {
  const f = (m: { mean: number; std: number }, dp = 3) => `${m.mean.toFixed(dp)} ± ${m.std.toFixed(dp)}`;
  const row = (name: string, m: Stats) =>
    `| ${name} | ${f(m.invalidRate)} | ${f(m.tv)} | ${f(m.gm, 4)} | ${f(m.gmAR, 3)} | ${f(m.gmBigram, 3)} | ${f(m.ppl, 2)} | ${f(m.sampleEntropy)} | ${f(m.entropy)} | ${f(m.supportRecall)} | ${f(m.forwardKL, 2)} |`;
  const head = '| | invalid | TV | GM | GM AR | GM bigram | PPL | sample entropy | entropy | recall | KL(q‖ĝ) |\n|---|---|---|---|---|---|---|---|---|---|---|';
  const lines = [
    `# D-MMD bench${r.quick ? ' (--quick)' : ''}`,
    '',
    `Closed Markov language (V 6, L 8, x₈ = x₁), exact q. ${r.seeds} seed(s); budget ${JSON.stringify(r.budget)}; wall time ${r.wallSeconds.toFixed(0)} s. Mean ± std over seeds.${r.teachersFrom ? ` Teacher tables reused from ${r.teachersFrom} (not run again).` : ''}`,
    '',
    '## Teachers by sampling steps N',
    '',
  ];
  for (const [s, byN] of Object.entries(r.teachers)) {
    lines.push(`### ${s}`, '', head);
    for (const n of ladder) lines.push(row(`N = ${n}`, byN[String(n)]!));
    lines.push('');
  }
  lines.push('## D-MMD students of the oracle (k steps), and the teacher at the same k', '', head);
  for (const k of ks) {
    const o = r.teachers.oracle![String(k)];
    if (o) lines.push(row(`oracle teacher, N = ${k}`, o));
    for (const s of r.students.filter((x) => x.k === k)) {
      lines.push(row(`student k = ${k}${s.noise ? '' : ', no noise'}`, s));
      lines.push(row(`… the same student at step 0`, s.start));
    }
  }
  lines.push('', '## Per seed: student at k vs the oracle teacher at k', '', '| k | arm | seed | invalid (teacher) | TV (teacher) | GM (teacher) | recall (teacher) |', '|---|---|---|---|---|---|---|');
  const v = (m: { perSeed: number[] }, i: number, dp = 3) => (m.perSeed[i] ?? NaN).toFixed(dp);
  for (const k of ks)
    for (const s of r.students.filter((x) => x.k === k)) {
      const o = r.teachers.oracle![String(k)];
      s.invalidRate.perSeed.forEach((_, i) =>
        lines.push(`| ${k} | ${s.noise ? 'ε' : 'no ε'} | ${i + 1} | ${v(s.invalidRate, i)} (${o ? v(o.invalidRate, i) : '–'}) | ${v(s.tv, i)} (${o ? v(o.tv, i) : '–'}) | ${v(s.gm, i, 4)} (${o ? v(o.gm, i, 4) : '–'}) | ${v(s.supportRecall, i)} (${o ? v(o.supportRecall, i) : '–'}) |`),
      );
    }
  const diag = ['forbiddenMass', 'deadMass', 'epsSensitivity', 'auxFitTV', 'klTeacherAux'];
  lines.push('', '## Logged during training (mean over the steps of each window, per seed)', '', `| arm | seed | window end | ${diag.join(' | ')} |`, `|---|---|---|${diag.map(() => '---').join('|')}|`);
  for (const s of r.students)
    s.curves.forEach((c, i) => {
      for (const p of c ?? []) if (p.logged) lines.push(`| ${s.arm} | ${i + 1} | ${p.step} | ${diag.map((d) => (p.logged![d] ?? NaN).toFixed(4)).join(' | ')} |`);
    });
  lines.push('', 'Plots: `invalidRate-vs-steps.png|svg`, `gm-vs-steps.png|svg`.', '');
  return lines.join('\n');
}
