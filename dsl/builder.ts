/** @file The graph builder behind `g`: records nodes with the file:line that declared them. No tensor is touched. */
import type { AdamConfig, DatasetSpec, GraphIR, IRNode, ModelDecl, Schedule, UpdateDecl } from './ir/schema.ts';
import { IR_VERSION } from './ir/schema.ts';
import type { Shape, TensorType } from './types.ts';
import { Port, type NodeSink, type PortLike, type Scalar } from './port.ts';
import { callsite } from './callsite.ts';
import type { GraphIssue } from './errors.ts';
import { opDef, type OpKind } from '../ops/registry.ts';
import { OpShapeError, type ShapeCtx } from '../ops/define.ts';
import type { ModelSpec, TokenToy, Toy } from './models.ts';
import { schedule as toSchedule, type ScheduleName } from '../ops/schedules.ts';
import type { LrDecay } from '../ops/lr-decay.ts';

type Kind = 'frozen' | 'trainable';
/** A model bound to a role; calling it adds a `call` node. */
export type Model<R extends string = string, K extends Kind = Kind> = ((...inputs: Port[]) => Port<'f32', Shape>) & {
  readonly role: R;
  readonly kind: K;
  /** one of the model's named outputs (an MLP's 'features': its last hidden layer) on these inputs */
  output(name: string): (...inputs: Port[]) => Port<'f32', Shape>;
};

export interface Adam {
  kind: 'adam';
  lr: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** decay the learning rate over the main steps (start and end are step numbers); absent: constant */
  decay?: LrDecay;
}
export const adam = (lr: number, o: Omit<Adam, 'kind' | 'lr'> = {}): Adam => ({ kind: 'adam', lr, ...o });

export interface MinimizeOptions {
  optimizer: Adam;
  /** updates of this role per step (DMD2: 5 for the fake score); default 1; 0: warm-up only (pre-training) */
  ratio?: number;
  /** updates of this role alone before the first step; default 0 */
  warmup?: number;
  /** EMA decay of this role's weights (0 or absent: off): after every applied update of the role, from this or any
   * other of its `minimize` calls, ema ← decay·ema + (1 − decay)·w, starting from the initial weights. Evaluation,
   * samples and the exported weights read the EMA; training reads the raw weights. At most one per role. */
  ema?: number;
}

export class GraphBuilder implements NodeSink {
  /** the batch dimension's name */
  readonly B = 'B' as const;
  private nodes: IRNode[] = [];
  private types = new Map<string, TensorType>();
  private models: ModelDecl[] = [];
  private datasets: Record<string, DatasetSpec> = {};
  private updates: UpdateDecl[] = [];
  private outputs: Record<string, string> = {};
  private evalDecl: GraphIR['eval'];
  private noGradDepth = 0;
  readonly issues: GraphIssue[] = [];

  constructor(
    readonly name: string,
    readonly dims: Record<string, number>,
  ) {}

  typeOf(id: string): TensorType {
    const t = this.types.get(id);
    if (!t) throw new Error(`internal: no type for ${id}`);
    return t;
  }

  private shapeCtx(): ShapeCtx {
    return { dims: this.dims, model: (r) => this.models.find((m) => m.role === r), dataset: (n) => this.datasets[n] };
  }

  op(kind: OpKind, inputs: readonly PortLike[], params: Record<string, unknown> = {}, name?: string): Port {
    // a number beside an i32 port is an i32 constant (token ids: `z.eq(mask)`)
    const ints = inputs.some((p) => typeof p !== 'number' && p.type.dtype === 'i32');
    const ins = inputs.map((p) => (typeof p === 'number' ? (ints && Number.isInteger(p) ? this.op('scalar', [], { value: p, dtype: 'i32' }) : this.scalar(p)) : p));
    const def = opDef(kind);
    if (!def) throw new Error(`internal: unknown op '${kind}'`);
    const id = `v${this.nodes.length}`;
    const at = callsite();
    const clean = Object.fromEntries(Object.entries(params).filter(([, v]) => v !== undefined));
    let type: TensorType;
    try {
      type = def.shape(ins.map((p) => p.type), def.params.parse(clean), this.shapeCtx());
    } catch (e) {
      if (!(e instanceof OpShapeError)) throw e;
      this.issues.push({ code: e.code, message: e.message, node: name ?? id, at });
      type = ins[0]?.type ?? { dtype: 'f32', shape: [] }; // keep building to report every issue at once
    }
    const node: IRNode = { id, op: kind, inputs: ins.map((p) => p.id), params: clean, type };
    if (name) node.name = name;
    if (at) node.at = at;
    if (this.noGradDepth > 0) node.noGrad = true;
    this.nodes.push(node);
    this.types.set(id, type);
    return new Port(this, id);
  }

