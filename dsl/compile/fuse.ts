/** @file Elementwise fusion: chains of f32 elementwise ops become one generated kernel (gpu/kernels: a JS loop on
 * cpu and wasm, WGSL on webgpu). Off the gradient tape any chain; on it, a chain that a mean over all its elements
 * reads (a loss: ‖a − b‖² and the like), with a gradient generated from the ops' rules (ops/scalar-grad.ts). */
import type { IRNode } from '../ir/schema.ts';
import type { Shape } from '../types.ts';
import { opDef } from '../../ops/registry.ts';
import { input, type Expr } from '../../ops/scalar.ts';
import { differentiableFns, inputGradients } from '../../ops/scalar-grad.ts';

export interface FusedGroup {
  /** the group's one output: its last node */
  node: string;
  /** the values it reads from outside, in the order of the expression's x0, x1, … */
  inputs: string[];
  /** every node computed by the group, the output included, in graph order */
  members: string[];
  expr: Expr;
}

export type Broadcast = 'full' | 'row' | 'col' | 'scalar';

/** The most values one fused kernel reads: WebGPU guarantees 8 storage buffers per shader stage (a device may allow
 * more only when asked), and the kernel's output takes one of them. */
export const MAX_FUSED_INPUTS = 7;

/** How a value of shape `s` is read at the elements of an output of shape `out`, or undefined if it cannot be. */
function broadcastMode(s: Shape, out: Shape): Broadcast | undefined {
  const same = (a: Shape, b: Shape) => a.length === b.length && a.every((d, i) => d === b[i]);
  if (same(s, out)) return 'full';
  if (s.every((d) => d === 1)) return 'scalar';
  if (out.length !== 2) return undefined;
  if (s.length === 2 && s[1] === 1 && s[0] === out[0]) return 'row';
  if ((s.length === 1 && s[0] === out[1]) || (s.length === 2 && s[0] === 1 && s[1] === out[1])) return 'col';
  return undefined;
}

/**
 * Maximal groups of two or more f32 elementwise ops among `nodes` (topological). A member other than the group's
 * output feeds only members and is not in `keep` (read after these steps); every value the group reads must
 * broadcast to the output's shape. `types` holds the type of every node the members read.
 */
export function elementwiseGroups(nodes: readonly IRNode[], keep: ReadonlySet<string>, types: ReadonlyMap<string, IRNode['type']>): FusedGroup[] {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const consumers = new Map<string, string[]>();
  for (const n of nodes) for (const i of n.inputs) consumers.set(i, [...(consumers.get(i) ?? []), n.id]);
  const fusible = (n: IRNode, out: Shape) =>
    !!opDef(n.op)?.scalar &&
    n.type.dtype === 'f32' &&
    broadcastMode(n.type.shape, out) !== undefined &&
    n.inputs.every((i) => types.get(i)?.dtype === 'f32' && broadcastMode(types.get(i)!.shape, out) !== undefined);
  /** the distinct values a set of members reads from outside it */
  const externalInputs = (ids: string[]) => {
    const set = new Set(ids);
    return new Set(ids.flatMap((m) => byId.get(m)!.inputs.filter((i) => !set.has(i)))).size;
  };
  const taken = new Set<string>();
  const groups: FusedGroup[] = [];
  for (let k = nodes.length - 1; k >= 0; k--) {
    const sink = nodes[k]!;
    const out = sink.type.shape;
    if (taken.has(sink.id) || !fusible(sink, out)) continue;
    const members = new Set([sink.id]);
    for (let grew = true; grew; ) {
      grew = false;
      for (const m of [...members])
        for (const i of byId.get(m)!.inputs) {
          const n = byId.get(i);
          if (!n || members.has(i) || taken.has(i) || keep.has(i) || !fusible(n, out)) continue;
          if (!(consumers.get(i) ?? []).every((c) => members.has(c))) continue;
          if (externalInputs([...members, i]) > MAX_FUSED_INPUTS) continue;
          members.add(i);
          grew = true;
        }
    }
    if (members.size < 2) continue;
    const inputs: string[] = [];
    const memo = new Map<string, Expr>();
    const exprOf = (id: string): Expr => {
      if (!members.has(id)) {
        let j = inputs.indexOf(id);
        if (j < 0) j = inputs.push(id) - 1;
        return input(j);
      }
      let e = memo.get(id);
      if (!e) {
        const n = byId.get(id)!;
        const def = opDef(n.op)!;
        e = def.scalar!(def.params.parse(n.params))(n.inputs.map(exprOf));
        memo.set(id, e);
      }
      return e;
    };
    const expr = exprOf(sink.id);
    members.forEach((m) => taken.add(m));
    groups.push({ node: sink.id, inputs, members: nodes.filter((n) => members.has(n.id)).map((n) => n.id), expr });
  }
  return groups;
}

