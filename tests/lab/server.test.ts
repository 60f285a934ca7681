/** The lab's server: it answers only requests addressed to it, stays inside its folder, type-checks and bundles user
 * code without running it, and turns an uploaded run into a run folder, its zip and a PyTorch export. */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import http from 'node:http';
import { unzipSync, strFromU8 } from 'fflate';
import { lastValueFrom } from 'rxjs';
import { startLab, type LabServer } from '../../lab/server/server.ts';
import { packRun } from '../../lab/wire.ts';
import { buildIR } from '../../dsl/pipeline.ts';
import { PIPELINES } from '../../pipelines/index.ts';
import { loadBackend } from '../../gpu/backend.ts';
import { RunSession } from '../../runtime/session.ts';

const FIXTURES = path.resolve(import.meta.dirname, '..', 'fixtures');
let lab: LabServer;
let root: string;

before(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'lab-root-'));
  fs.copyFileSync(path.join(FIXTURES, 'tiny.ts'), path.join(root, 'tiny.ts'));
  fs.writeFileSync(path.join(os.tmpdir(), 'lab-secret.ts'), 'export const secret = 1;\n');
  fs.symlinkSync(path.join(os.tmpdir(), 'lab-secret.ts'), path.join(root, 'link.ts'));
  lab = await startLab({ port: 0, root });
});
after(async () => {
  await lab.close();
  fs.rmSync(root, { recursive: true, force: true });
});

/** a raw request, so that Host and Origin can be anything */
function request(p: string, o: { method?: string; host?: string; origin?: string; body?: string | Uint8Array } = {}): Promise<{ status: number; body: Buffer; type: string }> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { host: o.host ?? `127.0.0.1:${lab.port}` };
    if (o.origin) headers.origin = o.origin;
    if (o.body) headers['content-type'] = typeof o.body === 'string' ? 'application/json' : 'application/zip';
    const req = http.request({ host: '127.0.0.1', port: lab.port, path: p, method: o.method ?? 'GET', headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks), type: String(res.headers['content-type']) }));
    });
    req.on('error', reject);
    req.end(o.body);
  });
}
const postJson = (p: string, v: unknown, o: { origin?: string } = {}) => request(p, { method: 'POST', body: JSON.stringify(v), origin: o.origin ?? `http://127.0.0.1:${lab.port}` });
const json = (r: { body: Buffer }) => JSON.parse(r.body.toString('utf8'));

