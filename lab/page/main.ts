/**
 * @file The lab page: choose or open a pipeline, edit it, Check (type-check on the server), Run (bundled on the
 * server, trained in a Worker on WebGPU or wasm), watch it train, and take the run folder or a PyTorch export away.
 * Training never waits for the page: the worker posts, the page draws at most once per animation frame.
 */
import { basicSetup, EditorView } from 'codemirror';
import { javascript } from '@codemirror/lang-javascript';
import { lintGutter, setDiagnostics, type Diagnostic as CmDiagnostic } from '@codemirror/lint';
import type { FromWorker, TargetPicture, ToWorker } from '../protocol.ts';
import { packRun } from '../wire.ts';
import { buildForm, formValues, type OptionsForm } from './form.ts';
import { COLORS, densityImage, drawLines, drawSamples, frameOf, type Frame, type Line } from './charts.ts';
import { graphSvg } from '../graph/svg.ts';

type Source = { kind: 'builtin'; name: string } | { kind: 'file'; path: string } | { kind: 'paste'; name: string };
interface Diag {
  file: string;
  line: number;
  column: number;
  message: string;
  inEditor: boolean;
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const ui = {
  pipeline: $<HTMLSelectElement>('pipeline'),
  openFile: $<HTMLInputElement>('open-file'),
  openPath: $<HTMLFormElement>('open-path'),
  path: $<HTMLInputElement>('path'),
  sourceName: $('source-name'),
  backend: $<HTMLSelectElement>('backend'),
  seed: $<HTMLInputElement>('seed'),
  evalSamples: $<HTMLInputElement>('eval-samples'),
  options: $<HTMLFormElement>('options'),
  optionError: $('option-error'),
  check: $<HTMLButtonElement>('check'),
  run: $<HTMLButtonElement>('run'),
  pause: $<HTMLButtonElement>('pause'),
  resume: $<HTMLButtonElement>('resume'),
  stop: $<HTMLButtonElement>('stop'),
  status: $('status'),
  downloads: $('downloads'),
  zip: $<HTMLAnchorElement>('zip'),
  torch: $<HTMLAnchorElement>('torch'),
  diagnostics: $('diagnostics'),
};

/** what the page knows; `window.lab` exposes it read-only (the browser tests read it) */
const state = {
  phase: 'loading' as 'loading' | 'idle' | 'checking' | 'bundling' | 'running' | 'paused' | 'saving' | 'done' | 'error',
  source: undefined as Source | undefined,
  file: '',
  backend: '',
  step: 0,
  steps: 0,
  stepsPerSecond: 0,
  etaSeconds: 0,
  losses: new Map<string, [number, number][]>(),
  gradNorms: new Map<string, [number, number][]>(),
  energy: [] as [number, number][],
  /** every evaluation along the way, and whether the evaluation Worker measured it (beside training) */
  evaluations: [] as { step: number; metrics: Record<string, number>; inEvalWorker: boolean }[],
  levels: {} as Record<string, number>,
  samples: undefined as { step: number; samples: Float32Array; d: number } | undefined,
  teacher: undefined as { samples: Float32Array; d: number } | undefined,
  target: undefined as TargetPicture | undefined,
  samplesUpdates: 0,
  summary: undefined as Record<string, unknown> | undefined,
  runId: undefined as string | undefined,
  error: undefined as { stage: string; message: string } | undefined,
  diagnostics: [] as Diag[],
};
(window as unknown as { lab: unknown }).lab = state;

const editor = new EditorView({ doc: '', extensions: [basicSetup, javascript({ typescript: true }), lintGutter()], parent: $('editor') });
const text = () => editor.state.doc.toString();
function setText(t: string) {
  editor.dispatch({ changes: { from: 0, to: editor.state.doc.length, insert: t } });
}

let form: OptionsForm | undefined;
let worker: Worker | undefined;
let bundled: { text: string; source: string; url: string } | undefined;

function status(s: string) {
  ui.status.textContent = s;
  ui.status.dataset.state = state.phase;
}
function setPhase(p: typeof state.phase) {
  state.phase = p;
  ui.status.dataset.state = p;
  const busy = p === 'running' || p === 'paused' || p === 'bundling' || p === 'saving';
  ui.run.disabled = busy;
  ui.check.disabled = busy;
  ui.pause.disabled = p !== 'running';
  ui.resume.disabled = p !== 'paused';
  ui.stop.disabled = !(p === 'running' || p === 'paused');
  // the source cannot change under a run
  for (const el of [ui.pipeline, ui.openFile, ui.path, ...ui.openPath.querySelectorAll('button')]) el.disabled = busy;
}

async function api<T>(url: string, init?: RequestInit): Promise<T> {
  const r = await fetch(url, init);
  const body = (await r.json()) as T & { error?: string };
  if (!r.ok) throw new Error(body.error ?? `${url}: HTTP ${r.status}`);
  return body;
}
const post = <T>(url: string, v: unknown) => api<T>(url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(v) });

