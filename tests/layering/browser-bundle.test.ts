/** The library core runs in a browser Web Worker unchanged: the DSL, the pipelines, the compiler, the backends, the
 * executor, training, evaluation, the safetensors bytes, the Arrow sink and the metrics bundle with esbuild for the
 * browser (where a Node builtin does not resolve); none of our modules in the bundle reaches Node or generates code
 * outside the elementwise kernel's guarded site; and the bundle trains a pipeline on the cpu and wasm backends in a
 * worker stripped of Node's globals (process, Buffer, setImmediate) that refuses `new Function`, as a strict CSP does,
 * the wasm backend fetching its .wasm file from the URL given as `wasmPaths`. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import * as esbuild from 'esbuild';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** what a lab worker imports (as namespaces: their names may overlap) */
const PORTABLE = [
  'dsl/index.ts',
  'pipelines/index.ts',
  'dsl/compile/index.ts',
  'gpu/backend.ts',
  'runtime/executor.ts',
  'runtime/init.ts',
  'runtime/train.ts',
  'runtime/evaluate.ts',
  'runtime/eval-worker/serve.ts',
  'runtime/eval-worker/client.ts',
  'runtime/safetensors-bytes.ts',
  'runtime/sinks/arrow.ts',
  ...fs.readdirSync(path.join(root, 'ops/metrics')).filter((f) => f.endsWith('.ts')).map((f) => `ops/metrics/${f}`),
];
const entry = PORTABLE.map((f, i) => `export * as m${i} from './${f}';`).join('\n');

/** Node-only packages backend.ts imports dynamically on paths a browser never takes (it has navigator.gpu) */
const EXTERNAL = ['webgpu', '@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu'];
const OURS = /^(dsl|ops|gpu|runtime|pipelines)\//;
/** the one place that may generate code: the elementwise host loop, which falls back to closures when refused */
const CODEGEN_SITE = 'gpu/kernels/elementwise.ts';

async function bundle(): Promise<{ text: string; metafile: esbuild.Metafile }> {
  try {
    const r = await esbuild.build({
      stdin: { contents: entry, resolveDir: root, loader: 'ts', sourcefile: 'lab-worker-entry.ts' },
      absWorkingDir: root,
      bundle: true,
      write: false,
      platform: 'browser',
      format: 'esm',
      metafile: true,
      logLevel: 'silent',
      external: EXTERNAL,
    });
    return { text: r.outputFiles[0]!.text, metafile: r.metafile };
  } catch (e) {
    const errors = (e as esbuild.BuildFailure).errors ?? [];
    assert.fail(`esbuild for the browser failed:\n${errors.map((m) => `${m.location?.file ?? '?'}:${m.location?.line ?? '?'}: ${m.text}`).join('\n') || (e as Error).message}`);
  }
}

/** the bundle's text by source module (esbuild, unminified, heads each module's code with a `// path` line) */
function sections(text: string): Map<string, string> {
  const out = new Map<string, string>();
  let current = '';
  for (const line of text.split('\n')) {
    const m = /^\/\/ (\S+\.(?:ts|js|mjs|cjs))$/.exec(line);
    if (m) current = m[1]!;
    else out.set(current, (out.get(current) ?? '') + line + '\n');
  }
  return out;
}

let built: Promise<{ text: string; metafile: esbuild.Metafile }> | undefined;
const once = () => (built ??= bundle());

