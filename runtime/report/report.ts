/**
 * @file report.html: one self-contained page per run (plots inlined as SVG, samples as a data URI) with the
 * headline and summary metrics, the config, loss and gradient-norm curves per role, energy distance vs step, the
 * mass per mode, the student's samples beside the teacher's, and the plan. The plots are also written as PNG and SVG
 * under plots/. `distillery report DIR` rebuilds it from the run folder's files.
 */
import fs from 'node:fs';
import path from 'node:path';
import { tableFromIPC } from 'apache-arrow';
import { UserError } from '../../dsl/errors.ts';
import { RunFolder } from '../files.ts';
import { lastLosses, type Summary } from '../summary.ts';
import { readMetricsStream } from '../sinks/arrow.ts';
import { METRICS_STREAM, type StreamedRun } from '../sinks/metrics-file.ts';
import { modeMassChart, overlay, panels, renderChart, type Chart, type ModeMass, type Series } from './charts.ts';

export interface ReportInput {
  summary: Summary;
  rows: Record<string, number | null>[];
  planText: string;
  config?: Record<string, unknown>;
  samplesPng?: Uint8Array;
  /** the teacher's samples from the same noise (the summary's `teacherPicture` names the sampler) */
  teacherSamplesPng?: Uint8Array;
}

/** summary.json, report.html and plots/ into a run folder, then the folder committed (a run measured from weights) */
export async function commitReported(folder: RunFolder, r: ReportInput): Promise<void> {
  folder.write('summary.json', JSON.stringify(r.summary, null, 2) + '\n');
  for (const [name, data] of Object.entries(await reportFiles(r))) folder.write(name, data);
  folder.commit();
}

interface TeacherPicture {
  solver: string;
  steps: number;
  offModeFraction: number;
  modeShares: number[];
}

/** the summary's per-mode numbers, when it has them (mixture runs) */
function modeMassOf(m: Record<string, unknown>): ModeMass | undefined {
  const weights = m.modeWeights;
  const shares = m.modeShares;
  if (!Array.isArray(weights) || !Array.isArray(shares) || typeof m.offModeFraction !== 'number') return undefined;
  const t = m.teacherPicture as TeacherPicture | undefined;
  return {
    weights,
    samplers: [
      { name: 'student', shares, offMode: m.offModeFraction },
      ...(t ? [{ name: `teacher, ${pictureName(t)}`, shares: t.modeShares, offMode: t.offModeFraction }] : []),
    ],
  };
}

const pictureName = (t: TeacherPicture) => `${t.steps}-step ${t.solver === 'heun' ? 'Heun' : 'Euler'}`;

/** per-mode arrays are drawn, not listed */
const LISTED_NOT = /(^|\.)(modeShares|modeWeights|headline)$/;

