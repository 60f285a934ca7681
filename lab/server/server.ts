/**
 * @file `distillery lab`: a local HTTP server (127.0.0.1 only) for one page that edits, checks, runs and watches a
 * pipeline. It serves its own assets only; it type-checks and bundles user code but never runs it (the page's Worker
 * does); it reads and writes only inside the folder it was started in (`root`).
 */
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { createRequire } from 'node:module';
import { randomBytes } from 'node:crypto';
import { UserError, GraphError } from '../../dsl/errors.ts';
import { PIPELINES } from '../../pipelines/index.ts';
import { checkFile } from '../../runtime/check.ts';
import { bundleEvalWorker, bundlePage, bundleWorker, ROOT, type WorkerSource } from './bundle.ts';
import { insideRoot, refusal } from './guard.ts';
import { exportRun, RUNS, saveRun, zipRun } from './runs.ts';

/** where the editor's text comes from: a built-in's declaring file, a file under the root, or a pasted file */
type Source = { kind: 'builtin'; name: string } | { kind: 'file'; path: string } | { kind: 'paste'; name: string };

const MAX_BODY = 64 * 1024 * 1024;
const CSP = "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";
const WASM_FILES = ['tfjs-backend-wasm.wasm', 'tfjs-backend-wasm-simd.wasm', 'tfjs-backend-wasm-threaded-simd.wasm'];

export interface LabServer {
  url: string;
  port: number;
  root: string;
  close(): Promise<void>;
}

/** the declaring file of a built-in pipeline (its `at`, file:line, is relative to the cwd the CLI started in) */
function builtinFile(name: string): string {
  const def = PIPELINES[name];
  if (!def) throw new UserError(`unknown pipeline '${name}'; choose one of ${Object.keys(PIPELINES).join(', ')}`);
  const file = def.at?.replace(/:\d+$/, '');
  if (!file) throw new UserError(`pipeline '${name}' does not know where it was declared`);
  const abs = path.resolve(file);
  if (!abs.startsWith(ROOT + path.sep)) throw new UserError(`pipeline '${name}' was declared outside distillery`);
  return abs;
}

/** a built-in's declaring file relative to distillery, or null where it is not known */
function shownBuiltin(name: string): string | null {
  try {
    return path.relative(ROOT, builtinFile(name)).split(path.sep).join('/');
  } catch {
    return null;
  }
}

/** the file a source's text stands for, and how the worker bundle reaches the pipeline */
function resolveSource(root: string, s: Source): { file: string; shown: string; worker: WorkerSource } {
  if (s?.kind === 'builtin') {
    const file = builtinFile(s.name);
    return { file, shown: path.relative(ROOT, file).split(path.sep).join('/'), worker: { kind: 'builtin', name: s.name } };
  }
  if (s?.kind === 'file' || s?.kind === 'paste') {
    const rel = s.kind === 'file' ? s.path : path.basename(String(s.name ?? ''));
    if (!/\.m?ts$/.test(rel)) throw new UserError(`'${rel}': a pipeline file is TypeScript (.ts)`);
    const file = insideRoot(root, rel, s.kind === 'file' ? 'exist' : 'maybe');
    return { file, shown: path.relative(root, file).split(path.sep).join('/'), worker: { kind: 'file', file } };
  }
  throw new UserError("a source is { kind: 'builtin', name } | { kind: 'file', path } | { kind: 'paste', name }");
}