/** A mean over every element of an elementwise chain, on a gradient tape: `node` is the mean, `body` the chain's
 * output (the mean's input), `grads[i]` the gradient of input i over the inputs and the upstream gradient dy/N
 * (input `inputs.length`), undefined where no gradient reaches input i. */
export interface TapedMean extends FusedGroup {
  body: string;
  grads: (Expr | undefined)[];
}

/**
 * The means over all elements among `nodes` (a tape's, topological) whose input is a chain of two or more elementwise
 * ops that can be differentiated to the bit (ops/scalar-grad.ts): every member a single function with a rule, of the
 * chain's shape (only the inputs broadcast), read by the chain alone, on the gradient's path (`flows`) and not in
 * `keep`. `wants(id)`: whether the gradient flows on into that value (the inputs that get one).
 */
export function tapedMeanGroups(nodes: readonly IRNode[], flows: ReadonlySet<string>, keep: ReadonlySet<string>, types: ReadonlyMap<string, IRNode['type']>, wants: (id: string) => boolean): TapedMean[] {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const consumers = new Map<string, string[]>();
  for (const n of nodes) for (const i of n.inputs) consumers.set(i, [...(consumers.get(i) ?? []), n.id]);
  const fns = new Set<string>(differentiableFns());
  const same = (a: Shape, b: Shape) => a.length === b.length && a.every((d, i) => d === b[i]);
  // one function of the node's own inputs, with a rule
  const single = (n: IRNode) => {
    const def = opDef(n.op);
    if (!def?.scalar || n.type.dtype !== 'f32' || !flows.has(n.id)) return false;
    const e = def.scalar(def.params.parse(n.params))(n.inputs.map((_, j) => input(j)));
    return e.k === 'f' && fns.has(e.f) && e.a.every((x, j) => x.k === 'in' && x.i === j) && n.inputs.every((i) => types.get(i)?.dtype === 'f32');
  };
  const chains = new Map(elementwiseGroups(nodes, keep, types).map((g) => [g.node, g]));
  const out: TapedMean[] = [];
  for (const mean of nodes) {
    if (mean.op !== 'mean' || !flows.has(mean.id)) continue;
    const body = byId.get(mean.inputs[0]!);
    const p = mean.params as { axes?: number[] };
    if (!body || (p.axes && new Set(p.axes.map((a) => (a < 0 ? a + body.type.shape.length : a))).size !== body.type.shape.length)) continue;
    const shape = body.type.shape;
    const g = chains.get(body.id);
    if (!g || keep.has(body.id) || (consumers.get(body.id) ?? []).length !== 1) continue;
    if (!g.members.every((m) => single(byId.get(m)!) && same(byId.get(m)!.type.shape, shape))) continue;
    const broadcast = g.inputs.map((i) => !same(types.get(i)!.shape, shape));
    const grads = inputGradients(g.expr, g.inputs.length, broadcast);
    if (!grads) continue;
    out.push({ ...g, node: mean.id, members: [...g.members, mean.id], body: body.id, grads: grads.map((e, i) => (wants(g.inputs[i]!) ? e : undefined)) });
  }
  return out;
}
