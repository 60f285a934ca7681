/**
 * The lab in a real browser: the system Chromium (WebGPU through SwiftShader), driven by playwright-core. The page
 * runs dmd2-ring for 200 steps on wasm and on webgpu; its live views move during the run; pause holds the step; its
 * final metrics equal a Node run with the same seed, steps, options and backend; on wasm the evaluations along the way
 * come from the evaluation Worker beside training and equal the Node run's, to the last bit; Stop ends a run whose
 * evaluations run beside it; a type error shows at its line and
 * does not run; a bad option value shows the option's error; the run folder's zip opens. Screenshots of the running
 * and the finished page go to $LAB_SCREENSHOTS (default: a folder under the system's temp dir).
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { lastValueFrom } from 'rxjs';
import { strFromU8, unzipSync } from 'fflate';
import type { Browser, Page } from 'playwright-core';
import { startLab, type LabServer } from '../../lab/server/server.ts';
import { PIPELINES } from '../../pipelines/index.ts';
import { buildFromConfig, resolveConfig } from '../../dsl/pipeline.ts';
import { parseSets } from '../../dsl/options.ts';
import { loadBackend } from '../../gpu/backend.ts';
import { RunSession } from '../../runtime/session.ts';
import type { Summary } from '../../runtime/summary.ts';

const CHROMIUM = '/usr/bin/chromium';
const skip = fs.existsSync(CHROMIUM) ? false : `no system Chromium at ${CHROMIUM} (apt-get install chromium libvulkan1)`;
const SHOTS = process.env.LAB_SCREENSHOTS ?? path.join(os.tmpdir(), 'distillery-lab-screenshots');
const FLAGS = ['--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-vulkan=swiftshader', '--use-webgpu-adapter=swiftshader', '--use-angle=swiftshader', '--no-sandbox'];

let lab: LabServer;
let browser: Browser;
let root: string;

before(async () => {
  if (skip) return;
  const { chromium } = await import('playwright-core');
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'lab-browser-'));
  lab = await startLab({ port: 0, root });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: FLAGS });
  fs.mkdirSync(SHOTS, { recursive: true });
});
after(async () => {
  if (skip) return;
  await browser?.close();
  await lab?.close();
  fs.rmSync(root, { recursive: true, force: true });
});

interface LabState {
  phase: string;
  step: number;
  backend: string;
  samplesUpdates: number;
  summary?: Summary;
  runId?: string;
  error?: { stage: string; message: string };
  evaluations: { step: number; metrics: Record<string, number>; inEvalWorker: boolean }[];
}
const state = (page: Page) => page.evaluate(() => (window as unknown as { lab: LabState }).lab && { ...(window as unknown as { lab: LabState }).lab });

async function open(): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(lab.url);
  await page.waitForFunction(() => ['idle', 'error'].includes((window as unknown as { lab: LabState }).lab?.phase), null, { timeout: 120_000 });
  assert.deepEqual(errors, []);
  assert.equal((await state(page))!.phase, 'idle', await page.textContent('#status') ?? '');
  return page;
}

async function setOptions(page: Page, sets: string[]): Promise<void> {
  for (const s of sets) {
    const [k, v] = s.split('=') as [string, string];
    const el = page.locator(`#opt-${k}`);
    if ((await el.evaluate((e) => e.tagName)) === 'SELECT') await el.selectOption(v);
    else await el.fill(v);
  }
}

const until = (page: Page, phases: string[], timeout: number) =>
  page.waitForFunction((ps) => ps.includes((window as unknown as { lab: LabState }).lab.phase), phases, { timeout, polling: 500 });

/** the same run in Node: the same session code, options resolved as the page's worker resolves them */
async function nodeRun(sets: string[], backend: string, evalSamples: number): Promise<Summary> {
  const def = PIPELINES['dmd2-ring']!;
  const ir = buildFromConfig(def, resolveConfig(def, parseSets(def.options, sets, def.name), '--set'));
  const s = new RunSession(ir, await loadBackend(backend), { seed: 1, evalSamples });
  try {
    await lastValueFrom(s.train());
    return (await s.finish()).summary;
  } finally {
    s.dispose();
  }
}

