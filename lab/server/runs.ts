/** @file The lab's run folders: a run finished in the page becomes a run folder under `<root>/lab-runs/` (the same
 * files as `distillery run` writes), served back as a zip, and exportable as a PyTorch package. */
import fs from 'node:fs';
import path from 'node:path';
import { zipSync } from 'fflate';
import { parseIR } from '../../dsl/ir/verify.ts';
import { GraphError, UserError } from '../../dsl/errors.ts';
import { RunFolder } from '../../runtime/files.ts';
import { writeRunOutputs } from '../../runtime/run.ts';
import { exportPipeline } from '../../cli/export.ts';
import { unpackRun } from '../wire.ts';
import { decodeSafetensors, encodeSafetensors } from '../../runtime/safetensors.ts';

export const RUNS = 'lab-runs';

/** a run id: the folder's name, letters, digits, '-', '_' and '.' only */
const ID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,120}$/;

const stamp = (d: Date) => d.toISOString().replace(/[-:]/g, '').replace('T', '-').slice(0, 15);

/** Write the uploaded run (lab/wire.ts) as `<root>/lab-runs/<pipeline>-s<seed>-<time>`; returns its id. */
export async function saveRun(root: string, upload: Uint8Array): Promise<string> {
  let run;
  try {
    run = unpackRun(upload);
  } catch (e) {
    throw new UserError(`the run upload is not a lab run: ${(e as Error).message}`);
  }
  const { ir, issues } = parseIR(run.ir);
  if (!ir) throw new GraphError(issues);
  for (const name of Object.keys(run.weights)) if (!/^[A-Za-z0-9_.-]+\.safetensors$/.test(name)) throw new UserError(`the run upload has a weights file named '${name}'`);
  const seed = run.summary?.seed;
  if (!Number.isSafeInteger(seed) || seed < 0) throw new UserError(`the run upload's seed is not an integer ≥ 0`);
  // a browser run has no files to load weights from; an IR that names some would make the export read them here
  const named = ir.models.find((m) => m.initFrom !== undefined || m.load !== undefined);
  if (named) throw new UserError(`the run upload's model '${named.role}' loads weights from a file, which a run in the page cannot do`);
  const base = `${ir.name.replace(/[^A-Za-z0-9_-]/g, '_')}-s${seed}-${stamp(new Date())}`;
  let id = base;
  for (let i = 2; fs.existsSync(path.join(root, RUNS, id)); i++) id = `${base}-${i}`;
  const runs = path.join(root, RUNS);
  if (!ID.test(id) || path.dirname(path.join(runs, id)) !== runs) throw new UserError(`the run upload would be saved as '${id}'`);
  if (fs.existsSync(runs) && fs.realpathSync(runs) !== runs) throw new UserError(`${RUNS} in the lab's folder links elsewhere: not writing there`);
  const folder = new RunFolder(path.join(root, RUNS, id));
  try {
    await writeRunOutputs(folder, { ir, planText: run.planText, config: run.config, result: run, ...(ir.eval ? { target: ir.datasets[ir.eval.target] } : {}) });
    folder.commit();
  } catch (e) {
    folder.discard();
    throw e;
  }
  return id;
}

/** the folder of run `id`, which must exist */
export function runDir(root: string, id: string): string {
  if (!ID.test(id)) throw new UserError(`no run '${id}'`);
  const dir = path.join(root, RUNS, id);
  if (!fs.existsSync(path.join(dir, 'summary.json'))) throw new UserError(`no run '${id}'`);
  return dir;
}

/** every file under `dir` (relative names, '/'-separated), skipping `skip` */
function filesUnder(dir: string, skip: (rel: string) => boolean = () => false): Record<string, Uint8Array> {
  const out: Record<string, Uint8Array> = {};
  const walk = (rel: string) => {
    for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (skip(r)) continue;
      if (e.isDirectory()) walk(r);
      else if (e.isFile()) out[r] = fs.readFileSync(path.join(dir, r));
    }
  };
  walk('');
  return out;
}

/** the run folder as a zip, under a top folder named by the id */
export function zipRun(root: string, id: string): Uint8Array {
  const dir = runDir(root, id);
  const files = filesUnder(dir, (r) => r === 'torch' || r.startsWith('.staging-'));
  return zipSync(Object.fromEntries(Object.entries(files).map(([k, v]) => [`${id}/${k}`, v])));
}

/** The run's graph as a PyTorch package (`distillery export`) plus `trained.safetensors`: init.safetensors with each
 * trained role's weights as this run left them (the raw weights where the role kept an EMA), so that
 * `python3 train.py --init trained.safetensors` continues from the run. Returned as a zip. */
export function exportRun(root: string, id: string): Uint8Array {
  const dir = runDir(root, id);
  const { ir, issues } = parseIR(JSON.parse(fs.readFileSync(path.join(dir, 'ir.json'), 'utf8')));
  if (!ir) throw new GraphError(issues);
  const seed = (JSON.parse(fs.readFileSync(path.join(dir, 'summary.json'), 'utf8')) as { seed: number }).seed;
  const out = path.join(dir, 'torch');
  if (!fs.existsSync(out)) exportPipeline(ir, { to: 'torch', out, seed });
  const files = filesUnder(out);
  const init = decodeSafetensors(files['init.safetensors']!, 'init.safetensors');
  for (const m of ir.models.filter((x) => x.trainable)) {
    const raw = path.join(dir, 'weights', `${m.role}.raw.safetensors`);
    const file = fs.existsSync(raw) ? raw : path.join(dir, 'weights', `${m.role}.safetensors`);
    for (const [k, t] of Object.entries(decodeSafetensors(fs.readFileSync(file), file).tensors)) init.tensors[`${m.role}/${k}`] = t;
  }
  files['trained.safetensors'] = encodeSafetensors(init.tensors, { ...init.metadata, trainedIn: id });
  return zipSync(Object.fromEntries(Object.entries(files).map(([k, v]) => [`${id}-torch/${k}`, v])));
}