test('binds the loopback address only', () => {
  assert.match(lab.url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
});

test('refuses a foreign Host (DNS rebinding) or Origin, serves its page to its own', async () => {
  assert.equal((await request('/')).status, 200);
  assert.equal((await request('/', { host: `localhost:${lab.port}` })).status, 200);
  const rebound = await request('/api/pipelines', { host: `attacker.example:${lab.port}` });
  assert.equal(rebound.status, 403);
  assert.match(rebound.body.toString(), /Host 'attacker\.example:\d+' is not this server/);
  assert.equal((await request('/', { host: `127.0.0.1:${lab.port + 1}` })).status, 403);
  const cross = await postJson('/api/check', { source: { kind: 'file', path: 'tiny.ts' }, text: '' }, { origin: 'http://attacker.example' });
  assert.equal(cross.status, 403);
  assert.match(cross.body.toString(), /Origin 'http:\/\/attacker\.example' is not this server/);
});

test('serves only its own assets', async () => {
  for (const p of ['/assets/tfjs/../../package.json', '/assets/tfjs/tfjs-backend-wasm.js', '/assets/worker/nope.js', '/package.json', '/lab/server/server.ts']) assert.equal((await request(p)).status, 404, p);
  const wasm = await request('/assets/tfjs/tfjs-backend-wasm-simd.wasm');
  assert.equal(wasm.status, 200);
  assert.equal(wasm.type, 'application/wasm');
  assert.deepEqual([...wasm.body.subarray(0, 4)], [0x00, 0x61, 0x73, 0x6d]);
  // the evaluation Worker's script: the portable evaluation loop, bundled without Node
  const ev = await request('/assets/eval-worker.js');
  assert.equal(ev.status, 200);
  assert.match(ev.type, /^text\/javascript/);
  assert.match(ev.body.toString(), /function serveEvalWorker\(/);
  assert.doesNotMatch(ev.body.toString(), /(?:from|import)\s*"node:|require\("node:/, 'a static import of a node: module');
});

test('reads only inside its folder: traversal, absolute paths and symlinks out are refused', async () => {
  for (const [p, why] of [
    ['../lab-secret.ts', /outside the lab's folder/],
    ['sub/../../lab-secret.ts', /outside the lab's folder/],
    [path.join(os.tmpdir(), 'lab-secret.ts'), /relative to the lab's folder/],
    ['link.ts', /links outside the lab's folder/],
    ['missing.ts', /no such file: missing\.ts/],
  ] as const) {
    const r = await request(`/api/source?path=${encodeURIComponent(p)}`);
    assert.equal(r.status, 400, p);
    assert.match(json(r).error, why, p);
  }
  const ok = await request('/api/source?path=tiny.ts');
  assert.equal(ok.status, 200);
  assert.match(json(ok).text, /pipeline\('tiny'/);
  // a pasted file may only name a file in the folder itself
  const pasted = await postJson('/api/check', { source: { kind: 'paste', name: '../../x.ts' }, text: 'export const a: number = 1;\n' });
  assert.equal(pasted.status, 200, pasted.body.toString());
  assert.equal(json(pasted).file, 'x.ts');
  assert.equal(fs.existsSync(path.join(root, 'x.ts')), false, 'checking a pasted file writes nothing');
});

test('Check: type errors at their line and column; Run (bundle) refuses them and bundles a good file', async () => {
  const good = fs.readFileSync(path.join(root, 'tiny.ts'), 'utf8');
  const lines = good.split('\n');
  const at = lines.findIndex((l) => l.includes("g.trainable('student'"));
  lines[at] = lines[at]!.replace("g.trainable('student'", 'g.trainable(42');
  const bad = lines.join('\n');
  for (const route of ['/api/check', '/api/bundle']) {
    const r = json(await postJson(route, { source: { kind: 'file', path: 'tiny.ts' }, text: bad }));
    assert.equal(r.ok, false, route);
    assert.equal(r.worker, undefined, `${route}: nothing to run`);
    const d = r.diagnostics.find((x: { inEditor: boolean }) => x.inEditor);
    assert.equal(d.line, at + 1);
    assert.equal(d.column, lines[at]!.indexOf('42') + 1);
    assert.match(d.message, /not assignable to parameter of type 'string'/);
  }
  assert.equal(fs.readFileSync(path.join(root, 'tiny.ts'), 'utf8'), good, 'the file on disk is not touched');
  const r = json(await postJson('/api/bundle', { source: { kind: 'file', path: 'tiny.ts' }, text: good }));
  assert.equal(r.ok, true);
  const js = await request(r.worker);
  assert.equal(js.status, 200);
  assert.match(js.body.toString(), /serveWorker/);
  assert.doesNotMatch(js.body.toString(), /from\s*["']node:/, 'the worker bundle imports nothing from Node');
});

test('a file opened from elsewhere (not on disk here) type-checks and bundles from its text', async () => {
  const text = fs.readFileSync(path.join(FIXTURES, 'tiny.ts'), 'utf8');
  const r = json(await postJson('/api/bundle', { source: { kind: 'paste', name: 'from-elsewhere.ts' }, text }));
  assert.equal(r.ok, true, JSON.stringify(r));
  assert.match((await request(r.worker)).body.toString(), /pipeline\("tiny"|pipeline\('tiny'/);
  assert.equal(fs.existsSync(path.join(root, 'from-elsewhere.ts')), false);
  // 'distillery' in the lab is the portable core: a file that imports the Node runtime fails Check as it would Run
  const nodeOnly = json(await postJson('/api/check', { source: { kind: 'paste', name: 'x.ts' }, text: "import { runIR } from 'distillery';\nconsole.log(runIR);\n" }));
  assert.equal(nodeOnly.ok, false);
  assert.match(nodeOnly.diagnostics[0].message, /runIR/);
});

test('a built-in pipeline: its source is the file that declares it; its edited text is what gets bundled', async () => {
  const list = json(await request('/api/pipelines')) as { name: string; file: string }[];
  assert.deepEqual(list.find((p) => p.name === 'dmd2-ring')?.file, 'pipelines/dmd2.ts');
  const src = json(await request('/api/source?pipeline=dmd2-ring'));
  assert.equal(src.file, 'pipelines/dmd2.ts');
  const edited = src.text.replace(/\n$/, '\nconst marker: string = "lab-edit-marker";\nconsole.log(marker);\n');
  const r = json(await postJson('/api/bundle', { source: { kind: 'builtin', name: 'dmd2-ring' }, text: edited }));
  assert.equal(r.ok, true, JSON.stringify(r.diagnostics));
  assert.match((await request(r.worker)).body.toString(), /lab-edit-marker/);
  assert.equal(json(await request('/api/source?pipeline=nope')).error, `unknown pipeline 'nope'; choose one of ${Object.keys(PIPELINES).join(', ')}`);
});

test('an uploaded run becomes a run folder, a zip of it and a PyTorch export; garbage is refused', async () => {
  const bad = await request('/api/runs', { method: 'POST', body: new Uint8Array([1, 2, 3]), origin: `http://127.0.0.1:${lab.port}` });
  assert.equal(bad.status, 400);
  assert.match(json(bad).error, /not a lab run/);
  assert.equal(fs.existsSync(path.join(root, 'lab-runs')), false, 'nothing half-written');

  const ir = buildIR(PIPELINES['dmd2-ring']!, { steps: 3, batch: 16, evalEvery: 0 });
  const s = new RunSession(ir, await loadBackend('cpu'), { seed: 1, evalSamples: 256 });
  await lastValueFrom(s.train());
  const r = await s.finish();
  s.dispose();
  const up = await request('/api/runs', { method: 'POST', body: packRun({ ir, config: { steps: 3 }, planText: s.planText, ...r }), origin: `http://127.0.0.1:${lab.port}` });
  assert.equal(up.status, 200, up.body.toString());
  const { id, zip, torch } = json(up);
  const dir = path.join(root, 'lab-runs', id);
  for (const f of ['summary.json', 'metrics.arrow', 'samples.arrow', 'samples.png', 'ir.json', 'report.html', 'weights/student.safetensors', 'weights/fake.safetensors']) assert.ok(fs.existsSync(path.join(dir, f)), f);
  const files = unzipSync(new Uint8Array((await request(zip)).body));
  const summary = JSON.parse(strFromU8(files[`${id}/summary.json`]!));
  assert.equal(summary.metrics.energyDistance, r.summary.metrics.energyDistance);
  const pkg = unzipSync(new Uint8Array((await request(torch)).body));
  for (const f of ['graph.py', 'train.py', 'init.safetensors', 'trained.safetensors']) assert.ok(pkg[`${id}-torch/${f}`], f);
  assert.equal((await request('/api/runs/..%2F..%2Fetc.zip')).status, 400);
  // a forged seed cannot steer the folder out of lab-runs/, and an IR that loads files is refused
  const forged = await request('/api/runs', { method: 'POST', body: packRun({ ir, config: {}, planText: '', ...r, summary: { ...r.summary, seed: 'x/../../../../escaped' as never } }), origin: `http://127.0.0.1:${lab.port}` });
  assert.equal(forged.status, 400);
  assert.match(json(forged).error, /seed is not an integer/);
  const loads = { ...ir, models: ir.models.map((m) => (m.role === 'student' ? { ...m, initFrom: '/etc/some.safetensors' } : m)) };
  const refused = await request('/api/runs', { method: 'POST', body: packRun({ ir: loads, config: {}, planText: '', ...r }), origin: `http://127.0.0.1:${lab.port}` });
  assert.equal(refused.status, 400);
  assert.match(json(refused).error, /loads weights from a file/);
  assert.deepEqual(fs.readdirSync(path.join(root, 'lab-runs')), [id]);
});

test('`distillery lab` prints its URL, serves the page, stops on SIGINT; a bad port is one clean error', async () => {
  const { spawn } = await import('node:child_process');
  const { cli, oneCleanError } = await import('../cli-helpers.ts');
  oneCleanError(cli('lab', '--port', 'x'), /--port must be an integer ≥ 0, got 'x'/);
  const child = spawn(process.execPath, [path.resolve(import.meta.dirname, '..', '..', 'bin', 'distillery.mjs'), 'lab', '--port', '0'], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /(http:\/\/127\.0\.0\.1:\d+\/)/.exec(out);
      if (m) resolve(m[1]!);
    });
    child.on('exit', (code) => reject(new Error(`lab exited ${code}: ${out}`)));
  });
  assert.match(out, /runs go to lab-runs\//);
  const page = await fetch(url);
  assert.equal(page.status, 200);
  assert.match(await page.text(), /<title>distillery lab<\/title>/);
  const code = await new Promise<number | null>((resolve) => (child.on('exit', resolve), child.kill('SIGINT')));
  assert.equal(code, 0);
});