function showDiagnostics(ds: Diag[]) {
  state.diagnostics = ds;
  const doc = editor.state.doc;
  const cm: CmDiagnostic[] = ds
    .filter((d) => d.inEditor && d.line <= doc.lines)
    .map((d) => {
      const line = doc.line(d.line);
      const from = Math.min(line.from + d.column - 1, line.to);
      return { from, to: Math.min(Math.max(from + 1, line.to), doc.length), severity: 'error', message: d.message };
    });
  editor.dispatch(setDiagnostics(editor.state, cm));
  ui.diagnostics.hidden = ds.length === 0;
  ui.diagnostics.textContent = ds.map((d) => `${d.file}:${d.line}:${d.column}: ${d.message}`).join('\n');
}

function showOptionError(message: string | undefined) {
  ui.optionError.hidden = !message;
  ui.optionError.textContent = message ?? '';
  form?.mark(message);
}

async function load(source: Source, given?: { text: string; file: string }) {
  state.source = source;
  const r = given ?? (await api<{ file: string; text: string }>(source.kind === 'builtin' ? `/api/source?pipeline=${encodeURIComponent(source.name)}` : `/api/source?path=${encodeURIComponent((source as { path: string }).path)}`));
  state.file = r.file;
  ui.sourceName.textContent = r.file;
  setText(r.text);
  showDiagnostics([]);
  await prepare();
}

/** Type-check and bundle the editor's text, start its worker (a fresh one per bundle) and build the options form
 * from the schema it posts. Returns false when the text does not type-check or bundle. */
async function prepare(): Promise<boolean> {
  const t = text();
  const key = JSON.stringify(state.source);
  if (bundled && bundled.text === t && bundled.source === key && worker) return true;
  setPhase('bundling');
  status('type-checking and bundling…');
  let r: { ok: boolean; diagnostics: Diag[]; worker?: string };
  try {
    r = await post<typeof r>('/api/bundle', { source: state.source, text: t });
  } catch (e) {
    setPhase('error');
    state.error = { stage: 'bundle', message: (e as Error).message };
    status((e as Error).message);
    return false;
  }
  showDiagnostics(r.diagnostics);
  if (!r.ok || !r.worker) {
    setPhase('idle');
    status(`${r.diagnostics.length} type error(s): not run`);
    return false;
  }
  worker?.terminate();
  bundled = undefined;
  const keep = formValues(ui.options);
  worker = new Worker(r.worker, { type: 'module' });
  await new Promise<void>((resolve, reject) => {
    worker!.onerror = (e) => reject(new Error(e.message || 'the worker failed to start'));
    worker!.onmessage = (ev: MessageEvent<FromWorker>) => {
      const m = ev.data;
      if (m.type !== 'ready') return;
      form = buildForm(ui.options, m.schema, keep);
      worker!.onmessage = (e2: MessageEvent<FromWorker>) => onWorker(e2.data);
      // a worker that dies mid-run (memory, a lost device) ends the run with its reason
      worker!.onerror = (e) => onWorker({ type: 'error', stage: 'run', message: e.message || 'the worker stopped' });
      bundled = { text: t, source: key, url: r.worker! };
      resolve();
    };
  }).catch((e: Error) => {
    worker?.terminate();
    worker = undefined;
    setPhase('error');
    status(e.message);
    throw e;
  });
  setPhase('idle');
  status(`ready: ${state.file}`);
  return true;
}

function send(m: ToWorker) {
  worker?.postMessage(m);
}

function push(map: Map<string, [number, number][]>, step: number, v: Record<string, number>) {
  for (const [k, y] of Object.entries(v)) {
    const s = map.get(k) ?? [];
    s.push([step, y]);
    map.set(k, s);
  }
}

let frame: Frame | undefined;
let density: ImageData | undefined;
let dirty = false;
function redraw() {
  dirty = true;
}

