/** @file graph.py from a plan: per update one straight-line PyTorch function (what cannot carry gradient to the
 * updated role under `torch.no_grad()`, stop-gradients as `.detach()`), the forward-only outputs, and the constants
 * train.py needs (roles, datasets, the schedule, Adam's hyperparameters, the EMA decays). */
import type { GraphIR, IRNode } from '../../dsl/ir/schema.ts';
import type { Plan, PlanStep, UpdatePlan } from '../../dsl/compile/plan.ts';
import { gradientReach } from '../../dsl/ir/verify.ts';
import { nodeLabel } from '../../dsl/ir/print.ts';
import { opDef } from '../../ops/registry.ts';
import { rowUse } from '../../ops/define.ts';
import type { Dim } from '../../dsl/types.ts';
import { UserError } from '../../dsl/errors.ts';
import { TORCH_LOWERINGS, pyLiteral, type EmitCtx, type TorchLowering, type TorchTable } from './lowerings.ts';

/** the batch dim: split across ranks under torchrun */
const BATCH = 'B';


/** Nodes a sharded (multi-rank) run cannot split, with why. */
function shardingRefusals(ir: GraphIR): string[] {
  const types = new Map(ir.nodes.map((n) => [n.id, n.type]));
  const out: string[] = [];
  for (const n of ir.nodes) {
    const shapes = [n.type.shape, ...n.inputs.map((i) => types.get(i)!.shape)];
    if (shapes.some((s) => s.slice(1).includes(BATCH))) out.push(`${nodeLabel(n)}: the batch dim '${BATCH}' sits off axis 0, so the batch cannot be split by rows`);
    else if (opDef(n.op)!.random === 'permutation') out.push(`${nodeLabel(n)}: it permutes the whole batch from one stream, and has no gather rule across ranks`);
  }
  return out;
}

/** the nodes a step list runs (the package compiles its plan unfused: every node is one `run` step) */
function steps(s: PlanStep[]): string[] {
  return s.flatMap((x) => (x.kind === 'run' ? [x.node] : []));
}

class Emitter {
  private byId: Map<string, IRNode>;
  constructor(
    readonly ir: GraphIR,
    readonly table: TorchTable,
  ) {
    this.byId = new Map(ir.nodes.map((n) => [n.id, n]));
  }

  /** one node's assignment */
  node(n: IRNode): string {
    const def = opDef(n.op)!;
    const lowering = this.table[n.op] as TorchLowering<unknown>;
    if ('unsupported' in lowering) throw new UserError(`the torch target cannot run ${nodeLabel(n)}: ${lowering.unsupported}`);
    const ins = n.inputs.map((i) => this.byId.get(i)!);
    const params = def.params.parse(n.params);
    const mixes = rowUse(def, params, ins.map((i) => i.type)) === 'mixes';
    const rowsOut = n.type.shape[0] === BATCH;
    const dim = (d: Dim) => (typeof d === 'number' ? `${d}` : d === BATCH ? (mixes ? 'GB' : 'B') : `rt.dims[${JSON.stringify(d)}]`);
    const ctx: EmitCtx = {
      id: n.id,
      dim,
      shape: (s) => `(${s.map(dim).join(', ')}${s.length === 1 ? ',' : ''})`,
      ranks: ins.map((i) => i.type.shape.length),
      model: (role) => `m[${JSON.stringify(role)}]`,
      draw: (body) => `rt.draw(${JSON.stringify(n.id)}, ${JSON.stringify(rowsOut && !mixes ? 'shard' : 'all')}, lambda g: ${body})`,
    };
    // a node that mixes rows sees the whole batch: its split inputs are gathered, and it keeps its own rows
    const args = ins.map((i) => (mixes && i.type.shape[0] === BATCH ? `rt.gather(${i.id})` : i.id));
    let expr = lowering.emit(args, params, ctx);
    if (mixes && rowsOut) expr = `rt.shard(${expr})`;
    const note = [n.name, n.at].filter(Boolean).join(' — ');
    return `${n.id} = ${expr}${note ? `  # ${note}` : ''}`;
  }

  /** straight-line code for `ids`, with runs of nodes that carry no gradient under torch.no_grad() */
  body(ids: string[], grad: Set<string> | undefined): string[] {
    const lines: string[] = [];
    let inNoGrad = false;
    for (const id of ids) {
      const n = this.byId.get(id)!;
      const g = grad?.has(id) ?? false;
      if (!g && !inNoGrad) (lines.push('with torch.no_grad():'), (inNoGrad = true));
      if (g && inNoGrad) inNoGrad = false;
      lines.push(`${inNoGrad ? '    ' : ''}${this.node(n)}`);
    }
    return lines;
  }

  dimsLine(ids: string[]): string[] {
    const uses = ids.some((id) => {
      const n = this.byId.get(id)!;
      return JSON.stringify(n.params).includes(`"${BATCH}"`) || n.type.shape.includes(BATCH);
    });
    return uses ? [`B, GB = rt.dims[${JSON.stringify(BATCH)}], rt.global_dims[${JSON.stringify(BATCH)}]`] : [];
  }

