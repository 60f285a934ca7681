/** @file Evaluating a plan's steps on a backend: each node lowered to tfjs ops (a fused group as one generated
 * kernel), drawing from its own random stream, the models running on the weights the caller picks. The executor owns
 * the tensors and decides what runs; this says how a step runs. */
import type { Backend } from '../gpu/backend.ts';
import type { GraphIR, IRNode } from '../dsl/ir/schema.ts';
import type { PlanStep } from '../dsl/compile/plan.ts';
import type * as tfns from '@tensorflow/tfjs';
import { opDef } from '../ops/registry.ts';
import { modelDef } from '../ops/models/index.ts';
import { TFJS_LOWERINGS, type LowerCtx, type Tensor, type TfjsLowering } from '../gpu/lower/index.ts';
import { TFJS_MODELS, type TfjsModel } from '../gpu/models/index.ts';
import { Rng } from '../ops/rng.ts';
import { elementwise, meanOfElementwise, untaped } from '../gpu/fused.ts';
import { resolveShape } from '../dsl/types.ts';
import { nodeLabel } from '../dsl/ir/print.ts';
import type { ExecutorOptions, RoleWeights } from './executor-types.ts';

/** one evaluation of the graph: every node draws from its own stream keyed by (seed, evaluation, node) */
export type EvalCtx = LowerCtx & { rngFor(nodeId: string): Rng };

/** the steps recorded for the gradient of `role`; `nodes`: the ids on its tape */
export interface Tape {
  role: string;
  nodes: Set<string>;
}

export class StepRunner {
  private readonly byId: Map<string, IRNode>;
  /** node params and model configs parsed once, not on every update */
  private readonly params = new Map<string, unknown>();
  private readonly streams = new Map<string, string>();
  private readonly configs = new Map<string, unknown>();

  constructor(
    private readonly backend: Backend,
    private readonly ir: GraphIR,
    private readonly seed: number,
    private readonly roles: Map<string, RoleWeights>,
    private readonly onDraw: ExecutorOptions['onDraw'],
  ) {
    this.byId = new Map(ir.nodes.map((n) => [n.id, n]));
    for (const n of ir.nodes) this.params.set(n.id, opDef(n.op)!.params.parse(n.params));
    // a random node's stream is keyed by its rank among the random nodes, not by its id: adding a logged value
    // or any other deterministic node leaves every draw of the run unchanged
    ir.nodes.filter((n) => opDef(n.op)!.random).forEach((n, k) => this.streams.set(n.id, `r${k}`));
    for (const m of ir.models) this.configs.set(m.role, modelDef(m.kind)!.config.parse(m.config));
  }

  /** the context of evaluation `evaluation` (a counter, or a key that fixes the draws); `weights(role)`: the weights
   * a model call runs with */
  ctx(dims: Record<string, number>, evaluation: number | string, weights: (role: string) => Record<string, tfns.Variable>): EvalCtx {
    const { tf } = this.backend;
    const ir = this.ir;
    const env = {
      dataset: (n: string) => {
        const d = ir.datasets[n];
        if (!d) throw new Error(`internal: unknown dataset ${n}`);
        return d;
      },
    };
    return {
      tf,
      dims,
      rng: () => new Rng([this.seed, evaluation]),
      rngFor: (nodeId: string) => this.streamOf(evaluation, nodeId),
      dataset: env.dataset,
      detach: (t) => this.backend.detach(t),
      model: (role) => {
        const r = this.roles.get(role)!;
        const body = TFJS_MODELS[r.decl.kind] as TfjsModel<unknown>;
        const cfg = this.configs.get(role);
        const w = weights(role);
        return (ins, grad, output) => body.apply(tf, w, ins, cfg, { ...env, ...(grad ? { grad } : {}), ...(output ? { output } : {}) });
      },
    };
  }

  /** node `nodeId`'s random stream at `evaluation` */
  private streamOf(evaluation: number | string, nodeId: string): Rng {
    return new Rng([this.seed, evaluation, this.streams.get(nodeId) ?? nodeId]);
  }