/** metrics that a run reports as numbers, compared within float32 tolerance */
function assertSameMetrics(page: Summary, node: Summary, backend: string): void {
  const keys = ['energyDistance', 'offModeFraction', 'minModeMassRatio', 'maxModeMassRatio', 'modesCovered', 'gaussianBaselineEnergyDistance', 'beatsTeacherEulerSteps'];
  for (const k of keys) {
    const [a, b] = [page.metrics[k] as number, node.metrics[k] as number];
    assert.ok(typeof a === 'number' && typeof b === 'number', `${backend}: ${k} is a number in both (${a}, ${b})`);
    assert.ok(Math.abs(a - b) <= 1e-5 * Math.max(1, Math.abs(b)), `${backend}: ${k} page ${a} vs node ${b}`);
  }
  for (const [role, l] of Object.entries(node.finalLosses)) assert.ok(Math.abs(page.finalLosses[role]! - l) <= 1e-4 * Math.max(1, Math.abs(l)), `${backend}: final loss of ${role}: page ${page.finalLosses[role]} vs node ${l}`);
  console.log(`# ${backend}: page energy distance ${page.metrics.energyDistance}, node ${node.metrics.energyDistance}; page ${page.iterationsPerSecond.toFixed(2)} it/s`);
}

async function runOnPage(page: Page, backend: string, sets: string[], evalSamples: number, o: { shots?: string; pause?: boolean; timeout: number }): Promise<Summary> {
  await setOptions(page, sets);
  await page.selectOption('#backend', backend);
  await page.fill('#eval-samples', String(evalSamples));
  await page.click('#run');
  // the live views move: two reads during training differ in step and in the sample view
  await page.waitForFunction(() => (window as unknown as { lab: LabState }).lab.samplesUpdates >= 2, null, { timeout: o.timeout, polling: 200 });
  const a = (await state(page))!;
  await page.waitForFunction((n) => (window as unknown as { lab: LabState }).lab.samplesUpdates > n + 1 || (window as unknown as { lab: LabState }).lab.phase !== 'running', a.samplesUpdates, { timeout: o.timeout, polling: 200 });
  const b = (await state(page))!;
  assert.equal(a.backend, backend, 'the page trains on the backend asked for');
  assert.ok(b.step > a.step && b.samplesUpdates > a.samplesUpdates, `live views update: step ${a.step} → ${b.step}, sample views ${a.samplesUpdates} → ${b.samplesUpdates}`);
  if (o.shots) await page.screenshot({ path: path.join(SHOTS, `${o.shots}-running.png`) });
  if (o.pause) {
    await page.click('#pause');
    await until(page, ['paused'], 60_000);
    const held = (await state(page))!.step;
    await page.waitForTimeout(1500);
    assert.equal((await state(page))!.step, held, 'no step while paused');
    await page.click('#resume');
    await until(page, ['running', 'saving', 'done'], 60_000);
  }
  await until(page, ['done', 'error'], o.timeout);
  const end = (await state(page))!;
  assert.equal(end.phase, 'done', `${end.error?.stage}: ${end.error?.message}`);
  if (o.shots) await page.screenshot({ path: path.join(SHOTS, `${o.shots}-done.png`) });
  return end.summary!;
}

