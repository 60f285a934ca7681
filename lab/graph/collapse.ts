/** @file The objective as a researcher draws it: the compiled IR reduced to its primary nodes (noise and data
 * sources, model calls, stop-gradients, named values, losses, the evaluated samples), the elementwise ops between
 * them folded into edges. Pure: no Node and no DOM, so a browser page can draw it too. */
import type { GraphIR, IRNode } from '../../dsl/ir/schema.ts';
import type { Plan } from '../../dsl/compile/plan.ts';

/** what a primary node is; model calls are split by the part their role plays */
export type GraphKind = 'noise' | 'data' | 'student' | 'teacher' | 'fake' | 'head' | 'reward' | 'stop' | 'value' | 'loss' | 'eval';

export interface GraphNode {
  id: string;
  label: string;
  /** a second, smaller line: the noise law, the solver, the update's ratio */
  detail?: string;
  kind: GraphKind;
  /** the model role called, or for a loss the role(s) it trains */
  role?: string;
  /** no gradient passes here: computed under g.noGrad, or a stop-gradient */
  noGrad: boolean;
  /** where the DSL made it (file:line) */
  at?: string;
  /** a conditioning input (class labels) that most calls read: a picture may mark its readers instead of drawing
   * each edge */
  condition?: boolean;
}

export interface GraphEdge {
  from: string;
  to: string;
  /** notable ops folded into the edge (noising, masking, sampling), for a short label */
  via?: string[];
}

export interface CollapsedGraph {
  nodes: GraphNode[];
  edges: GraphEdge[];
}

/** ops that call a model, with the role in `params.model` */
const MODEL_OPS = new Set(['call', 'pf_ode', 'masked_sample', 'ancestral_sample']);
/** ops worth naming on an edge they are folded into, when the edge's path passes through them */
const VIA: Partial<Record<string, string>> = {
  mask_diffuse: 'masked',
  categorical: 'sampled',
  mask_posterior: 'posterior',
  gauss_posterior: 'posterior',
  shuffle: 'shuffled',
};
/** the schedule's ops: α(t)·x + σ(t)·ε reaches x through a mul, not through α, so a path is noised when any
 * value folded into a node on it went through one */
const NOISING = new Set(['alpha', 'sigma']);

const num = (v: unknown) => (typeof v === 'number' ? `${+v.toPrecision(3)}` : String(v));

/** the part a model role plays: the role whose model makes the evaluated samples is the student; frozen models
 * are teachers unless they score (a log-density, or a role named like a reward); a trained model fed another's
 * features is a GAN head; other trained models are critics (DMD's fake score, DMMD's aux) */
function roleKinds(ir: GraphIR): Map<string, GraphKind> {
  const byId = new Map(ir.nodes.map((n) => [n.id, n]));
  const evalNode = ir.eval && byId.get(ir.eval.samples);
  const studentRole = evalNode && MODEL_OPS.has(evalNode.op) ? String(evalNode.params.model) : 'student';
  const readsFeatures = new Set(
    ir.nodes.filter((n) => n.op === 'call' && n.inputs.some((i) => byId.get(i)?.op === 'call' && byId.get(i)!.params.output !== undefined)).map((n) => String(n.params.model)),
  );
  return new Map(
    ir.models.map((m): [string, GraphKind] => {
      if (m.role === studentRole) return [m.role, 'student'];
      if (!m.trainable) return [m.role, m.kind === 'gmm_log_density' || /reward|gate|classif|judge/i.test(m.role) ? 'reward' : 'teacher'];
      return [m.role, readsFeatures.has(m.role) || /head|disc/i.test(m.role) ? 'head' : 'fake'];
    }),
  );
}

