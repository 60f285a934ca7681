/** @file The execution plan: per role, a flat list of steps — outside the tape, on the tape, grads, apply, ema, free —
 * with buffer lifetimes computed once and the peak bytes they imply. */
import type { AdamConfig, GraphIR, IRNode } from '../ir/schema.ts';
import { bytesOf, resolveShape, showType } from '../types.ts';
import { ancestors } from './passes.ts';
import { gradientReach } from '../ir/verify.ts';
import { opDef } from '../../ops/registry.ts';
import { modelDef } from '../../ops/models/index.ts';
import type { CallMemory } from '../../ops/models/model.ts';
import type { Expr } from '../../ops/scalar.ts';
import { elementwiseGroups, tapedMeanGroups } from './fuse.ts';
import { decayText } from '../../ops/lr-decay.ts';

export type PlanStep =
  /** `noGrad`: a step of the tape that no gradient passes (it reads a value of the tape, and the loss reads it only
   * through a stop_gradient: the teacher's and fake score's calls of DMD), so it runs on its inputs detached: its dense
   * layers keep no activations for a backward pass, its intermediates are freed when it returns, and the tape does not
   * record its ops */
  | { kind: 'run'; node: string; noGrad?: true }
  /** a chain of elementwise ops as one generated kernel (dsl/compile/fuse.ts): `node` is its output */
  | { kind: 'fused'; node: string; inputs: string[]; members: string[]; expr: Expr }
  /** on a tape: the mean over all elements of a chain of elementwise ops (`node` is the mean, `body` the chain's
   * output), as one generated kernel and tfjs's mean, its gradient as one generated kernel per input in `grads`
   * (dsl/compile/fuse.ts's TapedMean) */
  | { kind: 'fusedMean'; node: string; body: string; inputs: string[]; members: string[]; expr: Expr; grads: (Expr | undefined)[] }
  | { kind: 'free'; bufs: string[] }
  | { kind: 'grads'; role: string; loss: string }
  | { kind: 'apply'; role: string; optimizer: AdamConfig }
  /** after an applied update: the role's moving average ema ← decay·ema + (1 − decay)·w (not after a skipped one) */
  | { kind: 'ema'; role: string; decay: number };

export interface UpdatePlan {
  role: string;
  loss: string;
  ratio: number;
  warmup: number;
  /** position among the graph's `minimize` calls: warm-ups run in this order */
  declared: number;
  /** forward-only work that no gradient of this role passes through: run before the tape, freed at last use */
  pre: PlanStep[];
  /** work recorded on the gradient tape; its buffers live until the optimizer has applied the update */
  tape: PlanStep[];
  /** grads, apply, the role's EMA if it has one, then free what the tape held */
  finish: PlanStep[];
  /** scalar outputs computable from this update's values */
  outputs: Record<string, string>;
  peakBytes: number;
}

export interface ForwardPlan {
  node: string;
  steps: PlanStep[];
  peakBytes: number;
}

export interface Plan {
  ir: GraphIR;
  /** per step: roles in this order, each `ratio` times (critics with ratio > 1 first, as DMD2's TTUR) */
  updates: UpdatePlan[];
  /** scalar outputs no update computes, evaluated forward-only after each step */
  outputs?: ForwardPlan & { names: Record<string, string> };
  /** the evaluated samples, and per-sample values read beside them (name → node) */
  sample?: ForwardPlan & { extras: Record<string, string> };
  /** roles with an EMA of their weights → its decay: evaluation, samples and exported weights read the EMA */
  ema: Record<string, number>;
  /** bytes alive through the whole run: weights of every role, Adam moments of every update, each EMA */
  residentBytes: number;
  /** resident bytes + the largest update's working set */
  peakBytes: number;
}

/** What a model call holds beyond its output (activations kept for the backward pass, its working peak). */
function callMemory(ir: GraphIR, n: IRNode, onTape: boolean): CallMemory {
  if (n.op !== 'call') return { saved: 0, transient: 0 };
  const decl = ir.models.find((m) => m.role === (n.params as { model: string }).model);
  const def = decl && modelDef(decl.kind);
  const cfg = def?.config.safeParse(decl!.config);
  if (!def?.memory || !cfg?.success) return { saved: 0, transient: 0 };
  const rows = resolveShape(n.type.shape, ir.dims)[0] ?? 1;
  return def.memory(cfg.data, rows, onTape);
}