test('wasm: 200 steps of dmd2-ring in the page equal a Node run; live views, pause, the run folder zip', { skip, timeout: 900_000 }, async () => {
  const page = await open();
  const sets = ['steps=200', 'evalEvery=50'];
  const summary = await runOnPage(page, 'wasm', sets, 4096, { shots: 'lab-wasm', pause: true, timeout: 600_000 });
  assert.equal(summary.steps, 200);
  assert.equal(summary.backend, 'wasm');
  const node = await nodeRun(sets, 'wasm', 4096);
  assertSameMetrics(summary, node, 'wasm');
  // evaluation beside training: each evaluation along the way was measured in the evaluation Worker, and its energy
  // distance is the Node run's (which evaluates in its training thread) bit for bit
  const evals = (await state(page))!.evaluations;
  assert.deepEqual(evals.map((e) => [e.step, e.inEvalWorker]), [50, 100, 150, 200].map((step) => [step, true]), 'evaluated in the evaluation Worker');
  assert.deepEqual(evals.map((e) => ({ step: e.step, energyDistance: e.metrics.energyDistance })), node.energyDistanceByStep);
  // the run folder, downloaded as the page's link gives it
  const href = await page.getAttribute('#zip', 'href');
  const zip = await page.evaluate(async (u) => Array.from(new Uint8Array(await (await fetch(u!)).arrayBuffer())), href);
  const files = unzipSync(new Uint8Array(zip));
  const id = (await state(page))!.runId!;
  const saved = JSON.parse(strFromU8(files[`${id}/summary.json`]!)) as Summary;
  assert.equal(saved.metrics.energyDistance, summary.metrics.energyDistance);
  for (const f of ['metrics.arrow', 'ir.json', 'report.html', 'samples.png', 'weights/student.safetensors']) assert.ok(files[`${id}/${f}`], f);
  // "Export to PyTorch": the package, with the trained weights in its layout
  const torchHref = await page.getAttribute('#torch', 'href');
  const pkg = unzipSync(new Uint8Array(await page.evaluate(async (u) => Array.from(new Uint8Array(await (await fetch(u!)).arrayBuffer())), torchHref)));
  for (const f of ['graph.py', 'train.py', 'init.safetensors', 'trained.safetensors']) assert.ok(pkg[`${id}-torch/${f}`], f);
  // the graph, the IR and the plan are on their tabs
  await page.click('button[data-tab=graph]');
  assert.match(await page.innerHTML('#tab-graph'), /<svg[\s\S]*student[\s\S]*teacher/);
  await page.screenshot({ path: path.join(SHOTS, 'lab-graph.png'), fullPage: true });
  assert.match((await page.textContent('#tab-plan pre')) ?? '', /update/);
  await page.close();
});

test('webgpu: 200 steps of dmd2-ring in the page equal a Node run on webgpu', { skip, timeout: 1_800_000 }, async (t) => {
  // small enough for SwiftShader, a CPU Vulkan driver: every dispatch costs milliseconds there
  const sets = ['steps=200', 'evalEvery=100', 'batch=32', 'ratio=1', 'fakeWarmup=10'];
  const page = await open();
  const summary = await runOnPage(page, 'webgpu', sets, 256, { shots: 'lab-webgpu', timeout: 1_200_000 });
  assert.equal(summary.backend, 'webgpu');
  // reads are asynchronous on webgpu: evaluation stays in the training worker, overlapping the device's work
  assert.deepEqual((await state(page))!.evaluations.map((e) => [e.step, e.inEvalWorker]), [[100, false], [200, false]]);
  let node: Summary;
  try {
    node = await nodeRun(sets, 'webgpu', 256);
  } catch (e) {
    return t.skip(`no WebGPU adapter in Node to compare with: ${(e as Error).message.split('\n')[0]}`);
  }
  assertSameMetrics(summary, node, 'webgpu');
  await page.close();
});