/** label and detail of a model op */
function modelLabel(n: IRNode, trainable: boolean, uncond: boolean): { label: string; detail?: string } {
  const p = n.params;
  const role = String(p.model);
  switch (n.op) {
    case 'pf_ode':
      return { label: `${role} ODE`, detail: `${p.solver ?? 'ode'} ×${p.steps}${p.guidance !== undefined ? `, cfg ${num(p.guidance)}` : ''}` };
    case 'masked_sample':
      return { label: `${role} sampler`, detail: `${p.steps} steps${p.base ? `, base ${p.base}` : ''}` };
    case 'ancestral_sample':
      return { label: `${role} sampler`, detail: `ancestral ×${p.steps}` };
    default: {
      const parts = [...(p.output !== undefined ? [String(p.output)] : []), ...(trainable ? [] : ['frozen']), ...(uncond ? ['unconditional'] : [])];
      return { label: role, ...(parts.length ? { detail: parts.join(', ') } : {}) };
    }
  }
}

function sourceLabel(n: IRNode): { kind: GraphKind; label: string; detail?: string; condition?: boolean } | undefined {
  const p = n.params;
  switch (n.op) {
    case 'randn':
      return { kind: 'noise', label: 'ε', detail: 'N(0, I)' };
    case 'uniform': {
      const shape = (p.shape as unknown[] | undefined) ?? [];
      return { kind: 'noise', label: shape[shape.length - 1] === 1 ? 't' : 'u', detail: `U(${num(p.low ?? 0)}, ${num(p.high ?? 1)})` };
    }
    case 'sample_data':
      return { kind: 'data', label: 'data', detail: String(p.dataset) };
    case 'labels':
      return { kind: 'data', label: 'class c', detail: `${p.classes} classes`, condition: true };
    default:
      return undefined;
  }
}

/** the ids in `roots` and every node they read, transitively */
function ancestorsOf(ir: GraphIR, roots: string[]): Set<string> {
  const byId = new Map(ir.nodes.map((n) => [n.id, n]));
  const seen = new Set<string>();
  const stack = [...roots];
  while (stack.length) {
    const id = stack.pop()!;
    if (seen.has(id)) continue;
    seen.add(id);
    for (const i of byId.get(id)?.inputs ?? []) stack.push(i);
  }
  return seen;
}

const EVAL_ID = 'eval';

/** Collapse `ir` to the nodes that make its objective (the ancestors of its losses and evaluated samples).
 * `plan` (compile(ir)): each loss also gives its update's working set (peak bytes). */