/** the columns of `rows` whose names start with `prefix`, as one series each */
function seriesOf(rows: ReportInput['rows'], prefix: string): Series[] {
  const keys = [...new Set(rows.flatMap((r) => Object.keys(r)))].filter((k) => k.startsWith(prefix));
  return keys.map((k) => ({
    name: k.slice(prefix.length),
    points: rows.filter((r) => typeof r[k] === 'number' && typeof r.step === 'number').map((r) => ({ x: r.step!, y: r[k]! })),
  }));
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

const fmt = (v: unknown): string => {
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : v.toPrecision(4);
  if (v === null || v === undefined) return '—';
  // a small record of numbers (exact samples' mean, sd, draws) reads as "key value" pairs, each number formatted
  if (typeof v === 'object' && !Array.isArray(v) && Object.values(v).every((x) => typeof x === 'number'))
    return Object.entries(v as Record<string, number>).map(([k, x]) => `${esc(k)} ${fmt(x)}`).join(', ');
  if (typeof v === 'object') return esc(JSON.stringify(v));
  return esc(String(v));
};

/** nested metrics → rows of dotted keys and values; a small object stays one JSON cell */
function flatten(o: Record<string, unknown>, prefix = ''): [string, unknown][] {
  return Object.entries(o).flatMap(([k, v]): [string, unknown][] =>
    v && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length > 6 ? flatten(v as Record<string, unknown>, `${prefix}${k}.`) : [[`${prefix}${k}`, v]],
  );
}

const table = (pairs: [string, unknown][]) => `<table>${pairs.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${fmt(v)}</td></tr>`).join('')}</table>`;

/** The report's files: report.html and plots/*.svg|png. */
export async function reportFiles(r: ReportInput): Promise<Record<string, string | Uint8Array>> {
  const charts: [string, string, Chart][] = [];
  const add = async (file: string, title: string, spec: Parameters<typeof renderChart>[0]) => charts.push([file, title, await renderChart(spec)]);
  const losses = seriesOf(r.rows, 'loss.');
  if (losses.length) await add('losses', 'Loss per role', panels('loss per role (last update of each step)', losses, { y: 'loss' }));
  const norms = seriesOf(r.rows, 'gradNorm.');
  if (norms.length) await add('grad-norms', 'Gradient norm per role', overlay('‖∇‖ per role', norms, { y: 'gradient norm', log: true }));
  const ed = seriesOf(r.rows, 'energyDistance').filter((s) => s.name === '' && s.points.length);
  if (ed.length) {
    const teacher = Object.entries((r.summary.metrics.teacherEnergyDistanceByNfe as Record<string, number> | undefined) ?? {});
    const last = ed[0]!.points[ed[0]!.points.length - 1]?.x ?? 1;
    const lines: Series[] = [{ name: 'student', points: ed[0]!.points }];
    for (const [nfe, v] of teacher.filter(([n]) => ['1', '2', '4', '8'].includes(n))) lines.push({ name: `teacher, ${nfe} Euler step${nfe === '1' ? '' : 's'}`, points: [{ x: 0, y: v }, { x: last, y: v }] });
    await add('energy-distance', 'Energy distance to the target', overlay('energy distance vs step (teacher samplers as levels)', lines, { y: 'energy distance', log: true, points: true }));
  }
  const mass = modeMassOf(r.summary.metrics);
  if (mass) await add('mode-mass', 'Mass per mode', modeMassChart('each mode’s share of the on-mode samples (grey: ½× to 2× its weight); off-mode mass', mass));
  // token runs: the exact metrics against q (ops/metrics/discrete.ts)
  const exact = ['invalidRate', 'tv', 'supportRecall'].flatMap((k) => seriesOf(r.rows, k).filter((x) => x.name === '' && x.points.length).map((x) => ({ ...x, name: k })));
  if (exact.length) await add('exact-metrics', 'Exact metrics against q', overlay('invalid rate, TV and support recall vs step', exact, { y: 'value', points: true }));
  const s = r.summary;
  const head: [string, unknown][] = [
    ['pipeline', s.pipeline],
    ['seed', s.seed],
    ['backend', s.backend],
    ['steps', s.steps],
    ['wall seconds', s.wallSeconds],
    ['iterations / s', s.iterationsPerSecond],
    ['non-finite updates skipped', Object.values(s.nonFinite?.skipped ?? {}).reduce((a, b) => a + b, 0)],
    ...(s.resumedFrom !== undefined ? ([['resumed from step', s.resumedFrom]] as [string, unknown][]) : []),
    ...(s.stoppedAt !== undefined ? ([['stopped after step', s.stoppedAt]] as [string, unknown][]) : []),
  ];
  const metrics = flatten(Object.fromEntries(Object.entries(s.metrics).filter(([k]) => !['teacherEnergyDistanceByNfe', 'teacherHeunEnergyDistanceBySteps'].includes(k)))).filter(([k]) => !LISTED_NOT.test(k));
  const headline = typeof s.metrics.headline === 'string' ? s.metrics.headline : undefined;
  const teacher = s.metrics.teacherPicture as TeacherPicture | undefined;
  const img = (alt: string, png: Uint8Array) => `<img alt="${esc(alt)}" width="460" src="data:image/png;base64,${Buffer.from(png).toString('base64')}">`;
  const figure = (caption: string, png: Uint8Array) => `<figure>${img(caption, png)}<figcaption>${esc(caption)}</figcaption></figure>`;
  const samples = r.samplesPng
    ? `<h2>Samples over the target density</h2><div class="grid">${figure('student', r.samplesPng)}${r.teacherSamplesPng && teacher ? figure(`teacher, ${pictureName(teacher)} (same noise as the ladder)`, r.teacherSamplesPng) : ''}</div>`
    : '';
  const events = s.nonFinite?.events ?? [];
  // a report of a run that was killed or interrupted, read from its streamed metric rows: no summary.json yet
  const unfinished = s.stoppedAt !== undefined && !Object.keys(s.metrics).length;
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(s.pipeline)} — distillery report</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;max-width:980px;margin:2em auto;padding:0 1em;color:#222}
h1{font-size:1.5em}h2{font-size:1.15em;margin-top:2em;border-bottom:1px solid #ddd}
table{border-collapse:collapse}th,td{padding:2px 10px;text-align:left;border-bottom:1px solid #eee;vertical-align:top}th{font-weight:600}
pre{background:#f6f6f6;padding:1em;overflow:auto;font-size:12px}figure{margin:1em 0}.grid{display:flex;gap:3em;flex-wrap:wrap}
.grid figure{margin:0}figcaption{text-align:center;color:#555}.headline{font-size:1.1em;background:#f3f6fb;border-left:4px solid #4a78c2;padding:.6em 1em}
</style></head><body>
<h1>${esc(s.pipeline)} <small>seed ${s.seed}, ${esc(s.backend)}</small></h1>
${headline ? `<p class="headline">${esc(headline)}</p>` : ''}
${unfinished ? `<p class="headline">This run did not finish: it stopped after step ${s.stoppedAt} of ${s.steps}, and these are the metric rows it wrote on the way. Continue it with <code>distillery run --resume</code> where it left a checkpoint.</p>` : ''}
<div class="grid"><section><h2>Run</h2>${table(head)}</section>
<section><h2>Summary metrics</h2>${metrics.length ? table(metrics) : unfinished ? '<p>no final evaluation: the run did not finish</p>' : '<p>no evaluation in this pipeline</p>'}</section></div>
${r.config ? `<h2>Config</h2>${table(Object.entries(r.config))}` : ''}
${charts.map(([, title, c]) => `<h2>${esc(title)}</h2><figure>${c.svg}</figure>`).join('\n')}
${samples}
${events.length ? `<h2>Skipped updates (NaN/Inf)</h2>${table(events.slice(0, 200).map((e) => [`step ${e.step}`, e.role]))}` : ''}
<h2>Plan</h2><pre>${esc(r.planText)}</pre>
</body></html>
`;
  const files: Record<string, string | Uint8Array> = { 'report.html': html };
  for (const [file, , c] of charts) {
    files[`plots/${file}.svg`] = c.svg;
    files[`plots/${file}.png`] = c.png;
  }
  return files;
}

