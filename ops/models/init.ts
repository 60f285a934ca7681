/** @file The initial host weights of every role: loaded, copied from another role (initFrom), or drawn from the seed.
 * Plain host data, the same for every target. */
import type { GraphIR } from '../../dsl/ir/schema.ts';
import { modelDef, type HostTensor } from './index.ts';
import { Rng } from '../rng.ts';
import { UserError } from '../../dsl/errors.ts';

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