export function collapseIR(ir: GraphIR, o: { plan?: Plan } = {}): CollapsedGraph {
  const kinds = roleKinds(ir);
  const byId = new Map(ir.nodes.map((n) => [n.id, n]));
  const trainable = new Map(ir.models.map((m) => [m.role, m.trainable]));
  const lossRoles = new Map<string, string[]>();
  for (const u of ir.updates) lossRoles.set(u.loss, [...(lossRoles.get(u.loss) ?? []), u.role]);
  const roots = [...lossRoles.keys(), ...(ir.eval ? [ir.eval.samples] : [])];
  const relevant = ancestorsOf(ir, roots);
  // named outputs that feed a loss are its terms (DMD's regression, DMD2's GAN term); others are metrics
  const lossAncestors = ancestorsOf(ir, [...lossRoles.keys()]);
  const terms = new Map(Object.entries(ir.outputs).filter(([, id]) => lossAncestors.has(id) && !lossRoles.has(id)).map(([k, id]) => [id, k]));

  const primary = new Map<string, GraphNode>();
  for (const n of ir.nodes) {
    if (!relevant.has(n.id)) continue;
    const base = { id: n.id, noGrad: n.noGrad === true, ...(n.at ? { at: n.at } : {}) };
    if (lossRoles.has(n.id)) {
      const roles = lossRoles.get(n.id)!;
      const us = ir.updates.filter((u) => u.loss === n.id);
      // the plan's passes may rename a loss: its updates are matched by their place among the IR's
      const plans = o.plan?.updates.filter((u) => ir.updates[u.declared]?.loss === n.id) ?? [];
      const detail = [
        ...us.map((u) => (u.ratio === 0 ? `warm-up ${u.warmup} only` : [u.ratio !== 1 ? `×${u.ratio}/step` : '', u.warmup ? `warm-up ${u.warmup}` : ''].filter((s) => s).join(', '))),
        ...plans.map((u) => `${(u.peakBytes / 2 ** 20).toFixed(1)} MiB`),
      ].filter((s) => s);
      primary.set(n.id, { ...base, kind: 'loss', label: `loss → ${roles.join(', ')}`, role: roles.join(','), ...(detail.length ? { detail: detail.join('; ') } : {}) });
    } else if (MODEL_OPS.has(n.op)) {
      const role = String(n.params.model);
      const kind = kinds.get(role) ?? 'teacher';
      primary.set(n.id, { ...base, kind, role, ...modelLabel(n, trainable.get(role) ?? false, n.inputs.some((i) => byId.get(i)?.op === 'null_label')) });
    } else if (n.op === 'stop_gradient') {
      primary.set(n.id, { ...base, noGrad: true, kind: 'stop', label: 'stop-grad' });
    } else if (sourceLabel(n)) {
      primary.set(n.id, { ...base, ...sourceLabel(n)! });
    } else if (terms.has(n.id) || n.name !== undefined) {
      primary.set(n.id, { ...base, kind: 'value', label: terms.get(n.id) ?? n.name! });
    }
  }

  // the primary nodes each value is read from through non-primary ops, with the notable ops on the way
  const front = new Map<string, Map<string, Set<string>>>();
  const noisedCone = new Set<string>();
  const edges = new Map<string, { from: string; to: string; via: Set<string> }>();
  const link = (from: string, to: string, via: Set<string>) => {
    const k = `${from}\u0000${to}`;
    const e = edges.get(k) ?? { from, to, via: new Set<string>() };
    via.forEach((v) => e.via.add(v));
    edges.set(k, e);
  };
  const reads = (inputs: string[]) => {
    const m = new Map<string, Set<string>>();
    for (const i of inputs) for (const [a, via] of front.get(i) ?? []) m.set(a, new Set([...(m.get(a) ?? []), ...via]));
    return m;
  };
  for (const n of ir.nodes) {
    if (!relevant.has(n.id)) continue;
    const m = reads(n.inputs);
    if (primary.has(n.id)) {
      for (const [a, via] of m) link(a, n.id, via);
      front.set(n.id, new Map([[n.id, new Set()]]));
    } else {
      const noised = NOISING.has(n.op) || n.inputs.some((i) => noisedCone.has(i));
      if (noised) noisedCone.add(n.id);
      for (const via of m.values()) {
        if (noised) via.add('noised');
        if (VIA[n.op]) via.add(VIA[n.op]!);
      }
      front.set(n.id, m);
    }
  }
  if (ir.eval) {
    primary.set(EVAL_ID, { id: EVAL_ID, kind: 'eval', label: 'eval samples', detail: `vs ${ir.eval.target}`, noGrad: false });
    const m = primary.has(ir.eval.samples) ? new Map([[ir.eval.samples, new Set<string>()]]) : (front.get(ir.eval.samples) ?? new Map());
    for (const [a, via] of m) link(a, EVAL_ID, via);
  }

  // noise sources that feed the same nodes (a diffusion time t and its ε) are drawn as one
  const out = new Map<string, string[]>();
  for (const e of edges.values()) out.set(e.from, [...(out.get(e.from) ?? []), e.to]);
  const alias = new Map<string, string>();
  const groups = new Map<string, string>();
  for (const p of primary.values()) {
    if (p.kind !== 'noise') continue;
    const key = `${p.noGrad}|${[...(out.get(p.id) ?? [])].sort().join(',')}`;
    const first = groups.get(key);
    if (first === undefined) groups.set(key, p.id);
    else {
      const f = primary.get(first)!;
      if (!f.label.split(', ').includes(p.label)) f.label = `${f.label}, ${p.label}`;
      f.detail = `${f.detail}; ${p.detail}`;
      alias.set(p.id, first);
      primary.delete(p.id);
    }
  }
  const merged = new Map<string, GraphEdge>();
  for (const e of edges.values()) {
    const from = alias.get(e.from) ?? e.from;
    const k = `${from}\u0000${e.to}`;
    const via = [...new Set([...(merged.get(k)?.via ?? []), ...e.via])];
    merged.set(k, { from, to: e.to, ...(via.length ? { via } : {}) });
  }
  return { nodes: [...primary.values()], edges: [...merged.values()] };
}