test('the core bundles for the browser, and none of our modules in it reaches Node', async () => {
  const { text, metafile } = await once();
  const ours = Object.keys(metafile.inputs).filter((f) => OURS.test(f));
  for (const f of PORTABLE) assert.ok(ours.includes(f), `${f} is in the bundle`);
  for (const f of ours) {
    const externals = metafile.inputs[f]!.imports.filter((i) => i.external);
    for (const i of externals) assert.ok(f === 'gpu/backend.ts' && EXTERNAL.includes(i.path) && i.kind === 'dynamic-import', `${f} imports ${i.path} (${i.kind}), which a browser cannot load`);
  }
  assert.doesNotMatch(text, /(?:from|import)\s*"node:|require\("node:/, 'a static import of a node: module');

  const bySource = sections(text);
  const ourSections = [...bySource.keys()].filter((f) => OURS.test(f));
  assert.ok(ourSections.length >= ours.length * 0.8, `the bundle heads modules with their paths (found ${ourSections.length} of ${ours.length})`);
  for (const f of ourSections) {
    const code = bySource.get(f)!;
    assert.doesNotMatch(code, /\brequire\(|\bBuffer\.|\bsetImmediate\(|__dirname|\beval\(/, `${f} uses a Node global or eval`);
    if (f !== CODEGEN_SITE) assert.doesNotMatch(code, /new Function\(/, `${f} generates code`);
  }
  assert.match(bySource.get(CODEGEN_SITE) ?? '', /new Function\(/, 'the elementwise kernel (the guarded site) is found by its path');
});

/** runs in a worker_threads Worker (CommonJS, eval): strip Node's globals, refuse `new Function`, serve tfjs's .wasm
 * files as a page would (over fetch from an https URL), then import the bundle and train on cpu, then on wasm */
const WORKER = String.raw`
const { parentPort, workerData } = require('node:worker_threads');
const { pathToFileURL } = require('node:url');
const fs = require('node:fs');
const post = (m) => parentPort.postMessage(m);
// a page without cross-origin isolation (no SharedArrayBuffer: tfjs picks the unthreaded wasm) and without streaming
// compilation (Node's Response needs Node's globals), in a worker at an https address
for (const k of ['process', 'Buffer', 'setImmediate', 'clearImmediate', 'global', 'SharedArrayBuffer']) delete globalThis[k];
delete WebAssembly.instantiateStreaming;
globalThis.self = globalThis;
globalThis.WorkerGlobalScope = class WorkerGlobalScope {};
globalThis.importScripts = () => { throw new Error('importScripts: not in this test'); };
globalThis.location = new URL('https://lab.invalid/worker/lab-worker.js'); // not where the .wasm files are
const fetched = [];
globalThis.fetch = async (url) => {
  const u = String(url);
  fetched.push(u);
  if (!u.startsWith(workerData.site)) return { ok: false, status: 404 };
  const b = fs.readFileSync(workerData.wasmDir + u.slice(workerData.site.length));
  return { ok: true, status: 200, arrayBuffer: async () => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) };
};
const RealFunction = Function;
let refused = 0;
globalThis.Function = new Proxy(RealFunction, {
  construct: () => { refused++; throw new EvalError("Refused to evaluate a string as JavaScript: 'unsafe-eval' is not allowed"); },
});
(async () => {
  const stripped = ['process', 'Buffer', 'setImmediate'].filter((k) => typeof globalThis[k] !== 'undefined');
  const mods = await import(pathToFileURL(workerData.file).href);
  const at = (f) => mods['m' + workerData.portable.indexOf(f)];
  const dsl = at('dsl/index.ts'), { PIPELINES } = at('pipelines/index.ts'), { loadBackend } = at('gpu/backend.ts');
  const { Executor } = at('runtime/executor.ts'), { initialWeights } = at('runtime/init.ts'), { train } = at('runtime/train.ts');
  const { evalSetup } = at('runtime/evaluate.ts'), st = at('runtime/safetensors-bytes.ts'), { metricsToArrow } = at('runtime/sinks/arrow.ts');
  const noFiles = (f) => { throw new Error('a worker has no files: ' + f); };
  const run = async (backend, steps, evaluate) => {
    const ir = dsl.buildIR(PIPELINES['dmd2-ring'], { steps, evalEvery: steps, batch: 64 });
    const b = await loadBackend(backend, backend === 'wasm' ? { wasmPaths: workerData.site } : {});
    const exe = new Executor(b, dsl.compile(ir), 1, initialWeights(ir, 1, noFiles));
    const events = await new Promise((resolve, reject) => {
      const seen = [];
      train(exe, steps, evaluate ? evalSetup(exe, 256) : undefined, steps).subscribe({ next: (e) => seen.push(e), error: reject, complete: () => resolve(seen) });
    });
    return { ir, exe, events, summary: { backend: b.name, steps: events.map((e) => e.step), losses: events.flatMap((e) => Object.values(e.losses)), evaluated: events.filter((e) => e.eval).map((e) => e.step) } };
  };
  const cpu = await run('cpu', 3, true);
  const weights = cpu.exe.hostWeights('student');
  const back = st.decodeSafetensors(st.encodeSafetensors(weights, { role: 'student' }));
  const same = Object.keys(weights).every((k) => weights[k].data.every((v, i) => Object.is(v, back.tensors[k].data[i])));
  const arrow = metricsToArrow(cpu.events.map((e) => ({ step: e.step, ...e.losses, evaluated: e.eval ? 1 : null })));
  cpu.exe.backend.tf.disposeVariables(); // the next executor registers the same variable names
  const wasm = await run('wasm', 2, false);
  post({
    stripped,
    refused,
    callsite: cpu.ir.nodes.map((n) => n.at).filter((a) => a !== undefined).length,
    cpu: cpu.summary,
    wasm: wasm.summary,
    fetched,
    roundTrip: same && back.metadata.role === 'student' && Object.keys(back.tensors).length === Object.keys(weights).length,
    arrowBytes: arrow.length,
  });
})().catch((e) => post({ error: String(e && e.stack || e) }));
`;

test('the bundle trains dmd2-ring in a worker without process, Buffer, setImmediate or new Function: cpu, and wasm from served .wasm files', async () => {
  const { text } = await once();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'distillery-browser-'));
  const file = path.join(dir, 'core.mjs');
  fs.writeFileSync(file, text);
  const site = 'https://lab.invalid/tfjs/';
  const wasmDir = path.join(root, 'node_modules/@tensorflow/tfjs-backend-wasm/dist/');
  try {
    const r = await new Promise<Record<string, any>>((resolve, reject) => {
      const w = new Worker(WORKER, { eval: true, workerData: { file, portable: PORTABLE, site, wasmDir } });
      w.once('message', (m) => (resolve(m), void w.terminate()));
      w.once('error', reject);
    });
    assert.equal(r.error, undefined, String(r.error));
    assert.deepEqual(r.stripped, [], 'the worker has none of Node’s globals');
    assert.equal(r.callsite, 0, 'no callsites without a cwd');
    assert.ok(r.refused >= 1, 'the fused elementwise kernels asked for `new Function` and ran as closures');
    for (const [run, steps, evaluated] of [['cpu', [1, 2, 3], [3]], ['wasm', [1, 2], []]] as const) {
      assert.equal(r[run].backend, run);
      assert.deepEqual(r[run].steps, steps, run);
      assert.ok(r[run].losses.length >= steps.length && r[run].losses.every(Number.isFinite), `${run}: finite losses ${r[run].losses}`);
      assert.deepEqual(r[run].evaluated, evaluated, run);
    }
    assert.ok(r.fetched.length > 0 && r.fetched.every((u: string) => u.startsWith(site) && u.endsWith('.wasm')), `wasm fetched its binary under wasmPaths: ${r.fetched}`);
    assert.equal(r.roundTrip, true, 'safetensors bytes round-trip');
    assert.ok(r.arrowBytes > 0);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
