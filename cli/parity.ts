/** @file `distillery parity`: the same updates natively (cpu backend) and in the exported PyTorch package, from the same
 * initial weights and the same draws (replayed by value), compared loss by loss and weight by weight (the EMA of a role
 * that keeps one too); with ranks > 1
 * also a DDP run against the single-process one on the same global draws. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { GraphIR } from '../dsl/ir/schema.ts';
import { compile } from '../dsl/compile/index.ts';
import { ancestors } from '../dsl/compile/passes.ts';
import { UserError } from '../dsl/errors.ts';
import { loadBackend } from '../gpu/backend.ts';
import { Executor } from '../runtime/executor.ts';
import { initialWeights } from '../ops/models/init.ts';
import { decodeSafetensors, encodeSafetensors, loadSafetensors, type StoredTensor } from '../runtime/safetensors.ts';
import { exportPipeline } from './export.ts';
import { runTrain } from './python.ts';

export interface ParityOptions {
  updates: number;
  ranks: number;
  seed: number;
  /** warm-ups are cut to this many updates each, so `updates` reach the main loop */
  warmup: number;
  /** keep the package and the runs here (default: a temporary folder, removed) */
  keepDir?: string;
  log?: (line: string) => void;
}

export interface RoleReport {
  role: string;
  /** worst relative difference of this role's loss over its updates, and the tolerance that applies */
  worstLoss: number;
  lossTolerance: number;
  /** ‖Δw‖/‖w‖ of the final weights */
  weights: number;
  /** the same for the role's EMA of its weights, where it keeps one */
  ema?: number;
  updates: number;
}

export interface ParityReport {
  pipeline: string;
  updates: number;
  roles: RoleReport[];
  /** torch per update: [update, role, native loss, torch loss, relative difference] */
  perUpdate: { update: number; role: string; native: number; torch: number; rel: number; tolerance: number }[];
  /** with ranks > 1: DDP vs one process, worst relative difference of losses and weights (EMAs included) */
  ddp?: { ranks: number; worstLoss: number; worstWeights: number; tolerance: number };
  pass: boolean;
}

const WEIGHT_TOL = 1e-4;
const DDP_TOL = 1e-5;

/** a loss divided by a per-sample statistic (DMD's normaliser) amplifies float32 rounding: it gets 1e-3, others 1e-4 */
function lossTolerance(ir: GraphIR, loss: string): number {
  const byId = new Map(ir.nodes.map((n) => [n.id, n]));
  const amplified = [...ancestors(ir, [loss])].some((id) => {
    const n = byId.get(id)!;
    return n.op === 'div' && [...ancestors(ir, [n.inputs[1]!])].some((a) => ['sum', 'mean', 'max', 'min'].includes(byId.get(a)!.op));
  });
  return amplified ? 1e-3 : 1e-4;
}

const rel = (a: number, b: number) => (a === b ? 0 : Math.abs(a - b) / Math.max(Math.abs(b), 1e-12));
type Weights = Record<string, Float32Array>;

/** ‖a − b‖/‖b‖ over every parameter of a role (b's names) */
function relNorm(a: Weights, b: Weights): number {
  let d = 0;
  let n = 0;
  for (const [k, bk] of Object.entries(b)) for (let i = 0; i < bk.length; i++) (d += (a[k]![i]! - bk[i]!) ** 2), (n += bk[i]! ** 2);
  return Math.sqrt(d) / Math.max(Math.sqrt(n), 1e-30);
}

/** a run's final weights per role: as trained, and as evaluated (the EMA, for the roles that keep one) */
interface Final {
  weights: Map<string, Weights>;
  ema: Map<string, Weights>;
}

const roleOk = (x: RoleReport) => x.worstLoss <= x.lossTolerance && x.weights <= WEIGHT_TOL && (x.ema ?? 0) <= WEIGHT_TOL;

interface Native extends Final {
  losses: { role: string; update: number; loss: number }[];
  draws: Record<string, StoredTensor>;
  evaluations: string[];
  steps: number;
}