async function body(req: http.IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of req) {
    n += (c as Buffer).length;
    if (n > MAX_BODY) throw new UserError(`request body over ${MAX_BODY >> 20} MiB`);
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

async function json<T>(req: http.IncomingMessage): Promise<T> {
  try {
    return JSON.parse((await body(req)).toString('utf8')) as T;
  } catch (e) {
    if (e instanceof UserError) throw e;
    throw new UserError('the request body is not JSON');
  }
}

export async function startLab(o: { port?: number; root?: string } = {}): Promise<LabServer> {
  const root = fs.realpathSync(o.root ?? process.cwd());
  const wasmDir = path.join(path.dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist');
  let page: Promise<string> | undefined;
  let evalWorker: Promise<string> | undefined;
  const workers = new Map<string, string>();
  let port = o.port ?? 0;

  const send = (res: http.ServerResponse, status: number, type: string, data: string | Uint8Array, extra: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff', 'content-security-policy': CSP, 'cross-origin-resource-policy': 'same-origin', ...extra });
    res.end(data);
  };
  const sendJson = (res: http.ServerResponse, status: number, v: unknown) => send(res, status, 'application/json; charset=utf-8', JSON.stringify(v));
  const sendZip = (res: http.ServerResponse, name: string, data: Uint8Array) => send(res, 200, 'application/zip', data, { 'content-disposition': `attachment; filename="${name}"` });

  async function route(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', `http://127.0.0.1:${port}`);
    const p = url.pathname;
    const m = req.method ?? 'GET';
    if (m === 'GET' && (p === '/' || p === '/index.html')) return send(res, 200, 'text/html; charset=utf-8', fs.readFileSync(path.join(ROOT, 'lab', 'page', 'index.html')));
    if (m === 'GET' && p === '/assets/page.css') return send(res, 200, 'text/css; charset=utf-8', fs.readFileSync(path.join(ROOT, 'lab', 'page', 'page.css')));
    if (m === 'GET' && p === '/assets/page.js') return send(res, 200, 'text/javascript; charset=utf-8', await (page ??= bundlePage()));
    if (m === 'GET' && p === '/assets/eval-worker.js') return send(res, 200, 'text/javascript; charset=utf-8', await (evalWorker ??= bundleEvalWorker()));
    if (m === 'GET' && p.startsWith('/assets/tfjs/')) {
      const name = p.slice('/assets/tfjs/'.length);
      if (!WASM_FILES.includes(name)) return send(res, 404, 'text/plain', 'not found');
      return send(res, 200, 'application/wasm', fs.readFileSync(path.join(wasmDir, name)));
    }
    if (m === 'GET' && p.startsWith('/assets/worker/')) {
      const js = workers.get(p.slice('/assets/worker/'.length));
      return js ? send(res, 200, 'text/javascript; charset=utf-8', js) : send(res, 404, 'text/plain', 'not found');
    }
    if (m === 'GET' && p === '/api/pipelines')
      return sendJson(res, 200, Object.entries(PIPELINES).map(([name, d]) => ({ name, description: d.description ?? '', file: shownBuiltin(name) })));
    if (m === 'GET' && p === '/api/source') {
      const s: Source = url.searchParams.has('pipeline') ? { kind: 'builtin', name: url.searchParams.get('pipeline')! } : { kind: 'file', path: url.searchParams.get('path') ?? '' };
      const r = resolveSource(root, s);
      return sendJson(res, 200, { file: r.shown, text: fs.readFileSync(r.file, 'utf8') });
    }
    if (m === 'POST' && (p === '/api/check' || p === '/api/bundle')) {
      const q = await json<{ source: Source; text: string }>(req);
      if (typeof q.text !== 'string') throw new UserError('the request has no text');
      const r = resolveSource(root, q.source);
      const diagnostics = checkFile(r.file, { text: q.text, distillery: 'core.ts' }).map((d) => ({ ...d, inEditor: path.resolve(d.file) === r.file }));
      if (p === '/api/check' || diagnostics.length) return sendJson(res, 200, { ok: diagnostics.length === 0, file: r.shown, diagnostics });
      const id = `${randomBytes(8).toString('hex')}.js`;
      workers.set(id, await bundleWorker(r.worker, { file: r.file, text: q.text }));
      return sendJson(res, 200, { ok: true, file: r.shown, diagnostics, worker: `/assets/worker/${id}` });
    }
    if (m === 'POST' && p === '/api/runs') {
      const id = await saveRun(root, await body(req));
      return sendJson(res, 200, { id, dir: `${RUNS}/${id}`, zip: `/api/runs/${id}.zip`, torch: `/api/runs/${id}/torch.zip` });
    }
    const run = /^\/api\/runs\/([^/]+?)(\.zip|\/torch\.zip)$/.exec(p);
    if (m === 'GET' && run) return run[2] === '.zip' ? sendZip(res, `${run[1]}.zip`, zipRun(root, run[1]!)) : sendZip(res, `${run[1]}-torch.zip`, exportRun(root, run[1]!));
    send(res, 404, 'text/plain', 'not found');
  }

  const server = http.createServer((req, res) => {
    const why = refusal({ host: req.headers.host, origin: req.headers.origin }, port);
    if (why) return send(res, 403, 'text/plain; charset=utf-8', `refused: ${why}\n`);
    route(req, res).catch((e: unknown) => {
      const user = e instanceof UserError || e instanceof GraphError;
      if (!user) console.error(e);
      if (!res.headersSent) sendJson(res, user ? 400 : 500, { error: (e as Error).message });
      else res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => reject(e.code === 'EADDRINUSE' ? new UserError(`port ${port} is in use; choose another with --port N (0: any free port)`) : e));
    server.listen(port, '127.0.0.1', resolve);
  });
  port = (server.address() as { port: number }).port;
  return {
    url: `http://127.0.0.1:${port}/`,
    port,
    root,
    close: () => new Promise<void>((r) => (server.closeAllConnections(), server.close(() => r()))),
  };
}
