/** @file What an executor starts from: the initial host weights of every role, and whether a backend can run the graph. */
import type { GraphIR } from '../dsl/ir/schema.ts';
import type { HostTensor } from '../ops/models/index.ts';
import { TFJS_LOWERINGS, type TfjsLowering, type Unsupported } from '../gpu/lower/index.ts';
import { TFJS_MODELS } from '../gpu/models/index.ts';
import { UserError } from '../dsl/errors.ts';
import { nodeLabel } from '../dsl/ir/print.ts';

/** Ops the TensorFlow.js table marks unsupported: refused before anything runs, with the reason and the node. */
export function refuseUnsupported(ir: GraphIR): void {
  for (const n of ir.nodes) {
    const l = TFJS_LOWERINGS[n.op] as TfjsLowering<unknown> | Unsupported;
    if ('unsupported' in l) throw new UserError(`the tfjs target cannot run ${nodeLabel(n)}: ${l.unsupported}`);
  }
}

/** Nodes whose lowering reads tensors back mid-graph cannot run where reads are asynchronous: say which, up front. */
export function refuseHostReads(ir: GraphIR, backend: string): void {
  const kind = new Map(ir.models.map((m) => [m.role, m.kind]));
  const bad = ir.nodes.filter((n) => (TFJS_LOWERINGS[n.op] as TfjsLowering<unknown>).hostReads || (n.op === 'call' && TFJS_MODELS[kind.get((n.params as { model: string }).model)!]?.hostReads));
  if (!bad.length) return;
  const list = bad.slice(0, 5).map((n) => `%${n.name ?? n.id} = ${n.op}${n.op === 'call' ? `(${(n.params as { model: string }).model})` : ''}${n.at ? ` (${n.at})` : ''}`);
  throw new UserError(
    `backend '${backend}' reads tensors back only asynchronously here, and pipeline '${ir.name}' has ${bad.length} node(s) that read back while the graph runs: ` +
      `${list.join('; ')}${bad.length > 5 ? `; and ${bad.length - 5} more` : ''}. Run it on wasm or cpu.`,
  );
}

export { initialWeights } from '../ops/models/init.ts';

/** reads the safetensors file a model's `initFrom` names (Node: runtime/safetensors.ts) */
export type LoadFile = (file: string) => Record<string, HostTensor>;

/** where there are no files (a browser, a worker without them) */
export const noFile: LoadFile = (file) => {
  throw new Error(`cannot read '${file}' here: this runtime has no files`);
};