/** Forward-only steps for `targets` over `nodes` (topological), freeing each buffer after its last use; with `fuse`,
 * chains of elementwise ops run as one step each. */
function forwardSteps(ir: GraphIR, all: IRNode[], keep: Set<string>, fuse: boolean): { steps: PlanStep[]; peakBytes: number } {
  const groups = fuse ? elementwiseGroups(all, keep, new Map(ir.nodes.map((n) => [n.id, n.type]))) : [];
  const grouped = new Map(groups.map((g) => [g.node, g]));
  const inner = new Set(groups.flatMap((g) => g.members.filter((m) => m !== g.node)));
  // a group stands where its output stood, reading the group's inputs
  const nodes = all.filter((n) => !inner.has(n.id)).map((n) => (grouped.has(n.id) ? { ...n, inputs: grouped.get(n.id)!.inputs } : n));
  const lastUse = new Map<string, number>();
  nodes.forEach((n, i) => n.inputs.forEach((x) => lastUse.set(x, i)));
  const steps: PlanStep[] = [];
  let live = 0;
  let peak = 0;
  const size = new Map(nodes.map((n) => [n.id, bytesOf(n.type, ir.dims)]));
  nodes.forEach((n, i) => {
    const g = grouped.get(n.id);
    steps.push(g ? { kind: 'fused', node: g.node, inputs: g.inputs, members: g.members, expr: g.expr } : { kind: 'run', node: n.id });
    peak = Math.max(peak, live + callMemory(ir, n, false).transient);
    live += size.get(n.id)!;
    peak = Math.max(peak, live);
    const dead = [...n.inputs, n.id].filter((x, j, a) => a.indexOf(x) === j && !keep.has(x) && (lastUse.get(x) ?? -1) <= i && size.has(x));
    if (dead.length) {
      steps.push({ kind: 'free', bufs: dead });
      for (const d of dead) live -= size.get(d)!;
      for (const d of dead) size.delete(d);
    }
  });
  return { steps, peakBytes: peak };
}


/** The tape's steps: each node, a mean over a fused elementwise chain as one step (with `fuse`); a node no gradient
 * passes marked noGrad. `keep`: values read after the tape (the logged outputs). */
function tapeSteps(ir: GraphIR, tapeNodes: IRNode[], flows: Set<string>, keep: Set<string>, fuse: boolean): PlanStep[] {
  const types = new Map(ir.nodes.map((n) => [n.id, n.type]));
  // the gradient flows on into a value of the tape, computed by a differentiable op (not a stop_gradient)
  const tapeIds = new Map(tapeNodes.map((n) => [n.id, n]));
  const wants = (id: string) => flows.has(id) && tapeIds.has(id) && !!opDef(tapeIds.get(id)!.op)?.differentiable;
  const groups = fuse ? tapedMeanGroups(tapeNodes, flows, keep, types, wants) : [];
  const byMean = new Map(groups.map((g) => [g.node, g]));
  const inner = new Set(groups.flatMap((g) => g.members.filter((m) => m !== g.node)));
  return tapeNodes
    .filter((n) => !inner.has(n.id))
    .map((n): PlanStep => {
      const g = byMean.get(n.id);
      if (g) return { kind: 'fusedMean', node: g.node, body: g.body, inputs: g.inputs, members: g.members, expr: g.expr, grads: g.grads };
      return flows.has(n.id) ? { kind: 'run', node: n.id } : { kind: 'run', node: n.id, noGrad: true };
    });
}

/** The nodes that the gradient of `loss` flows back into: its ancestors along differentiable ops (a stop_gradient,
 * a comparison or a sampler ends the path). `nodes` in topological order. */
function gradientFlow(nodes: readonly IRNode[], loss: string): Set<string> {
  const flows = new Set([loss]);
  for (let i = nodes.length - 1; i >= 0; i--) {
    const n = nodes[i]!;
    if (flows.has(n.id) && opDef(n.op)!.differentiable) for (const x of n.inputs) flows.add(x);
  }
  return flows;
}