function render() {
  if (dirty) {
    dirty = false;
    const sc = ($<HTMLCanvasElement>('samples')).getContext('2d')!;
    if (state.target && !frame) {
      frame = frameOf(state.target);
      density = densityImage(sc, state.target, frame);
    }
    if (frame) {
      const layers = [];
      if (state.teacher) layers.push({ ...state.teacher, color: COLORS[1]! });
      if (state.samples) layers.push({ samples: state.samples.samples, d: state.samples.d, color: COLORS[0]! });
      drawSamples(sc, density, frame, layers);
    }
    const lines = (m: Map<string, [number, number][]>): Line[] => [...m].map(([name, points], i) => ({ name, points, color: COLORS[i % COLORS.length]! }));
    drawLines(($<HTMLCanvasElement>('loss')).getContext('2d')!, lines(state.losses), state.steps);
    drawLines(($<HTMLCanvasElement>('grad')).getContext('2d')!, lines(state.gradNorms), state.steps);
    drawLines(
      ($<HTMLCanvasElement>('energy')).getContext('2d')!,
      [{ name: 'student', points: state.energy, color: COLORS[0]! }],
      state.steps,
      Object.entries(state.levels).map(([n, y]) => ({ name: `teacher ${n}-step`, y })),
    );
    if (state.phase === 'running' || state.phase === 'paused') {
      const eta = state.etaSeconds < 90 ? `${state.etaSeconds.toFixed(0)} s` : `${(state.etaSeconds / 60).toFixed(1)} min`;
      const beside = state.evaluations.some((e) => e.inEvalWorker) ? ' · evaluating beside training' : '';
      status(`${state.phase} on ${state.backend}${beside}\nstep ${state.step} / ${state.steps} · ${state.stepsPerSecond.toFixed(1)} steps/s · ETA ${eta}`);
      ui.status.dataset.step = String(state.step);
    }
  }
  requestAnimationFrame(render);
}
requestAnimationFrame(render);

function onWorker(m: FromWorker) {
  switch (m.type) {
    case 'error':
      state.error = { stage: m.stage, message: m.message };
      if (m.stage === 'options') showOptionError(m.message);
      setPhase('error');
      status(`${m.stage} error:\n${m.message}`);
      return;
    case 'backend':
      state.backend = m.name;
      ui.status.dataset.backend = m.name;
      return;
    case 'compiled':
      state.steps = m.steps;
      state.target = m.target;
      frame = undefined;
      $('tab-ir').querySelector('pre')!.textContent = m.irText;
      $('tab-plan').querySelector('pre')!.textContent = m.planText;
      $('tab-graph').innerHTML = graphSvg(m.ir);
      redraw();
      return;
    case 'teacher':
      state.levels = Object.fromEntries(Object.entries(m.levels).filter(([k]) => ['4', '8', '16'].includes(k)));
      if (m.samples) state.teacher = { samples: m.samples, d: m.d };
      redraw();
      return;
    case 'step':
      state.step = m.step;
      state.stepsPerSecond = m.stepsPerSecond;
      state.etaSeconds = m.etaSeconds;
      push(state.losses, m.step, m.losses);
      push(state.gradNorms, m.step, m.gradNorms);
      redraw();
      return;
    case 'eval':
      state.evaluations.push({ step: m.step, metrics: m.metrics, inEvalWorker: m.inEvalWorker });
      if (typeof m.metrics.energyDistance === 'number') state.energy.push([m.step, m.metrics.energyDistance]);
      redraw();
      return;
    case 'samples':
      state.samples = { step: m.step, samples: m.samples, d: m.d };
      state.samplesUpdates++;
      redraw();
      return;
    case 'paused':
      setPhase('paused');
      redraw();
      return;
    case 'resumed':
      setPhase('running');
      return;
    case 'done':
      void finished(m.run);
      return;
    case 'ready':
    case 'options':
      return;
  }
}

async function finished(run: Extract<FromWorker, { type: 'done' }>['run']) {
  state.summary = run.summary as unknown as Record<string, unknown>;
  if (run.samples && run.d) state.samples = { step: run.summary.stoppedAt ?? run.summary.steps, samples: run.samples, d: run.d };
  if (run.teacherSamples && run.d) state.teacher = { samples: run.teacherSamples, d: run.d };
  showSummary(run.summary as unknown as Record<string, unknown>);
  setPhase('saving');
  status('saving the run folder…');
  try {
    const r = await api<{ id: string; dir: string; zip: string; torch: string }>('/api/runs', { method: 'POST', headers: { 'content-type': 'application/zip' }, body: packRun(run) as BufferSource });
    state.runId = r.id;
    ui.zip.href = r.zip;
    ui.torch.href = r.torch;
    ui.downloads.hidden = false;
    setPhase('done');
    status(`done on ${state.backend}: ${run.summary.stoppedAt !== undefined ? `stopped at step ${run.summary.stoppedAt}` : `${run.summary.steps} steps`} in ${run.summary.wallSeconds.toFixed(1)} s\nrun folder: ${r.dir}`);
  } catch (e) {
    setPhase('error');
    status(`the run finished but could not be saved: ${(e as Error).message}`);
  }
  redraw();
}

