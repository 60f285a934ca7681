/** @file What an executor starts from: the initial host weights of every role, and whether a backend can run the graph. */
import type { GraphIR } from '../dsl/ir/schema.ts';
import { opDef } from '../ops/registry.ts';
import { modelDef, type HostTensor } from '../ops/models/index.ts';
import { Rng } from '../ops/rng.ts';
import { UserError } from '../dsl/errors.ts';

/** Nodes whose lowering reads tensors back mid-graph cannot run where reads are asynchronous: say which, up front. */
export function refuseHostReads(ir: GraphIR, backend: string): void {
  const kind = new Map(ir.models.map((m) => [m.role, m.kind]));
  const bad = ir.nodes.filter((n) => opDef(n.op)!.hostReads || (n.op === 'call' && modelDef(kind.get((n.params as { model: string }).model) ?? '')?.hostReads));
  if (!bad.length) return;
  const list = bad.slice(0, 5).map((n) => `%${n.name ?? n.id} = ${n.op}${n.op === 'call' ? `(${(n.params as { model: string }).model})` : ''}${n.at ? ` (${n.at})` : ''}`);
  throw new UserError(
    `backend '${backend}' reads tensors back only asynchronously here, and pipeline '${ir.name}' has ${bad.length} node(s) that read back while the graph runs: ` +
      `${list.join('; ')}${bad.length > 5 ? `; and ${bad.length - 5} more` : ''}. Run it on wasm or cpu.`,
  );
}

/** Initial host weights of every role: loaded, copied from another role (initFrom), or drawn from the seed. */
export function initialWeights(ir: GraphIR, seed: number, load: (file: string) => Record<string, HostTensor>): Map<string, Record<string, HostTensor>> {
  const out = new Map<string, Record<string, HostTensor>>();
  const pending = [...ir.models];
  while (pending.length) {
    const i = pending.findIndex((m) => !m.initFrom || out.has(m.initFrom));
    if (i < 0) throw new UserError(`initFrom forms a cycle among roles ${pending.map((m) => m.role).join(', ')}`);
    const m = pending.splice(i, 1)[0]!;
    const def = modelDef(m.kind)!;
    const cfg = def.config.parse(m.config);
    const fresh = def.init(cfg, new Rng([seed, 'init', m.role]));
    let w = fresh;
    if (m.load) w = load(m.load);
    else if (m.initFrom) w = out.get(m.initFrom)!;
    for (const [k, t] of Object.entries(fresh)) {
      const got = w[k];
      if (!got) throw new UserError(`weights for role '${m.role}' lack '${k}'`);
      if (got.shape.join(',') !== t.shape.join(',')) throw new UserError(`weights for role '${m.role}': '${k}' has shape [${got.shape}], the model needs [${t.shape}]`);
    }
    out.set(m.role, Object.fromEntries(Object.keys(fresh).map((k) => [k, { shape: [...w[k]!.shape], data: new Float32Array(w[k]!.data) }])));
  }
  return out;
}