export function buildPlan(ir: GraphIR, paramCount: (role: string) => number = () => 0, o: { fuse?: boolean } = {}): Plan {
  const fuse = o.fuse ?? true;
  const order = ir.updates.map((u, declared) => ({ ...u, declared })).sort((a, b) => Number(b.ratio > 1) - Number(a.ratio > 1));
  const covered = new Set<string>();
  const byId = new Map(ir.nodes.map((n) => [n.id, n]));
  // an EMA belongs to its role: declared on one of its updates, it follows all of them
  const ema = Object.fromEntries(ir.updates.flatMap((u) => (u.ema !== undefined ? [[u.role, u.ema] as const] : [])));
  const isRandom = (id: string) => opDef(byId.get(id)!.op)?.random !== undefined;
  // an output is logged by the first update that already draws every random value it depends on
  // (warm-up-only updates, ratio 0, log nothing: they do not run every step)
  const home = new Map<number, string[]>();
  const lossNeeds = order.map((x) => ancestors(ir, [x.loss]));
  for (const [name, id] of Object.entries(ir.outputs)) {
    const srcs = [...ancestors(ir, [id])].filter(isRandom);
    const i = order.findIndex((x, j) => x.ratio > 0 && srcs.every((s) => lossNeeds[j]!.has(s)));
    if (i >= 0) home.set(i, [...(home.get(i) ?? []), name]);
  }
  const updates = order.map((u, i): UpdatePlan => {
    const mine = home.get(i) ?? [];
    const need = ancestors(ir, [u.loss, ...mine.map((k) => ir.outputs[k]!)]);
    const nodes = ir.nodes.filter((n) => need.has(n.id));
    const reach = gradientReach(ir, u.role);
    const flows = gradientFlow(nodes, u.loss);
    // a node goes on the tape when the loss's gradient passes through it on its way to the role's parameters, or when
    // it reads a value of the tape; the role's own calls in a no-grad region (backward simulation's rungs) stay off it
    const onTape = new Set<string>();
    for (const n of nodes) if ((reach.has(n.id) && flows.has(n.id)) || n.inputs.some((i) => onTape.has(i))) onTape.add(n.id);
    const preNodes = nodes.filter((n) => !onTape.has(n.id));
    const tapeNodes = nodes.filter((n) => onTape.has(n.id));
    const outputs = Object.fromEntries(mine.map((k) => [k, ir.outputs[k]!]));
    // what the tape reads, and the logged outputs (read after the tape ran), outlive the pre-tape steps
    const usedByTape = new Set([...tapeNodes.flatMap((n) => n.inputs), ...Object.values(outputs)]);
    const pre = forwardSteps(ir, preNodes, usedByTape, fuse);
    const preHeld = preNodes.filter((n) => usedByTape.has(n.id)).reduce((a, n) => a + bytesOf(n.type, ir.dims), 0);
    // the tape holds every value it computed and what its calls saved for the backward pass; the largest call's
    // working set comes on top, and the backward pass adds one gradient per parameter
    const tapeBytes = tapeNodes.reduce((a, n) => a + bytesOf(n.type, ir.dims) + callMemory(ir, n, flows.has(n.id)).saved, 0);
    const tapeTransient = Math.max(0, ...tapeNodes.map((n) => callMemory(ir, n, flows.has(n.id)).transient));
    const held = [...new Set([...tapeNodes.map((n) => n.id), ...preNodes.filter((n) => usedByTape.has(n.id)).map((n) => n.id)])];
    Object.keys(outputs).forEach((k) => covered.add(k));
    return {
      role: u.role,
      loss: u.loss,
      ratio: u.ratio,
      warmup: u.warmup,
      declared: u.declared,
      pre: pre.steps,
      tape: tapeSteps(ir, tapeNodes, flows, new Set(Object.values(outputs)), fuse),
      finish: [
        { kind: 'grads', role: u.role, loss: u.loss },
        { kind: 'apply', role: u.role, optimizer: u.optimizer },
        ...(ema[u.role] !== undefined ? [{ kind: 'ema', role: u.role, decay: ema[u.role]! } as const] : []),
        { kind: 'free', bufs: held },
      ],
      outputs,
      // the pre-tape steps peak on their own (a call's intermediates are freed when it returns); then what they hand
      // the tape stays while the tape runs and the gradients are taken
      peakBytes: Math.max(pre.peakBytes, preHeld + tapeBytes + tapeTransient + paramCount(u.role) * 4),
    };
  });
  const forward = (ids: string[]): ForwardPlan => {
    const need = ancestors(ir, ids);
    const f = forwardSteps(ir, ir.nodes.filter((n) => need.has(n.id)), new Set(ids), fuse);
    return { node: ids[0]!, ...f };
  };
  const rest = Object.fromEntries(Object.entries(ir.outputs).filter(([k]) => !covered.has(k)));
  // every model's weights, every update's Adam moments and every EMA stay resident for the whole run
  const residentBytes =
    ir.models.reduce((a, m) => a + paramCount(m.role) * 4, 0) + updates.reduce((a, u) => a + paramCount(u.role) * 8, 0) + Object.keys(ema).reduce((a, r) => a + paramCount(r) * 4, 0);
  const plan: Plan = { ir, updates, ema, residentBytes, peakBytes: residentBytes + Math.max(0, ...updates.map((u) => u.peakBytes)) };
  if (Object.keys(rest).length) plan.outputs = { ...forward(Object.values(rest)), names: rest };
  if (ir.eval) plan.sample = { ...forward([ir.eval.samples, ...Object.values(ir.eval.extras ?? {})]), extras: { ...ir.eval.extras } };
  return plan;
}