/** Run `updates` updates of the schedule natively on cpu, recording every draw per evaluation of the graph. */
async function runNative(ir: GraphIR, seed: number, updates: number): Promise<Native> {
  const backend = await loadBackend('cpu');
  const plan = compile(ir);
  const draws: Record<string, StoredTensor> = {};
  const evaluations: string[] = [];
  const exe = new Executor(backend, plan, seed, initialWeights(ir, seed, loadSafetensors), {
    onDraw: (n, v) => {
      const data = v.dataSync();
      const shape = [...v.shape];
      draws[`e${evaluations.length - 1}/${n.id}`] = data instanceof Int32Array ? { shape, data: Int32Array.from(data) } : { shape, data: Float32Array.from(data) };
    },
  });
  const losses: Native['losses'] = [];
  const run = (i: number, step = 0) => {
    evaluations.push(`update ${i}`);
    losses.push({ role: plan.updates[i]!.role, update: i, loss: exe.update(plan.updates[i]!, step).loss });
  };
  try {
    const order = plan.updates.map((u, i) => ({ u, i })).sort((a, b) => a.u.declared - b.u.declared);
    for (const { u, i } of order) for (let k = 0; k < u.warmup && losses.length < updates; k++) run(i);
    let steps = 0;
    while (losses.length < updates && steps < ir.run.steps) {
      steps++;
      for (const [i, u] of plan.updates.entries()) for (let r = 0; r < u.ratio && losses.length < updates; r++) run(i, steps);
      if (plan.outputs && losses.length < updates) {
        evaluations.push('outputs');
        exe.outputs();
      }
    }
    const host = (role: string, which: 'raw' | 'eval') => Object.fromEntries(Object.entries(exe.hostWeights(role, which)).map(([k, t]) => [k, t.data]));
    const trained = ir.models.filter((m) => m.trainable).map((m) => m.role);
    const weights = new Map(trained.map((r) => [r, host(r, 'raw')]));
    const ema = new Map(trained.filter((r) => exe.hasEma(r)).map((r) => [r, host(r, 'eval')]));
    return { losses, weights, ema, draws, evaluations, steps };
  } finally {
    exe.dispose();
  }
}

/** the torch run's losses and final weights: weights/<role>.safetensors is the EMA where a role keeps one, and its
 * trained weights are then <role>.raw.safetensors */
