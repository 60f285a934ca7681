/**
 * @file Checkpoints: the full training state every N steps, written atomically (a temporary folder renamed into
 * place, so a crash leaves either a whole checkpoint or none), keeping the last K. Layout of
 * `<run>/checkpoints/step-00000500/`: state.json (step, RNG counter, update counters, run options, metric rows so
 * far), ir.json, weights.safetensors (`role/param`), optimizer.safetensors (`u<i>/m|v/param`), and ema.safetensors
 * (`role/param`) when a role keeps a moving average of its weights.
 */
import fs from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import type { GraphIR } from '../dsl/ir/schema.ts';
import { parseIR } from '../dsl/ir/verify.ts';
import { GraphError, UserError } from '../dsl/errors.ts';
import type { ExecutorState } from './executor.ts';
import { decodeSafetensors, encodeSafetensors } from './safetensors.ts';

export const CHECKPOINT_FORMAT = 'distillery-checkpoint';
export const CHECKPOINT_VERSION = 1;

const Counters = z.object({
  evaluations: z.int().min(0),
  adamSteps: z.array(z.int().min(0)),
  nonFinite: z.record(z.string(), z.int().min(0)),
  nonFiniteInARow: z.record(z.string(), z.int().min(0)),
});

/** what a resumed run needs besides the tensors */
export const CheckpointState = z.object({
  format: z.literal(CHECKPOINT_FORMAT),
  version: z.literal(CHECKPOINT_VERSION),
  pipeline: z.string(),
  step: z.int().min(0),
  counters: Counters,
  run: z.object({
    seed: z.int(),
    backend: z.string(),
    steps: z.int().min(1),
    evalSamples: z.int().min(1).optional(),
    diagnose: z.array(z.string()).optional(),
    checkpointEvery: z.int().min(0),
    keep: z.int().min(1),
    maxNonFinite: z.int().min(1).optional(),
  }),
  config: z.record(z.string(), z.unknown()).optional(),
  /** metric rows of the steps done so far, so the resumed run's metrics.arrow is whole */
  rows: z.array(z.record(z.string(), z.unknown())),
  /** training seconds spent before this checkpoint */
  trainSeconds: z.number().min(0),
  nonFiniteEvents: z.array(z.object({ step: z.int(), role: z.string() })),
});
export type CheckpointState = z.infer<typeof CheckpointState>;

export interface Checkpoint {
  dir: string;
  state: CheckpointState;
  ir: GraphIR;
  exec: ExecutorState;
}

export const checkpointName = (step: number) => `step-${String(step).padStart(8, '0')}`;
const STEP_RE = /^step-(\d{8})$/;

/** Write a checkpoint into `<runDir>/checkpoints/` atomically and drop all but the newest `keep`. Returns its folder. */
export function writeCheckpoint(runDir: string, state: Omit<CheckpointState, 'counters'>, ir: GraphIR, exec: ExecutorState, keep: number): string {
  const root = path.join(runDir, 'checkpoints');
  fs.mkdirSync(root, { recursive: true });
  const tmp = fs.mkdtempSync(path.join(root, '.writing-'));
  const put = (name: string, data: string | Uint8Array) => {
    const fd = fs.openSync(path.join(tmp, name), 'w');
    try {
      fs.writeSync(fd, typeof data === 'string' ? Buffer.from(data, 'utf8') : data);
      fs.fsyncSync(fd); // on disk before the rename makes the checkpoint visible
    } finally {
      fs.closeSync(fd);
    }
  };
  put('ir.json', JSON.stringify(ir));
  put('weights.safetensors', encodeSafetensors(exec.weights, { format: CHECKPOINT_FORMAT }));
  put('optimizer.safetensors', encodeSafetensors(exec.optimizer, { format: CHECKPOINT_FORMAT }));
  if (Object.keys(exec.ema).length) put('ema.safetensors', encodeSafetensors(exec.ema, { format: CHECKPOINT_FORMAT }));
  put('state.json', JSON.stringify({ ...state, counters: exec.counters }, null, 1));
  const final = path.join(root, checkpointName(state.step));
  fs.rmSync(final, { recursive: true, force: true });
  fs.renameSync(tmp, final);
  for (const old of listCheckpoints(runDir).slice(0, -keep)) fs.rmSync(old, { recursive: true, force: true });
  return final;
}

/** complete checkpoint folders of a run, oldest first (folders still being written are never listed) */
export function listCheckpoints(runDir: string): string[] {
  const root = path.join(runDir, 'checkpoints');
  if (!fs.existsSync(root)) return [];
  return fs
    .readdirSync(root)
    .filter((n) => STEP_RE.test(n))
    .sort()
    .map((n) => path.join(root, n));
}

/** Remove the leftovers of a checkpoint write that a crash interrupted. */
export function removeUnfinished(runDir: string): void {
  const root = path.join(runDir, 'checkpoints');
  if (!fs.existsSync(root)) return;
  for (const n of fs.readdirSync(root)) if (n.startsWith('.writing-')) fs.rmSync(path.join(root, n), { recursive: true, force: true });
}

/** Load a checkpoint folder, or the newest one of a run folder; every problem is one UserError naming the file. */
export function loadCheckpoint(dir: string): Checkpoint {
  if (!fs.existsSync(dir)) throw new UserError(`--resume '${dir}': no such folder`);
  let cdir = dir;
  if (!fs.existsSync(path.join(dir, 'state.json'))) {
    const all = listCheckpoints(dir);
    if (!all.length) throw new UserError(`--resume '${dir}': no checkpoint in ${path.join(dir, 'checkpoints')} (run with --checkpoint-every N to write them)`);
    cdir = all[all.length - 1]!;
  }
  const read = (name: string): Buffer => {
    try {
      return fs.readFileSync(path.join(cdir, name));
    } catch (e) {
      throw new UserError(`checkpoint ${cdir}: cannot read ${name}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  };
  const json = (name: string): unknown => {
    try {
      return JSON.parse(read(name).toString('utf8'));
    } catch (e) {
      if (e instanceof UserError) throw e;
      throw new UserError(`checkpoint ${cdir}: ${name} is not valid JSON (truncated?)`);
    }
  };
  const st = CheckpointState.safeParse(json('state.json'));
  if (!st.success) {
    const i = st.error.issues[0]!;
    throw new UserError(`checkpoint ${cdir}: state.json: '${i.path.join('.') || '(root)'}' ${i.message}`);
  }
  const parsed = parseIR(json('ir.json'));
  if (!parsed.ir) throw new UserError(`checkpoint ${cdir}: ir.json does not parse: ${new GraphError(parsed.issues).message.split('\n')[0]}`);
  const weights = decodeSafetensors(read('weights.safetensors'), path.join(cdir, 'weights.safetensors')).tensors;
  const optimizer = decodeSafetensors(read('optimizer.safetensors'), path.join(cdir, 'optimizer.safetensors')).tensors;
  // only a run whose IR has an EMA writes (and needs) one
  const hasEma = parsed.ir.updates.some((u) => u.ema !== undefined);
  const ema = hasEma ? decodeSafetensors(read('ema.safetensors'), path.join(cdir, 'ema.safetensors')).tensors : {};
  return { dir: cdir, state: st.data, ir: parsed.ir, exec: { weights, optimizer, ema, counters: st.data.counters } };
}
