/** @file `verify(ir)`: the semantic checks, returned as issues (never thrown), each with the node's file:line. */
import { GraphIRSchema, LrDecaySchema, type GraphIR, type IRNode } from './schema.ts';
import type { GraphIssue } from '../errors.ts';
import { showType, type TensorType } from '../types.ts';
import { opDef } from '../../ops/registry.ts';
import { OpShapeError, type ShapeCtx } from '../../ops/define.ts';
import { modelDef } from '../../ops/models/index.ts';

const sameType = (a: TensorType, b: TensorType) => a.dtype === b.dtype && a.shape.length === b.shape.length && a.shape.every((d, i) => d === b.shape[i]);
const label = (n: IRNode) => n.name ?? n.id;

export function shapeCtxOf(ir: GraphIR): ShapeCtx {
  return { dims: ir.dims, model: (r) => ir.models.find((m) => m.role === r), dataset: (n) => ir.datasets[n] };
}

/** Parse unknown JSON as IR; schema problems come back as issues with their path. */
export function parseIR(json: unknown): { ir?: GraphIR; issues: GraphIssue[] } {
  const r = GraphIRSchema.safeParse(json);
  if (r.success) return { ir: r.data, issues: [] };
  return { issues: r.error.issues.map((i) => ({ code: 'schema', message: `${i.path.join('.') || '(root)'}: ${i.message}` })) };
}

/**
 * Which nodes carry gradient to `role`'s parameters: a differentiable op outside a no-grad region that calls the
 * role's model or has such an input.
 */
export function gradientReach(ir: GraphIR, role: string): Set<string> {
  const reach = new Set<string>();
  for (const n of ir.nodes) {
    const def = opDef(n.op);
    if (!def?.differentiable || n.noGrad) continue;
    if (((n.op === 'call' || n.op === 'pf_ode') && n.params.model === role) || n.inputs.some((i) => reach.has(i))) reach.add(n.id);
  }
  return reach;
}