  /** give a value a name: it shows in the printed IR and in error messages */
  named<P extends Port>(name: string, p: P): P {
    const n = this.nodes.find((x) => x.id === p.id);
    if (n) n.name = name;
    return p;
  }

  scalar(value: number): Scalar {
    return this.op('scalar', [], { value }) as Scalar;
  }
  /** standard Gaussian noise of the given shape, fresh at every evaluation */
  noise<const S extends Shape>(shape: S): Port<'f32', S> {
    return this.op('randn', [], { shape: [...shape] }) as Port<'f32', S>;
  }
  /** a constant tensor of the given shape */
  fill<const S extends Shape>(shape: S, value: number): Port<'f32', S> {
    return this.op('fill', [], { shape: [...shape], value }) as Port<'f32', S>;
  }
  uniform<const S extends Shape>(shape: S, low: number, high: number): Port<'f32', S> {
    return this.op('uniform', [], { shape: [...shape], low, high }) as Port<'f32', S>;
  }
  /** a batch of samples of a toy distribution */
  data(toy: Toy, rows: number | string = this.B): Port<'f32', [typeof rows, number]> {
    this.datasets[toy.name] = toy.spec;
    return this.op('sample_data', [], { dataset: toy.name, rows }) as Port<'f32', [typeof rows, number]>;
  }
  /** a batch of sequences of a token dataset, i32[rows, length] */
  tokens(toy: TokenToy, rows: number | string = this.B): Port<'i32', [typeof rows, number]> {
    this.datasets[toy.name] = toy.spec;
    return this.op('sample_data', [], { dataset: toy.name, rows }) as Port<'i32', [typeof rows, number]>;
  }
  /** masked diffusion's forward process: each token of x becomes MASK (id `mask`) with probability 1 − α_t = t */
  maskDiffuse(x: Port<'i32', Shape>, t: Port<'f32', Shape>, mask: number): Port<'i32', [string | number, number]> {
    return this.op('mask_diffuse', [x, t], { mask }) as Port<'i32', [string | number, number]>;
  }
  /** one hard draw per row of the last axis of probabilities p (no gradient flows through it) */
  categorical(p: Port<'f32', Shape>): Port<'i32', Shape> {
    return this.op('categorical', [p]) as Port<'i32', Shape>;
  }
  /** z_s ~ q(z_s | z_t, x): each masked position of z_t reveals x w.p. (α_s − α_t)/(1 − α_t) */
  maskPosterior(zt: Port<'i32', Shape>, x: Port<'i32', Shape>, t: Port<'f32', Shape>, s: Port<'f32', Shape>, mask: number): Port<'i32', [string | number, number]> {
    return this.op('mask_posterior', [zt, x, t, s], { mask }) as Port<'i32', [string | number, number]>;
  }
  /** the k-step ancestral sampler of a masked-diffusion model over a token toy (fresh ε each step when `noise` > 0) */
  maskedSample(model: Model, toy: TokenToy, o: { steps: number; rows?: number | string; noise?: number; temperature?: number; base?: Model }): Port<'i32', [string | number, number]> {
    this.datasets[toy.name] = toy.spec;
    const params = { model: model.role, steps: o.steps, rows: o.rows ?? this.B, length: toy.length, vocab: toy.vocab, noise: o.noise ?? 0, temperature: o.temperature ?? 1, base: o.base?.role };
    return this.op('masked_sample', [], params) as Port<'i32', [string | number, number]>;
  }
  /** class labels i32[B] over `classes` classes: 'balanced' (default) gives row i the class ⌊i·classes/B⌋ */
  labels(classes: number, o: { layout?: 'balanced' | 'random'; rows?: number | string } = {}): Port<'i32', [string | number]> {
    return this.op('labels', [], { classes, rows: o.rows ?? this.B, layout: o.layout ?? 'balanced' }) as Port<'i32', [string | number]>;
  }
  /** the null condition ∅ (label −1) for every row: a conditional model's unconditional branch */
  nullLabel(rows: number | string = this.B): Port<'i32', [string | number]> {
    return this.op('null_label', [], { rows }) as Port<'i32', [string | number]>;
  }
  /** labels i32[B] → f32[B, depth]; the null label gives a zero row */
  oneHot(labels: Port<'i32', Shape>, depth: number): Port<'f32', [string | number, number]> {
    return this.op('one_hot', [labels], { depth }) as Port<'f32', [string | number, number]>;
  }
  /** the rows of `p` in a random order (fresh at every evaluation) */
  shuffle<P extends Port>(p: P): P {
    return this.op('shuffle', [p]) as P;
  }
  /** `cond ? a : b` elementwise, broadcast (cond is bool, e.g. `x.gt(0)`); gradient flows to the branch taken */
  where<P extends Port>(cond: Port<'bool', Shape>, a: P | number, b: P | number): P {
    return this.op('where', [cond, a, b]) as P;
  }
  concat(ports: Port[], axis: number): Port<'f32', Shape> {
    return this.op('concat', ports, { axis }) as Port<'f32', Shape>;
  }
  matmul(a: Port, b: Port): Port<'f32', Shape> {
    return this.op('matmul', [a, b]) as Port<'f32', Shape>;
  }
  stopGradient<P extends Port>(p: P): P {
    return this.op('stop_gradient', [p]) as P;
  }
  /** values computed inside `fn` never carry gradient (DMD2's torch.no_grad block) */
  noGrad<T>(fn: () => T): T {
    this.noGradDepth++;
    try {
      return fn();
    } finally {
      this.noGradDepth--;
    }
  }
  alpha(t: Port, s: ScheduleName | Schedule): Port<'f32', Shape> {
    return this.op('alpha', [t], { schedule: toSchedule(s) }) as Port<'f32', Shape>;
  }
  sigma(t: Port, s: ScheduleName | Schedule): Port<'f32', Shape> {
    return this.op('sigma', [t], { schedule: toSchedule(s) }) as Port<'f32', Shape>;
  }

