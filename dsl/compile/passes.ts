/** @file Passes: pure IR → IR functions. The input is never mutated (tests deep-freeze it). */
import type { GraphIR, IRNode } from '../ir/schema.ts';
import { GraphError, type GraphIssue } from '../errors.ts';
import { opDef } from '../../ops/registry.ts';
import { OpShapeError } from '../../ops/define.ts';
import { shapeCtxOf } from '../ir/verify.ts';

export interface Pass {
  name: string;
  run(ir: GraphIR): GraphIR;
}

/** Recompute every node's type from its op's shape rule. */
export const inferShapes: Pass = {
  name: 'infer-shapes',
  run(ir) {
    const ctx = shapeCtxOf(ir);
    const types = new Map<string, IRNode['type']>();
    const issues: GraphIssue[] = [];
    const nodes = ir.nodes.map((n) => {
      const def = opDef(n.op)!;
      try {
        const type = def.shape(n.inputs.map((i) => types.get(i)!), def.params.parse(n.params), ctx);
        types.set(n.id, type);
        return { ...n, type };
      } catch (e) {
        if (!(e instanceof OpShapeError)) throw e;
        issues.push({ code: e.code, message: e.message, node: n.name ?? n.id, at: n.at });
        types.set(n.id, n.type);
        return n;
      }
    });
    if (issues.length) throw new GraphError(issues);
    return { ...ir, nodes };
  },
};

/**
 * tfjs has no stop-gradient op and no no-grad scope. Every edge that enters a no-grad region from a value that may
 * carry gradient gets an explicit `stop_gradient` (lowered to a zero-copy detach); the region flags then go away.
 */
export const lowerNoGrad: Pass = {
  name: 'lower-no-grad',
  run(ir) {
    const out: IRNode[] = [];
    const sg = new Map<string, string>();
    const byId = new Map<string, IRNode>();
    const push = (n: IRNode) => {
      out.push(n);
      byId.set(n.id, n);
    };
    const carries = (id: string) => {
      const n = byId.get(id)!;
      return !n.noGrad && opDef(n.op)!.differentiable;
    };
    const rename = new Map<string, string>();
    for (const n0 of ir.nodes) {
      const n = { ...n0, inputs: n0.inputs.map((i) => rename.get(i) ?? i) };
      if (!n.noGrad) {
        push(n);
        continue;
      }
      const inputs = n.inputs.map((i) => {
        if (!carries(i)) return i;
        let s = sg.get(i);
        if (!s) {
          s = `${i}_sg`;
          sg.set(i, s);
          const src = byId.get(i)!;
          push({ id: s, op: 'stop_gradient', inputs: [i], params: {}, type: src.type, ...(n.at ? { at: n.at } : {}) });
        }
        return s;
      });
      const { noGrad: _flag, ...rest } = n;
      // stop_gradient keeps everything downstream out of the tape's backward pass, so the flag is no longer needed
      push({ ...rest, inputs, noGrad: true });
      // a model called inside the region must not get gradient either, even when its own role is being updated
      if (n.op === 'call' || n.op === 'pf_ode') {
        const s = `${n.id}_sg`;
        push({ id: s, op: 'stop_gradient', inputs: [n.id], params: {}, type: n.type, ...(n.at ? { at: n.at } : {}) });
        rename.set(n.id, s);
      }
    }
    const r = (id: string) => rename.get(id) ?? id;
    return {
      ...ir,
      nodes: out.map(({ noGrad: _drop, ...n }) => n),
      updates: ir.updates.map((u) => ({ ...u, loss: r(u.loss) })),
      outputs: Object.fromEntries(Object.entries(ir.outputs).map(([k, v]) => [k, r(v)])),
      ...(ir.eval ? { eval: remapEval(ir.eval, r) } : {}),
    };
  },
};

/** The roots every later stage needs: losses, logged outputs, evaluation samples. */
function roots(ir: GraphIR): string[] {
  return [...ir.updates.map((u) => u.loss), ...Object.values(ir.outputs), ...(ir.eval ? [ir.eval.samples, ...Object.values(ir.eval.extras ?? {})] : [])];
}

/** Ancestors of `ids` (inclusive). */
export function ancestors(ir: GraphIR, ids: Iterable<string>): Set<string> {
  const byId = new Map(ir.nodes.map((n) => [n.id, n]));
  const seen = new Set<string>();
  const stack = [...ids];
  while (stack.length) {
    const id = stack.pop()!;
    if (seen.has(id)) continue;
    seen.add(id);
    stack.push(...(byId.get(id)?.inputs ?? []));
  }
  return seen;
}

/** Dead-code elimination: drop nodes no loss, output or evaluation needs. */
export const dce: Pass = {
  name: 'dce',
  run(ir) {
    const live = ancestors(ir, roots(ir));
    return { ...ir, nodes: ir.nodes.filter((n) => live.has(n.id)) };
  },
};

/** Common-subexpression elimination: merge nodes with the same op, params and inputs. Random sources never merge. */
export const cse: Pass = {
  name: 'cse',
  run(ir) {
    const rename = new Map<string, string>();
    const seen = new Map<string, string>();
    const nodes: IRNode[] = [];
    for (const n of ir.nodes) {
      const inputs = n.inputs.map((i) => rename.get(i) ?? i);
      const def = opDef(n.op)!;
      const key = def.random ? undefined : JSON.stringify([n.op, n.params, inputs, n.noGrad ?? false]);
      const hit = key === undefined ? undefined : seen.get(key);
      if (hit) {
        rename.set(n.id, hit);
        continue;
      }
      if (key) seen.set(key, n.id);
      nodes.push({ ...n, inputs });
    }
    const r = (id: string) => rename.get(id) ?? id;
    return {
      ...ir,
      nodes,
      updates: ir.updates.map((u) => ({ ...u, loss: r(u.loss) })),
      outputs: Object.fromEntries(Object.entries(ir.outputs).map(([k, v]) => [k, r(v)])),
      ...(ir.eval ? { eval: remapEval(ir.eval, r) } : {}),
    };
  },
};

export const PIPELINE: readonly Pass[] = [inferShapes, lowerNoGrad, dce, cse];

/** the evaluation's node references, renamed by `r` */
function remapEval(e: NonNullable<GraphIR['eval']>, r: (id: string) => string): NonNullable<GraphIR['eval']> {
  const out = { ...e, samples: r(e.samples) };
  if (e.extras) out.extras = Object.fromEntries(Object.entries(e.extras).map(([k, id]) => [k, r(id)]));
  return out;
}