const mb = (b: number) => `${(b / 2 ** 20).toFixed(2)} MiB`;

function showSteps(ir: GraphIR, steps: PlanStep[], indent: string): string[] {
  const byId = new Map(ir.nodes.map((n) => [n.id, n]));
  return steps.map((s) => {
    switch (s.kind) {
      case 'run': {
        const n = byId.get(s.node)!;
        const params = Object.entries(n.params).map(([k, v]) => `${k}=${typeof v === 'object' ? JSON.stringify(v) : v}`);
        return `${indent}%${n.id} : ${showType(n.type)} = ${n.op}${params.length ? `[${params.join(', ')}]` : ''}(${n.inputs.map((i) => `%${i}`).join(', ')})${s.noGrad ? '  (no gradient: inputs detached)' : ''}`;
      }
      case 'fused': {
        const n = byId.get(s.node)!;
        const ops = s.members.map((m) => byId.get(m)!.op).join(' → ');
        return `${indent}%${n.id} : ${showType(n.type)} = fused[${ops}](${s.inputs.map((i) => `%${i}`).join(', ')})`;
      }
      case 'fusedMean': {
        const n = byId.get(s.node)!;
        const ops = s.members.map((m) => byId.get(m)!.op).join(' → ');
        const grads = s.inputs.filter((_, i) => s.grads[i]).map((i) => `%${i}`);
        return `${indent}%${n.id} : ${showType(n.type)} = fused[${ops}](${s.inputs.map((i) => `%${i}`).join(', ')})  (gradient fused: ${grads.join(', ') || 'none'})`;
      }
      case 'free':
        return `${indent}free ${s.bufs.map((b) => `%${b}`).join(' ')}`;
      case 'grads':
        return `${indent}grads d%${s.loss}/d(${s.role})`;
      case 'apply':
        return `${indent}apply adam(lr=${s.optimizer.lr}${decayText(s.optimizer.decay)}, b1=${s.optimizer.beta1}, b2=${s.optimizer.beta2}) → ${s.role}`;
      case 'ema':
        return `${indent}ema ${s.role} ← ${s.decay}·ema + ${+(1 - s.decay).toPrecision(12)}·${s.role}`;
      default:
        return s satisfies never;
    }
  });
}

export function printPlan(plan: Plan): string {
  const ir = plan.ir;
  const lines = [
    `plan ${ir.name}: per step ${plan.updates.map((u) => `${u.role}×${u.ratio}`).join(', ')}; peak ${mb(plan.peakBytes)} = resident ${mb(plan.residentBytes)} (weights, Adam moments${Object.keys(plan.ema).length ? ', EMA' : ''}) + largest update (B=${ir.dims.B ?? '?'})`,
  ];
  for (const u of plan.updates) {
    lines.push(`update ${u.role} ×${u.ratio}${u.warmup ? ` (warm-up ${u.warmup})` : ''}: working set ${mb(u.peakBytes)} (values, saved activations, gradients)`);
    lines.push('  pre (no tape):', ...showSteps(ir, u.pre, '    '));
    lines.push('  tape:', ...showSteps(ir, u.tape, '    '));
    lines.push(...showSteps(ir, u.finish, '  '));
    for (const [k, v] of Object.entries(u.outputs)) lines.push(`  log ${k} = %${v}`);
  }
  if (plan.outputs) lines.push(`outputs (forward only): peak ${mb(plan.outputs.peakBytes)}`, ...showSteps(ir, plan.outputs.steps, '  '));
  if (plan.sample) lines.push(`sample %${plan.sample.node} (forward only): peak ${mb(plan.sample.peakBytes)}`, ...showSteps(ir, plan.sample.steps, '  '));
  return lines.join('\n');
}