  /** x_t = α(t)·x + σ(t)·ε with t ~ U[lo, hi] per row */
  diffuse<S extends Shape>(x: Port<'f32', S>, o: { schedule: ScheduleName | Schedule; t?: readonly [number, number] }) {
    const [lo, hi] = o.t ?? [0, 1];
    const rows = x.type.shape[0]!;
    const t = this.uniform([rows, 1], lo, hi);
    const eps = this.noise(x.type.shape) as unknown as Port<'f32', S>;
    const xt = this.alpha(t, o.schedule).mul(x).add(this.sigma(t, o.schedule).mul(eps)) as Port<'f32', S>;
    return { t, eps, xt };
  }

  /** z_s ~ q(z_s | z_t, x) of Gaussian diffusion (no gradient flows through the draw) */
  gaussPosterior(zt: Port<'f32', Shape>, x: Port<'f32', Shape>, t: Port<'f32', Shape>, s: Port<'f32', Shape>, schedule: ScheduleName | Schedule): Port<'f32', Shape> {
    return this.op('gauss_posterior', [zt, x, t, s], { schedule: toSchedule(schedule) }) as Port<'f32', Shape>;
  }
  /** the k-step ancestral sampler of an x-prediction model: x̃ = model(z_t, t), z_s ~ q(z_s | z_t, x̃) */
  ancestralSample(model: Model, o: { schedule: ScheduleName | Schedule; steps: number; dim: number; rows?: number | string }): Port<'f32', [string | number, number]> {
    return this.op('ancestral_sample', [], { model: model.role, schedule: toSchedule(o.schedule), steps: o.steps, rows: o.rows ?? this.B, dim: o.dim }) as Port<'f32', [string | number, number]>;
  }

  /** E‖a − b‖² against the independent-coupling baseline (`shuffle`: a fixed derangement of b; `gaussian`: 2·D):
   * 0 when a reproduces b's pairing (copying), ≈ 1 when independent of it */
  pairingError(a: Port<'f32', Shape>, b: Port<'f32', Shape>, o: { baseline?: 'shuffle' | 'gaussian' } = {}): Port<'f32', []> {
    return this.op('pairing_error', [a, b], { baseline: o.baseline ?? 'shuffle' }) as Port<'f32', []>;
  }
  /** E‖m_i − scale·z_i‖² for the given pairing, or for the batch's optimal assignment (`coupling: 'ot'`, first `rows`) */
  transportEnergy(m: Port<'f32', Shape>, z: Port<'f32', Shape>, o: { scale?: number; coupling?: 'paired' | 'ot'; rows?: number } = {}): Port<'f32', []> {
    return this.op('transport_energy', [m, z], { scale: o.scale ?? 1, coupling: o.coupling ?? 'paired', rows: o.rows ?? 256 }) as Port<'f32', []>;
  }

  /** the probability-flow ODE of `model` from noise z to data */
  odeSolve(
    model: Model,
    z: Port,
    o: { schedule: ScheduleName | Schedule; solver?: 'euler' | 'heun'; steps: number; labels?: Port<'i32', Shape>; guidance?: number; tMin?: number },
  ): Port<'f32', Shape> {
    const p = { model: model.role, schedule: toSchedule(o.schedule), solver: o.solver ?? 'heun', steps: o.steps, guidance: o.guidance, tMin: o.tMin };
    return this.op('pf_ode', o.labels ? [z, o.labels] : [z], p) as Port<'f32', Shape>;
  }