test('Stop ends the run at a step boundary, evaluations beside it; what it trained is evaluated and saved', { skip, timeout: 300_000 }, async () => {
  const page = await open();
  await setOptions(page, ['steps=5000', 'evalEvery=10', 'fakeWarmup=0']);
  await page.selectOption('#backend', 'wasm');
  await page.fill('#eval-samples', '256');
  await page.click('#run');
  await page.waitForFunction(() => (window as unknown as { lab: LabState }).lab.step >= 20 && (window as unknown as { lab: LabState }).lab.evaluations.length >= 2, null, { timeout: 120_000, polling: 200 });
  await page.click('#stop');
  await until(page, ['done', 'error'], 120_000);
  const s = (await state(page))!;
  assert.equal(s.phase, 'done', s.error?.message);
  assert.ok(s.summary!.stoppedAt! >= 20 && s.summary!.stoppedAt! < 5000, `stopped at ${s.summary!.stoppedAt}`);
  assert.equal(typeof s.summary!.metrics.energyDistance, 'number');
  assert.match((await page.textContent('#status')) ?? '', new RegExp(`stopped at step ${s.summary!.stoppedAt}`));
  assert.ok(s.evaluations.length >= 2 && s.evaluations.every((e) => e.inEvalWorker && e.step % 10 === 0 && e.step <= s.summary!.stoppedAt!), `evaluations beside training: ${JSON.stringify(s.evaluations.map((e) => [e.step, e.inEvalWorker]))}`);
  // the same worker runs again, to the end this time
  await setOptions(page, ['steps=30']);
  await page.click('#run');
  await page.waitForFunction(() => (window as unknown as { lab: LabState }).lab.phase === 'running', null, { timeout: 60_000, polling: 100 });
  await until(page, ['done', 'error'], 120_000);
  const again = (await state(page))!;
  assert.equal(again.phase, 'done', again.error?.message);
  assert.equal(again.summary!.steps, 30);
  assert.equal(again.summary!.stoppedAt, undefined);
  // a fresh evaluation Worker for the second run, with the numbers of a Node run
  const node = await nodeRun(['steps=30', 'evalEvery=10', 'fakeWarmup=0'], 'wasm', 256);
  assert.ok(again.evaluations.every((e) => e.inEvalWorker), 'evaluated in the evaluation Worker');
  assert.deepEqual(again.evaluations.map((e) => ({ step: e.step, energyDistance: e.metrics.energyDistance })), node.energyDistanceByStep);
  await page.close();
});

test('an edit with a type error shows its diagnostic at its line and does not run', { skip, timeout: 300_000 }, async () => {
  const page = await open();
  const text = await page.evaluate(() => document.querySelector('.cm-content')!.textContent);
  assert.ok(text);
  const src = (await (await fetch(`${lab.url}api/source?pipeline=dmd2-ring`)).json()) as { text: string };
  const lines = src.text.split('\n');
  const at = lines.findIndex((l) => /g\.trainable\(/.test(l));
  lines[at] = lines[at]!.replace(/g\.trainable\(/, 'g.trainable(42, ');
  await page.click('.cm-content');
  await page.keyboard.press('Control+A');
  await page.keyboard.insertText(lines.join('\n'));
  await page.click('#run');
  await page.waitForFunction(() => (window as unknown as { lab: { diagnostics: unknown[] } }).lab.diagnostics.length > 0, null, { timeout: 120_000 });
  const diag = (await page.textContent('#diagnostics')) ?? '';
  assert.match(diag, new RegExp(`pipelines/dmd2\\.ts:${at + 1}:\\d+: `), diag);
  assert.ok((await page.locator('.cm-lintRange-error').count()) > 0, 'the error is marked in the editor');
  const s = (await state(page))!;
  assert.equal(s.step, 0);
  assert.equal(s.backend, '', 'nothing ran');
  assert.match((await page.textContent('#status')) ?? '', /type error\(s\): not run/);
  await page.close();
});

test("a bad option value shows that option's error and does not run", { skip, timeout: 300_000 }, async () => {
  const page = await open();
  await setOptions(page, ['ratio=0']);
  await page.click('#run');
  await until(page, ['error'], 120_000);
  const msg = (await page.textContent('#option-error')) ?? '';
  assert.equal(msg, "--set: option 'ratio' must be an integer ≥ 1, got 0");
  assert.equal(await page.locator('#opt-ratio.bad').count(), 1, 'the field is marked');
  assert.equal((await state(page))!.step, 0);
  await setOptions(page, ['ratio=5', 'lrStudent=fast']);
  await page.click('#run');
  await page.waitForFunction(() => document.querySelector('#option-error')!.textContent!.includes('lrStudent'), null, { timeout: 60_000 });
  assert.equal(await page.textContent('#option-error'), "--set lrStudent=fast: option 'lrStudent' must be a number > 0, got 'fast'");
  await page.close();
});