  /** Asks the backend to draw ahead the normals that the Gaussian sources among `steps` will draw at evaluation
   * `evaluation` (a speed hint: a source whose draws were not made draws them itself). */
  drawAhead(steps: readonly PlanStep[], dims: Record<string, number>, evaluation: number): void {
    const draw = this.backend.drawAhead;
    if (!draw) return;
    const draws: { state: Uint32Array; n: number }[] = [];
    for (const s of steps) {
      if (s.kind !== 'run') continue;
      const n = this.byId.get(s.node)!;
      if (!opDef(n.op)!.normalsOnly) continue;
      const state = this.streamOf(evaluation, n.id).stateWords();
      draws.push({ state, n: resolveShape(n.type.shape, dims).reduce((a, b) => a * b, 1) });
    }
    draw.call(this.backend, draws);
  }

  /** runs `steps`, reading and writing values in `env`; `tape`: they are recorded for that role's gradient */
  run(steps: PlanStep[], env: Map<string, Tensor>, ctx: EvalCtx, tape?: Tape): void {
    for (const s of steps) {
      if (s.kind === 'fused') {
        const n = this.byId.get(s.node)!;
        try {
          env.set(s.node, elementwise(s.expr, s.inputs.map((i) => env.get(i)!), resolveShape(n.type.shape, ctx.dims)));
        } catch (e) {
          throw new Error(`${(e as Error).message}\n  while executing the fused %${s.members.join(', %')}${n.at ? ` (${n.at})` : ''}`, { cause: e });
        }
      } else if (s.kind === 'fusedMean') {
        const [n, body] = [this.byId.get(s.node)!, this.byId.get(s.body)!];
        try {
          // the plan marks the inputs the gradient flows on into; the others are read as constants
          env.set(s.node, meanOfElementwise(s.expr, tape ? s.grads : [], s.inputs.map((i) => env.get(i)!), resolveShape(body.type.shape, ctx.dims), resolveShape(n.type.shape, ctx.dims)));
        } catch (e) {
          throw new Error(`${(e as Error).message}\n  while executing the fused %${s.members.join(', %')}${n.at ? ` (${n.at})` : ''}`, { cause: e });
        }
      } else if (s.kind === 'free') {
        for (const b of s.bufs) {
          env.get(b)?.dispose();
          env.delete(b);
        }
      } else if (s.kind === 'run') {
        const n = this.byId.get(s.node)!;
        const def = opDef(n.op)!;
        const lowering = TFJS_LOWERINGS[n.op] as TfjsLowering<unknown>;
        const nodeCtx: LowerCtx = { ...ctx, rng: () => ctx.rngFor(n.id) };
        const onDraw = this.onDraw;
        if (onDraw && def.random === 'permutation') nodeCtx.drew = (v, shape) => onDraw(n, ctx.tf.tensor(v, shape, 'int32'));
        if (tape && !s.noGrad) nodeCtx.grad = { role: tape.role, inputs: n.inputs.map((i) => tape.nodes.has(i)) };
        try {
          // an op through which no gradient flows sees its tape inputs detached: tfjs registers no gradient for some
          // of them (comparisons), and a comparison of a value on the tape (where(x.gt(0), …)) must not stop backprop;
          // a step the gradient does not pass (noGrad) then keeps no activations for a backward pass
          const cut = tape && (!def.differentiable || s.noGrad);
          const ins = n.inputs.map((i) => (cut && tape.nodes.has(i) ? ctx.detach(env.get(i)!) : env.get(i)!));
          // off the gradient's path, what a step computes on the way to its output (a network's hidden layers) is
          // freed when it returns, as the plan's memory counts it; on the path the tape may still need it. Cut off
          // from the tape, its ops are not recorded either
          const lower = () => lowering.lower(ins, this.params.get(n.id), nodeCtx);
          const out = !tape ? ctx.tf.tidy(lower) : cut ? untaped(() => ctx.tf.tidy(lower)) : lower();
          // every buffer has one owner: a lowering that hands back an input (σ(t) = t) gets its own handle
          env.set(n.id, ins.includes(out) ? ctx.tf.clone(out) : out);
          if (onDraw && def.random === 'output') onDraw(n, out);
        } catch (e) {
          throw new Error(`${(e as Error).message}\n  while executing ${nodeLabel(n)}`, { cause: e });
        }
      }
    }
  }
}