  /** the inverse flow map Φ⁻¹ of `model`: data x → noise, integrating from tMin (σ > 0) up to t = 1 */
  odeInvert(model: Model, x: Port, o: { schedule: ScheduleName | Schedule; solver?: 'euler' | 'heun'; steps: number; tMin?: number }): Port<'f32', Shape> {
    const p = { model: model.role, schedule: toSchedule(o.schedule), solver: o.solver ?? 'heun', steps: o.steps, tMin: o.tMin ?? 1e-3, invert: true };
    return this.op('pf_ode', [x], p) as Port<'f32', Shape>;
  }

  private declare<R extends string, K extends Kind>(role: R, spec: ModelSpec, trainable: boolean, extra: Partial<ModelDecl>): Model<R, K> {
    const at = callsite();
    if (this.models.some((m) => m.role === role)) this.issues.push({ code: 'duplicate_role', message: `role '${role}' is declared twice`, node: role, at });
    Object.assign(this.datasets, spec.datasets ?? {});
    const decl: ModelDecl = { role, kind: spec.kind, config: spec.config, trainable, ...extra };
    if (at) decl.at = at;
    this.models.push(decl);
    const call = (...inputs: Port[]) => this.op('call', inputs, { model: role }) as Port<'f32', Shape>;
    const output = (name: string) => (...inputs: Port[]) => this.op('call', inputs, { model: role, output: name }) as Port<'f32', Shape>;
    return Object.assign(call, { role, kind: (trainable ? 'trainable' : 'frozen') as K, output });
  }
  /** a model whose weights never change; no gradient may reach it */
  frozen<const R extends string>(role: R, spec: ModelSpec, o: { load?: string } = {}): Model<R, 'frozen'> {
    return this.declare(role, spec, false, o.load ? { load: o.load } : {});
  }
  /** a model updated by `minimize`; `initFrom` copies another role's weights (same architecture) */
  trainable<const R extends string>(role: R, spec: ModelSpec, o: { initFrom?: Model; load?: string } = {}): Model<R, 'trainable'> {
    return this.declare(role, spec, true, { ...(o.initFrom ? { initFrom: o.initFrom.role } : {}), ...(o.load ? { load: o.load } : {}) });
  }

  /** update `model`'s weights to decrease `loss` (a scalar) */
  minimize(model: Model<string, 'trainable'>, loss: Scalar, o: MinimizeOptions): void {
    const opt: AdamConfig = { kind: 'adam', lr: o.optimizer.lr, beta1: o.optimizer.beta1 ?? 0.9, beta2: o.optimizer.beta2 ?? 0.999, eps: o.optimizer.eps ?? 1e-8 };
    if (o.optimizer.decay) opt.decay = { ...o.optimizer.decay };
    const u: UpdateDecl = { role: model.role, loss: loss.id, optimizer: opt, ratio: o.ratio ?? 1, warmup: o.warmup ?? 0 };
    // 0 is off, so a pipeline can pass its option through; any other value outside (0, 1) is recorded for verify
    if (o.ema !== undefined && o.ema !== 0) u.ema = o.ema;
    const at = callsite();
    if (at) u.at = at;
    this.updates.push(u);
  }

  /** a value to log with the metrics of every step (a scalar) */
  output(name: string, p: Scalar): void {
    this.outputs[name] = p.id;
  }

  /** what the run's metrics compare: student samples against a toy's exact distribution and its teacher's sampler */
  evaluate(o: { samples: Port; target: Toy | TokenToy; teacher?: Model; schedule?: ScheduleName | Schedule; noise?: Port; extras?: Record<string, Port> }): void {
    this.datasets[o.target.name] = o.target.spec;
    this.evalDecl = { samples: o.samples.id, target: o.target.name };
    // `noise`: the student's input z, which the copying diagnostic pushes through the teacher's flow map
    const extras = { ...o.extras, ...(o.noise ? { noise: o.noise } : {}) };
    if (Object.keys(extras).length) this.evalDecl.extras = Object.fromEntries(Object.entries(extras).map(([k, p]) => [k, p.id]));
    if (o.teacher) this.evalDecl.teacher = { role: o.teacher.role, schedule: toSchedule(o.schedule ?? 'rf') };
  }

  toIR(run: GraphIR['run']): GraphIR {
    const ir: GraphIR = {
      version: IR_VERSION,
      name: this.name,
      dims: { ...this.dims },
      datasets: structuredClone(this.datasets),
      models: structuredClone(this.models),
      nodes: structuredClone(this.nodes),
      updates: structuredClone(this.updates),
      outputs: { ...this.outputs },
      run,
    };
    if (this.evalDecl) ir.eval = structuredClone(this.evalDecl);
    return ir;
  }
}