export function verify(ir: GraphIR): GraphIssue[] {
  const issues: GraphIssue[] = [];
  const defined = new Map<string, IRNode>();
  const ctx = shapeCtxOf(ir);

  for (const m of ir.models) {
    const def = modelDef(m.kind);
    if (!def) issues.push({ code: 'unknown_model', message: `unknown model kind '${m.kind}'`, node: m.role, at: m.at });
    else {
      const r = def.config.safeParse(m.config);
      if (!r.success) issues.push({ code: 'bad_params', message: `model config: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`, node: m.role, at: m.at });
    }
    if (ir.models.filter((x) => x.role === m.role).length > 1) issues.push({ code: 'duplicate_role', message: `role '${m.role}' is declared twice`, node: m.role, at: m.at });
    if (m.initFrom !== undefined) {
      const src = ir.models.find((x) => x.role === m.initFrom);
      if (!src) issues.push({ code: 'bad_init', message: `initFrom names no role: '${m.initFrom}'`, node: m.role, at: m.at });
      else if (src.kind !== m.kind || JSON.stringify(src.config) !== JSON.stringify(m.config))
        issues.push({ code: 'bad_init', message: `initFrom '${m.initFrom}' has another architecture (${src.kind} ${JSON.stringify(src.config)} vs ${m.kind} ${JSON.stringify(m.config)})`, node: m.role, at: m.at });
    }
  }

  for (const n of ir.nodes) {
    const base = { node: label(n), at: n.at };
    if (defined.has(n.id)) issues.push({ code: 'topo_order', message: `id %${n.id} is defined twice`, ...base });
    const missing = n.inputs.filter((i) => !defined.has(i));
    if (missing.length) issues.push({ code: 'topo_order', message: `input ${missing.map((i) => `%${i}`).join(', ')} is used before it is defined`, ...base });
    for (const d of n.type.shape) if (typeof d === 'string' && ir.dims[d] === undefined) issues.push({ code: 'unknown_dim', message: `dim '${d}' is not in dims`, ...base });
    defined.set(n.id, n);
    const def = opDef(n.op);
    if (!def) {
      issues.push({ code: 'unknown_op', message: `unknown op '${n.op}'`, ...base });
      continue;
    }
    const [lo, hi] = typeof def.arity === 'number' ? [def.arity, def.arity] : def.arity;
    if (n.inputs.length < lo || n.inputs.length > hi) {
      issues.push({ code: 'arity', message: `${n.op} takes ${lo === hi ? lo : `${lo}..${hi}`} input(s), got ${n.inputs.length}`, ...base });
      continue;
    }
    const p = def.params.safeParse(n.params);
    if (!p.success) {
      issues.push({ code: 'bad_params', message: p.error.issues.map((i) => `${i.path.join('.') || 'params'}: ${i.message}`).join('; '), ...base });
      continue;
    }
    if (missing.length) continue;
    try {
      const want = def.shape(n.inputs.map((i) => defined.get(i)!.type), p.data, ctx);
      if (!sameType(want, n.type)) issues.push({ code: 'shape_mismatch', message: `declared ${showType(n.type)} but ${n.op} gives ${showType(want)}`, ...base });
    } catch (e) {
      if (!(e instanceof OpShapeError)) throw e;
      issues.push({ code: e.code, message: e.message, ...base });
    }
  }

  for (const u of ir.updates) {
    const base = { node: u.role, at: u.at };
    const m = ir.models.find((x) => x.role === u.role);
    if (!m) issues.push({ code: 'unknown_model', message: `minimize names no model: '${u.role}'`, ...base });
    else if (!m.trainable) issues.push({ code: 'grad_into_frozen', message: `'${u.role}' is frozen: no gradient may reach it (declare it with g.trainable)`, ...base });
    // one per-step update per role; warm-up-only phases (ratio 0) may come beside it
    if (u.ratio > 0 && ir.updates.filter((x) => x.role === u.role && x.ratio > 0).length > 1)
      issues.push({ code: 'duplicate_role', message: `'${u.role}' is minimised twice at every step; add the losses instead`, ...base });
    if (u.ema !== undefined && !(u.ema > 0 && u.ema < 1)) issues.push({ code: 'bad_params', message: `ema: the decay must lie in (0, 1) (0 turns it off), got ${u.ema}`, ...base });
    const d = u.optimizer.decay;
    if (d && !LrDecaySchema.safeParse(d).success)
      issues.push({ code: 'bad_params', message: `decay: a cosine or linear decay from an integer step start ≥ 0 to an integer step end > start, to a final factor in [0, 1]; got ${JSON.stringify(d)}`, ...base });
    const firstEma = ir.updates.find((x) => x.role === u.role && x.ema !== undefined);
    if (u.ema !== undefined && firstEma !== u)
      issues.push({ code: 'duplicate_role', message: `'${u.role}' has an EMA already${firstEma!.at ? ` (${firstEma!.at})` : ''}; give it on one minimize call (it follows every update of the role)`, ...base });
    if (u.ratio === 0 && u.warmup === 0) issues.push({ code: 'duplicate_role', message: `'${u.role}': an update with ratio 0 runs only in the warm-up, and its warmup is 0`, ...base });
    const loss = defined.get(u.loss);
    if (!loss) {
      issues.push({ code: 'topo_order', message: `loss %${u.loss} is not a node`, ...base });
      continue;
    }
    if (loss.type.shape.length !== 0 || loss.type.dtype !== 'f32') issues.push({ code: 'loss_not_scalar', message: `the loss must be an f32 scalar, got ${showType(loss.type)} (reduce it with .mean())`, ...base });
    if (m?.trainable && !gradientReach(ir, u.role).has(u.loss))
      issues.push({ code: 'loss_unreachable', message: `loss %${label(loss)} does not depend on '${u.role}' through a differentiable path (is it inside noGrad or behind stopGradient?)`, ...base });
  }
  for (const [k, id] of Object.entries(ir.outputs)) if (!defined.has(id)) issues.push({ code: 'topo_order', message: `output '${k}' names no node (%${id})` });
  if (ir.eval) {
    if (!defined.has(ir.eval.samples)) issues.push({ code: 'topo_order', message: `evaluate: samples %${ir.eval.samples} is not a node` });
    for (const [k, id] of Object.entries(ir.eval.extras ?? {}))
      if (!defined.has(id)) issues.push({ code: 'topo_order', message: `evaluate: extra '${k}' %${id} is not a node` });
    if (!ir.datasets[ir.eval.target]) issues.push({ code: 'unknown_dataset', message: `evaluate: unknown dataset '${ir.eval.target}'` });
    if (ir.eval.teacher && !ir.models.some((m) => m.role === ir.eval!.teacher!.role)) issues.push({ code: 'unknown_model', message: `evaluate: no role '${ir.eval.teacher.role}'` });
  }
  return issues;
}
