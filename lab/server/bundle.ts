/**
 * @file esbuild for the lab: the page's script, the evaluation Worker's, and one Worker script per Run — the pipeline (a built-in, or the
 * editor's text standing in for its file) with the training loop of lab/worker/serve.ts. User code is only bundled
 * here, never run: it runs in the page's Worker.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';
import { UserError } from '../../dsl/errors.ts';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

/** Packages that only Node loads (behind checks a browser never passes): left out of browser bundles. */
export const NODE_ONLY = ['webgpu', '@tensorflow/tfjs-node', '@tensorflow/tfjs-node-gpu'];

/** `import … from 'distillery'` in a browser bundle: the portable core (files and the CLI stay in Node) */
const distilleryAlias = (overlay?: { file: string; text: string }): esbuild.Plugin => ({
  name: 'distillery',
  setup(b) {
    b.onResolve({ filter: /^distillery(\/.*)?$/ }, (a) => ({ path: a.path === 'distillery' ? path.join(ROOT, 'core.ts') : path.join(ROOT, a.path.slice('distillery/'.length)) }));
    // the editor's file need not exist on disk (a file opened from elsewhere): it resolves to its stand-in path
    if (overlay) b.onResolve({ filter: /.*/ }, (a) => (a.resolveDir && path.resolve(a.resolveDir, a.path) === overlay.file ? { path: overlay.file } : undefined));
    if (overlay) b.onLoad({ filter: /\.[cm]?ts$/ }, (a) => (path.resolve(a.path) === overlay.file ? { contents: overlay.text, loader: 'ts', resolveDir: path.dirname(overlay.file) } : undefined));
  },
});

const common: esbuild.BuildOptions = { bundle: true, platform: 'browser', format: 'esm', target: 'es2022', write: false, logLevel: 'silent', external: NODE_ONLY, legalComments: 'none' };

function failure(e: unknown, what: string): never {
  const errs = (e as { errors?: esbuild.Message[] }).errors;
  if (!errs?.length) throw e;
  const where = (m: esbuild.Message) => (m.location ? `${path.relative(process.cwd(), m.location.file) || m.location.file}:${m.location.line}:${m.location.column + 1}: ` : '');
  throw new UserError(`${what} does not bundle:\n${errs.map((m) => `${where(m)}${m.text}`).join('\n')}`);
}

/** one entry point bundled for the browser; a bundling error names `what` */
async function bundleEntry(entry: string[], what: string, minify: boolean): Promise<string> {
  try {
    const r = await esbuild.build({ ...common, entryPoints: [path.join(ROOT, ...entry)], minify });
    return r.outputFiles![0]!.text;
  } catch (e) {
    failure(e, what);
  }
}

/** the page's script (lab/page/main.ts and CodeMirror) */
export const bundlePage = () => bundleEntry(['lab', 'page', 'main.ts'], 'the lab page', true);

/** the evaluation Worker's script (lab/worker/eval.ts): the same for every pipeline, since it is sent the IR */
export const bundleEvalWorker = () => bundleEntry(['lab', 'worker', 'eval.ts'], 'the evaluation worker', false);

export type WorkerSource = { kind: 'builtin'; name: string } | { kind: 'file'; file: string };

/** A Worker script for a built-in pipeline (by name) or a pipeline file (absolute path); `text`, when given, stands in
 * for that file's contents (the editor's unsaved text; for a built-in, its declaring file). */
export async function bundleWorker(src: WorkerSource, overlay?: { file: string; text: string }): Promise<string> {
  const q = (p: string) => JSON.stringify(p);
  const serve = path.join(ROOT, 'lab', 'worker', 'serve.ts');
  const entry =
    src.kind === 'builtin'
    ? `import { PIPELINES } from ${q(path.join(ROOT, 'pipelines', 'index.ts'))};\nimport { serveWorker } from ${q(serve)};\nserveWorker(PIPELINES[${q(src.name)}]);\n`
    : `import * as mod from ${q(src.file)};\nimport { isPipeline } from ${q(path.join(ROOT, 'dsl', 'pipeline.ts'))};\nimport { serveWorker } from ${q(serve)};\n` +
      `const def = isPipeline(mod.default) ? mod.default : Object.values(mod).find(isPipeline);\n` +
      `if (!def) throw new Error(${q(`${path.basename(src.file)} exports no pipeline (export default pipeline(...))`)});\nserveWorker(def);\n`;
  try {
    const r = await esbuild.build({ ...common, stdin: { contents: entry, resolveDir: ROOT, sourcefile: 'lab-worker-entry.ts', loader: 'ts' }, plugins: [distilleryAlias(overlay)], minify: false });
    return r.outputFiles![0]!.text;
  } catch (e) {
    failure(e, src.kind === 'builtin' ? `pipeline '${src.name}'` : path.basename(src.file));
  }
}
