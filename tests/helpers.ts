/** Test helpers: evaluate a graph's nodes with some values fed in, on the current backend. */
import type { GraphIR } from '../dsl/ir/schema.ts';
import { opDef } from '../ops/registry.ts';
import { TFJS_LOWERINGS, type LowerCtx, type Tensor, type TF, type TfjsLowering } from '../gpu/lower/index.ts';
import { Rng } from '../ops/rng.ts';
import type { Backend } from '../gpu/backend.ts';

export function evalNodes(be: Backend, ir: GraphIR, feeds: Record<string, Tensor>, target: string, models: Record<string, (ins: Tensor[]) => Tensor> = {}): Tensor {
  const env = new Map<string, Tensor>(Object.entries(feeds));
  for (const n of ir.nodes) {
    if (env.has(n.id)) continue;
    const def = opDef(n.op)!;
    const ctx: LowerCtx = {
      tf: be.tf,
      dims: ir.dims,
      rng: () => new Rng([0, n.id]),
      model: (r) => models[r]!,
      dataset: (d) => ir.datasets[d]!,
      detach: (t) => be.detach(t),
    };
    // as the executor does on the tape: an op through which no gradient flows sees its inputs detached
    const ins = n.inputs.map((i) => (def.differentiable ? env.get(i)! : be.detach(env.get(i)!)));
    env.set(n.id, (TFJS_LOWERINGS[n.op] as TfjsLowering<unknown>).lower(ins, def.params.parse(n.params), ctx));
    if (n.id === target) break;
  }
  return env.get(target)!;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** central finite differences of a scalar function of one tensor */
export function finiteDiff(tf: TF, f: (x: Tensor) => Tensor, x: Float32Array, shape: number[], h = 1e-2): Float64Array {
  const g = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const p = Float32Array.from(x);
    const m = Float32Array.from(x);
    p[i]! += h;
    m[i]! -= h;
    const fp = tf.tidy(() => f(tf.tensor(p, shape)).dataSync()[0]!);
    const fm = tf.tidy(() => f(tf.tensor(m, shape)).dataSync()[0]!);
    g[i] = (fp - fm) / (2 * h);
  }
  return g;
}