  update(u: UpdatePlan, i: number): string[] {
    const ids = [...steps(u.pre), ...steps(u.tape)];
    const loss = this.byId.get(u.loss)!;
    const doc = `update ${i}: role '${u.role}' ×${u.ratio}${u.warmup ? `, warm-up ${u.warmup}` : ''}; minimises %${loss.id}${loss.at ? ` (${loss.at})` : ''}`;
    const outs = Object.entries(u.outputs).map(([k, v]) => `${JSON.stringify(k)}: ${v}`);
    return [
      `def update_${i}(m, rt):`,
      `    """${doc}"""`,
      `    rt.begin(${JSON.stringify(`update ${i}`)})`,
      ...[...this.dimsLine(ids), ...this.body(ids, gradientReach(this.ir, u.role))].map((l) => `    ${l}`),
      `    return ${u.loss}, {${outs.join(', ')}}`,
    ];
  }

  outputs(p: NonNullable<Plan['outputs']>): string[] {
    const ids = steps(p.steps);
    return [
      'def outputs(m, rt):',
      '    """the logged values no update computes, forward only"""',
      "    rt.begin('outputs')",
      ...[...this.dimsLine(ids), ...this.body(ids, undefined)].map((l) => `    ${l}`),
      `    return {${Object.entries(p.names).map(([k, v]) => `${JSON.stringify(k)}: ${v}`).join(', ')}}`,
    ];
  }
}

/** graph.py for a plan compiled without fusion (`compile(ir, { fuse: false })`). */
export function emitGraph(plan: Plan, o: { table?: TorchTable } = {}): string {
  const ir = plan.ir;
  const e = new Emitter(ir, o.table ?? TORCH_LOWERINGS);
  const updates = plan.updates.map((u, i) => e.update(u, i).join('\n'));
  const roles = Object.fromEntries(ir.models.map((m) => [m.role, { kind: m.kind, config: m.config, trainable: m.trainable }]));
  const schedule = plan.updates.map((u, i) => ({ fn: `update_${i}`, role: u.role, ratio: u.ratio, warmup: u.warmup, declared: u.declared, adam: pick(u), outputs: Object.keys(u.outputs) }));
  const lines = [
    `"""PyTorch code generated by distillery from the pipeline '${ir.name}' (IR version ${ir.version}). Do not edit: re-export.`,
    '',
    'One function per update of the plan, run by train.py in this order each step; values that cannot carry gradient',
    "to the updated role are computed under torch.no_grad(), a stop-gradient is .detach(). Random draws go through",
    "rt.draw, which replays distillery's own draws when a parity run asks it to.",
    '"""',
    'import torch',
    '',
    'import ops',
    '',
    `PIPELINE = ${JSON.stringify(ir.name)}`,
    `STEPS = ${ir.run.steps}`,
    '#: train.py saves the weights every EVAL_EVERY steps for `distillery evaluate` (0: only the final ones)',
    `EVAL_EVERY = ${ir.eval ? ir.run.evalEvery : 0}`,
    `DIMS = ${pyLiteral(ir.dims)}`,
    `DATASETS = ${pyLiteral(ir.datasets)}`,
    `ROLES = ${pyLiteral(roles)}`,
    "#: each role's call signature (input and output types; 'B' the batch): a --model replacement is checked against it",
    `SIGNATURES = ${pyLiteral(signatures(ir))}`,
    '#: nodes a run split over ranks cannot split (train.py refuses torchrun with these)',
    `SHARDING_REFUSALS = ${pyLiteral(shardingRefusals(ir))}`,
    "#: roles that keep an EMA of their weights → its decay: stepped after each applied update of the role; evaluation",
    '#: and the exported weights read it',
    `EMA = ${pyLiteral(plan.ema)}`,
    '',
    '',
    updates.join('\n\n\n'),
    '',
    '',
    ...(plan.outputs ? [e.outputs(plan.outputs).join('\n'), '', ''] : ['outputs = None', '', '']),
    '#: per step each update `ratio` times in this order; warm-ups first, in declaration order',
    `UPDATES = [`,
    ...schedule.map((s) => `    {${Object.entries(s).map(([k, v]) => `${JSON.stringify(k)}: ${k === 'fn' ? v : pyLiteral(v)}`).join(', ')}},`),
    ']',
    '',
  ];
  return lines.join('\n');
}

/** per role, the types of its first call: what a user's model must accept and return */
function signatures(ir: GraphIR): Record<string, { inputs: [string, Dim[]][]; output: [string, Dim[]] }> {
  const types = new Map(ir.nodes.map((n) => [n.id, n.type]));
  const out: Record<string, { inputs: [string, Dim[]][]; output: [string, Dim[]] }> = {};
  for (const n of ir.nodes)
    if (n.op === 'call' && !out[n.params.model as string])
      out[n.params.model as string] = { inputs: n.inputs.map((i) => [types.get(i)!.dtype, types.get(i)!.shape]), output: [n.type.dtype, n.type.shape] };
  return out;
}

const pick = (u: UpdatePlan) => {
  const a = u.finish.find((s) => s.kind === 'apply')!.optimizer;
  return { lr: a.lr, beta1: a.beta1, beta2: a.beta2, eps: a.eps, ...(a.decay ? { decay: a.decay } : {}) };
};