/** metrics.arrow → rows (BigInt and typed values as plain numbers, nulls kept) */
export function readMetrics(file: string): Record<string, number | null>[] {
  const t = tableFromIPC(fs.readFileSync(file));
  const names = t.schema.fields.map((f) => f.name);
  const rows: Record<string, number | null>[] = [];
  for (let i = 0; i < t.numRows; i++) {
    const row: Record<string, number | null> = {};
    for (const n of names) {
      const v = t.getChild(n)!.get(i);
      row[n] = v === null || v === undefined ? null : Number(v);
    }
    rows.push(row);
  }
  return rows;
}

/** The report's input from a run that never finished (killed, or stopped by Ctrl-C): its streamed metric rows and the
 * run description they carry; the summary holds what the rows say, and `stoppedAt` its last step. */
function unfinishedRun(dir: string): ReportInput {
  const file = path.join(dir, METRICS_STREAM);
  const { rows, meta } = readMetricsStream(fs.readFileSync(file));
  const run = meta as Partial<StreamedRun> | undefined;
  if (!run?.pipeline || !rows.length) throw new UserError(`'${dir}' holds no finished run, and ${file} has no metric rows`);
  const last = rows[rows.length - 1]!;
  const first = rows[0]!;
  const seconds = (last.wallSeconds ?? 0) - (first.wallSeconds ?? 0);
  const summary: Summary = {
    pipeline: run.pipeline,
    seed: run.seed ?? 0,
    backend: run.backend ?? '',
    steps: run.steps ?? last.step ?? 0,
    wallSeconds: last.wallSeconds ?? 0,
    iterationsPerSecond: seconds > 0 ? (last.step! - first.step!) / seconds : 0,
    metrics: {},
    energyDistanceByStep: rows.filter((r) => typeof r.energyDistance === 'number').map((r) => ({ step: r.step!, energyDistance: r.energyDistance! })),
    finalLosses: lastLosses(rows),
    nonFinite: { skipped: {}, events: [] },
    stoppedAt: last.step!,
  };
  return { summary, rows, planText: run.planText ?? '', ...(run.config ? { config: run.config } : {}) };
}

/** Rebuild report.html and plots/ of a run folder from its files; each file is written then renamed into place. A
 * run that never finished (no summary.json) is reported from the metric rows it streamed (metrics.arrows). */
export async function rebuildReport(dir: string): Promise<string[]> {
  if (!fs.existsSync(path.join(dir, 'summary.json')) && fs.existsSync(path.join(dir, METRICS_STREAM))) return writeReport(dir, await reportFiles(unfinishedRun(dir)));
  const need = (f: string) => {
    const p = path.join(dir, f);
    if (!fs.existsSync(p)) throw new UserError(`'${dir}' is not a finished run folder: ${f} is missing`);
    return p;
  };
  let summary: Summary;
  try {
    summary = JSON.parse(fs.readFileSync(need('summary.json'), 'utf8'));
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UserError(`${path.join(dir, 'summary.json')} is not valid JSON`);
  }
  const opt = (f: string) => (fs.existsSync(path.join(dir, f)) ? fs.readFileSync(path.join(dir, f)) : undefined);
  const config = opt('config.json');
  const files = await reportFiles({
    summary,
    rows: readMetrics(need('metrics.arrow')),
    planText: fs.readFileSync(need('plan.txt'), 'utf8').replace(/\n$/, ''),
    ...(config ? { config: JSON.parse(config.toString('utf8')) } : {}),
    ...(opt('samples.png') ? { samplesPng: opt('samples.png')! } : {}),
    ...(opt('teacher-samples.png') ? { teacherSamplesPng: opt('teacher-samples.png')! } : {}),
  });
  return writeReport(dir, files);
}

function writeReport(dir: string, files: Record<string, string | Uint8Array>): string[] {
  const folder = new RunFolder(dir);
  for (const [name, data] of Object.entries(files)) folder.write(name, data);
  return folder.commit();
}