function readTorch(run: string, roles: string[], emaRoles: Set<string>): Final & { losses: number[] } {
  const lines = fs.readFileSync(path.join(run, 'updates.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { loss: number });
  const read = (f: string) => Object.fromEntries(Object.entries(decodeSafetensors(fs.readFileSync(path.join(run, 'weights', f))).tensors).map(([k, t]) => [k, t.data]));
  const weights = new Map(roles.map((r) => [r, read(emaRoles.has(r) ? `${r}.raw.safetensors` : `${r}.safetensors`)]));
  const ema = new Map(roles.filter((r) => emaRoles.has(r)).map((r) => [r, read(`${r}.safetensors`)]));
  return { losses: lines.map((l) => l.loss), weights, ema };
}

export async function parity(ir0: GraphIR, o: ParityOptions): Promise<ParityReport> {
  if (o.updates < 1) throw new UserError('--updates must be at least 1');
  const ir: GraphIR = { ...ir0, updates: ir0.updates.map((u) => ({ ...u, warmup: Math.min(u.warmup, o.warmup) })) };
  const log = o.log ?? (() => {});
  const dir = o.keepDir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'distillery-parity-'));
  try {
    // first: it refuses what the torch target cannot run before anything runs
    const pkg = path.join(dir, 'package');
    exportPipeline(ir, { to: 'torch', out: pkg, seed: o.seed });
    log(`native: ${o.updates} updates of '${ir.name}' on cpu…`);
    const native = await runNative(ir, o.seed, o.updates);
    const replay = path.join(dir, 'draws.safetensors');
    fs.writeFileSync(replay, encodeSafetensors(native.draws, { evaluations: JSON.stringify(native.evaluations) }));
    const trainable = ir.models.filter((m) => m.trainable).map((m) => m.role);
    const plan = compile(ir);
    const emaRoles = new Set(Object.keys(plan.ema));
    const torchRun = (ranks: number) => {
      const out = path.join(dir, `torch-${ranks}`);
      log(`torch: the same ${o.updates} updates on ${ranks} process${ranks > 1 ? 'es (torchrun, DDP)' : ''}…`);
      const r = runTrain(pkg, ['--out', out, '--replay', replay, '--updates', String(o.updates), '--steps', String(native.steps), '--seed', String(o.seed), '--quiet'], { ranks, threads: ranks > 1 ? 1 : 2 });
      if (r.status !== 0) throw new UserError(`the exported package failed (${ranks} process${ranks > 1 ? 'es' : ''}):\n${r.output.trim().split('\n').slice(-15).join('\n')}`);
      return readTorch(out, trainable, emaRoles);
    };
    const one = torchRun(1);
    if (one.losses.length !== native.losses.length) throw new UserError(`the torch run made ${one.losses.length} updates, the native one ${native.losses.length}`);
    const tol = plan.updates.map((u) => lossTolerance(plan.ir, u.loss));
    const perUpdate = native.losses.map((x, i) => ({ update: i + 1, role: x.role, native: x.loss, torch: one.losses[i]!, rel: rel(one.losses[i]!, x.loss), tolerance: tol[x.update]! }));
    const roles: RoleReport[] = trainable
      .filter((r) => perUpdate.some((u) => u.role === r))
      .map((role) => {
        const mine = perUpdate.filter((u) => u.role === role);
        // the update of this role closest to its tolerance decides
        const worst = mine.reduce((a, u) => (u.rel / u.tolerance > a.rel / a.tolerance ? u : a));
        const ema = emaRoles.has(role) ? { ema: relNorm(one.ema.get(role)!, native.ema.get(role)!) } : {};
        return { role, worstLoss: worst.rel, lossTolerance: worst.tolerance, weights: relNorm(one.weights.get(role)!, native.weights.get(role)!), ...ema, updates: mine.length };
      });
    let pass = roles.every(roleOk);
    const report: ParityReport = { pipeline: ir.name, updates: perUpdate.length, roles, perUpdate, pass };
    if (o.ranks > 1) {
      const many = torchRun(o.ranks);
      const worstLoss = Math.max(...many.losses.map((l, i) => rel(l, one.losses[i]!)));
      const worstWeights = Math.max(...trainable.map((r) => relNorm(many.weights.get(r)!, one.weights.get(r)!)), ...[...emaRoles].map((r) => relNorm(many.ema.get(r)!, one.ema.get(r)!)));
      report.ddp = { ranks: o.ranks, worstLoss, worstWeights, tolerance: DDP_TOL };
      pass &&= worstLoss <= DDP_TOL && worstWeights <= DDP_TOL;
      report.pass = pass;
    }
    return report;
  } finally {
    if (!o.keepDir) fs.rmSync(dir, { recursive: true, force: true });
  }
}

export function printParity(r: ParityReport): string {
  const e = (x: number) => x.toExponential(2);
  const lines = [`parity ${r.pipeline}: ${r.updates} updates, cpu backend vs PyTorch float32 (same initial weights, same draws)`];
  for (const x of r.roles)
    lines.push(`  ${x.role.padEnd(10)} ${String(x.updates).padStart(4)} updates  worst loss rel diff ${e(x.worstLoss)} (tol ${e(x.lossTolerance)})  final weights ‖Δw‖/‖w‖ ${e(x.weights)}${x.ema !== undefined ? `, EMA ${e(x.ema)}` : ''} (tol ${e(WEIGHT_TOL)})  ${roleOk(x) ? 'ok' : 'FAIL'}`);
  if (r.ddp) lines.push(`  DDP ${r.ddp.ranks} ranks vs 1 process: worst loss rel diff ${e(r.ddp.worstLoss)}, weights ${e(r.ddp.worstWeights)} (tol ${e(r.ddp.tolerance)})  ${r.ddp.worstLoss <= r.ddp.tolerance && r.ddp.worstWeights <= r.ddp.tolerance ? 'ok' : 'FAIL'}`);
  lines.push(r.pass ? 'parity: pass' : 'parity: FAIL');
  return lines.join('\n');
}