function showSummary(s: Record<string, unknown>) {
  const m = (s.metrics ?? {}) as Record<string, unknown>;
  const el = $('tab-summary');
  el.replaceChildren();
  if (typeof m.headline === 'string') {
    const h = document.createElement('div');
    h.className = 'headline';
    h.textContent = m.headline;
    el.append(h);
  }
  const table = document.createElement('table');
  table.className = 'summary';
  const row = (k: string, v: unknown) => {
    const tr = table.insertRow();
    tr.insertCell().textContent = k;
    tr.insertCell().textContent = typeof v === 'number' ? (Number.isInteger(v) ? String(v) : v.toPrecision(4)) : JSON.stringify(v);
  };
  for (const k of ['pipeline', 'seed', 'backend', 'steps', 'wallSeconds', 'iterationsPerSecond', 'stoppedAt']) if (s[k] !== undefined) row(k, s[k]);
  for (const [k, v] of Object.entries(m)) if (k !== 'headline' && (typeof v !== 'object' || v === null)) row(k, v);
  el.append(table);
  el.dataset.ready = 'true';
  selectTab('summary');
}

function selectTab(name: string) {
  for (const b of document.querySelectorAll<HTMLButtonElement>('#tabs button')) b.classList.toggle('on', b.dataset.tab === name);
  for (const t of ['summary', 'graph', 'ir', 'plan']) $(`tab-${t}`).hidden = t !== name;
}

async function run() {
  showOptionError(undefined);
  state.error = undefined;
  if (!(await prepare().catch(() => false))) return;
  const seed = Number(ui.seed.value);
  if (!/^\d+$/.test(ui.seed.value.trim())) return showOptionError(`seed must be an integer ≥ 0, got '${ui.seed.value}'`);
  const evalSamples = Number(ui.evalSamples.value);
  if (!/^\d+$/.test(ui.evalSamples.value.trim()) || evalSamples < 16) return showOptionError(`eval samples must be an integer ≥ 16, got '${ui.evalSamples.value}'`);
  Object.assign(state, { step: 0, energy: [], evaluations: [], levels: {}, samples: undefined, teacher: undefined, summary: undefined, runId: undefined, samplesUpdates: 0 });
  state.losses = new Map();
  state.gradNorms = new Map();
  ui.downloads.hidden = true;
  setPhase('running');
  status('compiling…');
  send({ type: 'start', sets: form?.sets() ?? [], seed, backend: ui.backend.value as 'auto', wasmPaths: new URL('/assets/tfjs/', location.href).href, evalWorker: new URL('/assets/eval-worker.js', location.href).href, viewEvery: 10, viewSamples: 1024, evalSamples });
}

ui.run.onclick = () => void run();
ui.check.onclick = async () => {
  setPhase('checking');
  status('type-checking…');
  try {
    const r = await post<{ ok: boolean; diagnostics: Diag[] }>('/api/check', { source: state.source, text: text() });
    showDiagnostics(r.diagnostics);
    setPhase('idle');
    status(r.ok ? 'no type errors' : `${r.diagnostics.length} type error(s)`);
  } catch (e) {
    setPhase('error');
    status((e as Error).message);
  }
};
ui.pause.onclick = () => send({ type: 'pause' });
ui.resume.onclick = () => send({ type: 'resume' });
ui.stop.onclick = () => send({ type: 'stop' });
ui.pipeline.onchange = () => void load({ kind: 'builtin', name: ui.pipeline.value }).catch(() => {});
ui.openPath.onsubmit = (e) => {
  e.preventDefault();
  void load({ kind: 'file', path: ui.path.value.trim() }).catch((err: Error) => status(err.message));
};
ui.openFile.onchange = async () => {
  const f = ui.openFile.files?.[0];
  if (f) await load({ kind: 'paste', name: f.name }, { text: await f.text(), file: `${f.name} (opened)` }).catch(() => {});
};
for (const b of document.querySelectorAll<HTMLButtonElement>('#tabs button')) b.onclick = () => selectTab(b.dataset.tab!);

(async () => {
  const list = await api<{ name: string; description: string; file: string }[]>('/api/pipelines');
  for (const p of list) {
    const o = document.createElement('option');
    o.value = p.name;
    o.textContent = p.name;
    o.title = p.description;
    ui.pipeline.append(o);
  }
  const wanted = new URLSearchParams(location.search).get('pipeline');
  ui.pipeline.value = wanted && list.some((p) => p.name === wanted) ? wanted : list.some((p) => p.name === 'dmd2-ring') ? 'dmd2-ring' : list[0]!.name;
  await load({ kind: 'builtin', name: ui.pipeline.value });
})().catch((e: Error) => {
  setPhase('error');
  status(e.message);
});
