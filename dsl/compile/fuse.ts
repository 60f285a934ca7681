/** @file Elementwise fusion: chains of f32 elementwise ops become one generated kernel (gpu/kernels: a JS loop on
 * cpu and wasm, WGSL on webgpu). Only off the gradient tape: a fused group has no gradient of its own. */
import type { IRNode } from '../ir/schema.ts';
import type { Shape } from '../types.ts';
import { opDef } from '../../ops/registry.ts';
import { input, type Expr } from '../../ops/scalar.ts';

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
