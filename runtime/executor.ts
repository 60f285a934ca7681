/** @file The executor: runs a plan's steps on a backend. It owns every tensor; user code never disposes anything. */
import type * as tfns from '@tensorflow/tfjs';
import type { Backend } from '../gpu/backend.ts';
import type { GraphIR } from '../dsl/ir/schema.ts';
import type { Plan, PlanStep, UpdatePlan } from '../dsl/compile/plan.ts';
import type { HostTensor } from '../ops/models/index.ts';
import type { LowerCtx, Tensor } from '../gpu/lower/index.ts';
import { adamApply, adamApplyGuarded, adamInit, atStep, guardInit, type AdamState } from './optim.ts';
import { emaApply, emaInit, type EmaState } from './ema.ts';
import { backwardScope, sumSquares } from '../gpu/fused.ts';
import { UserError } from '../dsl/errors.ts';
import { refuseHostReads, refuseUnsupported } from './init.ts';
import { NonFiniteError, type ExecutorOptions, type ExecutorState, type RoleWeights, type Sample, type UpdateResult } from './executor-types.ts';
import { fetchAsync, fetchSync, readAsync, toHost, type Fetched } from './host-read.ts';
import { StepRunner, type EvalCtx } from './steps.ts';
import { NextUpdate } from './next-update.ts';

export { NonFiniteError } from './executor-types.ts';
export type { ExecutorOptions, ExecutorState, RoleWeights, Sample, UpdateResult } from './executor-types.ts';

/** a variable, its name in a state file, and the value read for it */
type Write = [tfns.Variable, string, HostTensor | undefined];

/** an update between its gradients and its one read */
interface PendingUpdate {
  stats: Tensor;
  grads: Record<string, Tensor>;
}

/** In this order: setup and graph evaluation (`ctx`; steps.ts runs the steps); updates read one at a time (`update`,
 * `updateAsync`, via `begin` → `finish`) and decided on the device (`dispatch`, `settle`, `readBatch`); forward-only
 * outputs and samples; weights as trained or evaluated; the whole training state out and back in. */
export class Executor {
  readonly roles = new Map<string, RoleWeights>();
  /** lowers the plan's steps onto the backend */
  private readonly steps: StepRunner;
  /** counts graph evaluations; with the seed it fixes every random draw */
  evaluations = 0;
  private adam = new Map<UpdatePlan, AdamState>();
  /** the moving average of each role that has one (plan.ema): evaluation and exported weights read it */
  private ema = new Map<string, EmaState>();
  /** per update, the nodes its tape records */
  private readonly tapes: Map<UpdatePlan, Set<string>>;
  /** skipped updates per role, and each role's skips in a row */
  readonly nonFinite = new Map<string, number>();
  readonly nonFiniteInARow = new Map<string, number>();
  /** updates begun per role (applied, skipped, or dispatched and not yet read) */
  private begun = new Map<string, number>();
  /** the loop decides updates on the device and reads them back in batches (`dispatch`, `settle`) */
  readonly deferred: boolean;
  /** per update, its guard on the device [ok, lr/c1, c2, t] (deferred loops only) */
  private guards = new Map<UpdatePlan, tfns.Variable>();
  /** reads from the device to the host made by training (not evaluation): one per update, or one per batch deferred */
  hostReads = 0;
  /** the update expected next, whose normal draws are asked for ahead */
  private readonly next: NextUpdate;

  constructor(
    readonly backend: Backend,
    readonly plan: Plan,
    readonly seed: number,
    init: Map<string, Record<string, HostTensor>>,
    readonly options: ExecutorOptions = {},
  ) {
    const { tf } = backend;
    refuseUnsupported(plan.ir);
    if (!backend.syncReads) refuseHostReads(plan.ir, backend.name);
    this.steps = new StepRunner(backend, plan.ir, seed, this.roles, options.onDraw);
    for (const decl of plan.ir.models) {
      const host = init.get(decl.role)!;
      const weights = Object.fromEntries(
        // the variable shares the tensor's buffer; the tensor's own handle is released
        Object.entries(host).map(([k, t]) => [k, tf.tidy(() => tf.variable(tf.tensor(t.data, t.shape, 'float32'), decl.trainable, `${decl.role}/${k}`))]),
      );
      this.roles.set(decl.role, { decl, weights });
    }
    this.tapes = new Map(plan.updates.map((u) => [u, new Set(u.tape.flatMap((x) => (x.kind === 'run' || x.kind === 'fusedMean' ? [x.node] : [])))]));
    // one optimizer state per update: a pre-training phase does not hand its moments to the main phase
    for (const u of plan.updates) this.adam.set(u, adamInit(tf, this.roles.get(u.role)!.weights));
    for (const role of Object.keys(plan.ema)) this.ema.set(role, emaInit(tf, this.roles.get(role)!.weights));
    this.next = new NextUpdate(plan.updates);
    this.deferred = options.deferReads ?? !backend.syncReads;
    if (this.deferred) for (const u of plan.updates) this.guards.set(u, guardInit(tf, 0));
  }

  get ir(): GraphIR {
    return this.plan.ir;
  }

  /** `key` fixes the draws (evaluation noise); without it each call advances the training stream. `ema`: the roles
   * that have a moving average run with it (evaluation); training always runs the raw weights. */
  private ctx(dims: Record<string, number>, key?: string, ema = false): EvalCtx {
    return this.steps.ctx(dims, key ?? this.evaluations++, (role) => this.weightsOf(role, ema ? 'eval' : 'raw'));
  }

  /** One update of a role: forward outside the tape, forward on the tape, gradients, then Adam — unless the loss or
   * a gradient is non-finite, in which case nothing is written and the skip is counted. `step` is the main step the
   * update belongs to (0: a warm-up), which a decaying learning rate reads. */
  update(u: UpdatePlan, step = 0): UpdateResult {
    const p = this.begin(u);
    this.hostReads++;
    return this.finish(u, p, () => p.stats.dataSync() as Float32Array, step);
  }

  /** `update` for backends that read back only asynchronously (webgpu in Node): the same work, one awaited read. */
  async updateAsync(u: UpdatePlan, step = 0): Promise<UpdateResult> {
    const p = this.begin(u);
    this.hostReads++;
    let values: Float32Array;
    try {
      values = (await p.stats.data()) as Float32Array;
    } catch (e) {
      this.release(p);
      throw e;
    }
    return this.finish(u, p, () => values, step);
  }

  /** Everything up to the one read: gradients, and [loss, Σ‖g‖², logged outputs…] in one tensor. */
  private begin(u: UpdatePlan): PendingUpdate {
    const { tf } = this.backend;
    const vars = this.roles.get(u.role)!.weights;
    const ctx = this.ctx(this.plan.ir.dims);
    return tf.tidy(() => {
      const env = new Map<string, Tensor>();
      this.steps.run(u.pre, env, ctx);
      // this update's sources have drawn: the next one's draws can be made while this one runs
      const next = this.next.after(u);
      if (next) this.steps.drawAhead([...next.pre, ...next.tape], this.plan.ir.dims, this.evaluations);
      let logged: Tensor[] = [];
      const { value, grads } = backwardScope(() => tf.variableGrads(() => {
        this.steps.run(u.tape, env, ctx, { role: u.role, nodes: this.tapes.get(u)! });
        // the tape's intermediates are released when variableGrads returns: the logged scalars are kept
        logged = Object.values(u.outputs).map((id) => tf.keep(tf.reshape(env.get(id)!, [1])));
        return env.get(u.loss) as tfns.Scalar;
      }, Object.values(vars)));
      // a parameter the loss does not reach (the last layer of a model read only through its 'features') has no
      // gradient: Adam leaves it and its moments alone, as torch.optim.Adam does with a None grad
      const byName = Object.fromEntries(Object.entries(vars).flatMap(([k, v]) => (grads[v.name] ? [[k, grads[v.name]!]] : [])));
      const first = Object.keys(byName)[0];
      const index = (this.begun.get(u.role) ?? 0) + 1;
      this.begun.set(u.role, index);
      if (first && this.options.poisonGradient?.(u.role, index)) byName[first] = tf.add(byName[first]!, NaN);
      // Σ‖g‖² is NaN/Inf exactly when some gradient entry is (or it overflows)
      const stats = tf.concat([tf.reshape(value, [1]), tf.reshape(sumSquares(Object.values(byName)), [1]), ...logged]);
      logged.forEach((t) => t.dispose());
      return { stats, grads: byName };
    });
  }

  private release(p: PendingUpdate): void {
    p.stats.dispose();
    Object.values(p.grads).forEach((g) => g.dispose());
  }

  private finish(u: UpdatePlan, p: PendingUpdate, read: () => Float32Array, step: number): UpdateResult {
    const { tf } = this.backend;
    let res: UpdateResult;
    try {
      const v = read();
      const [loss, sumSq] = [v[0]!, v[1]!];
      const outputs = Object.fromEntries(Object.keys(u.outputs).map((k, i) => [k, v[2 + i]!]));
      const skipped = !Number.isFinite(loss) || !Number.isFinite(sumSq);
      if (!skipped) {
        const weights = this.roles.get(u.role)!.weights;
        adamApply(tf, atStep(u.finish.find((s) => s.kind === 'apply')!.optimizer, step), this.adam.get(u)!, weights, p.grads);
        const ema = u.finish.find((s) => s.kind === 'ema');
        if (ema) emaApply(tf, ema.decay, this.ema.get(u.role)!, weights, Object.keys(p.grads));
      }
      res = { role: u.role, loss, gradNorm: Math.sqrt(sumSq), skipped, outputs };
    } finally {
      this.release(p);
    }
    return this.count(res);
  }

  /** count a skip (or the end of a run of them); too many in a row stop training */
  private count(res: UpdateResult): UpdateResult {
    if (res.skipped) {
      this.nonFinite.set(res.role, (this.nonFinite.get(res.role) ?? 0) + 1);
      const inARow = (this.nonFiniteInARow.get(res.role) ?? 0) + 1;
      this.nonFiniteInARow.set(res.role, inARow);
      if (inARow >= (this.options.maxNonFinite ?? 20)) throw new NonFiniteError(res.role, inARow);
    } else this.nonFiniteInARow.delete(res.role);
    return res;
  }

  /** One update decided on the device (a deferred loop): Adam (and the EMA) apply where the loss and Σ‖g‖² are
   * finite and leave weights and moments untouched where not, and nothing is read. Returns [loss, Σ‖g‖², logged…],
   * which the caller reads, later and batched with others, and hands to `settle` in dispatch order (then disposes). */
  dispatch(u: UpdatePlan, step = 0): Tensor {
    const { tf } = this.backend;
    const p = this.begin(u);
    try {
      const guard = this.guards.get(u)!;
      const weights = this.roles.get(u.role)!.weights;
      adamApplyGuarded(tf, atStep(u.finish.find((s) => s.kind === 'apply')!.optimizer, step), this.adam.get(u)!, guard, weights, p.grads, p.stats);
      const ema = u.finish.find((s) => s.kind === 'ema');
      if (ema) emaApply(tf, ema.decay, this.ema.get(u.role)!, weights, Object.keys(p.grads), guard);
    } catch (e) {
      this.release(p);
      throw e;
    }
    Object.values(p.grads).forEach((g) => g.dispose());
    return p.stats;
  }

  /** What a dispatched update's values say, counted as `update` counts: its Adam step when it applied, a skip when not. */
  settle(u: UpdatePlan, v: Float32Array): UpdateResult {
    const [loss, sumSq] = [v[0]!, v[1]!];
    const skipped = !Number.isFinite(loss) || !Number.isFinite(sumSq);
    if (!skipped) this.adam.get(u)!.step++;
    const outputs = Object.fromEntries(Object.keys(u.outputs).map((k, i) => [k, v[2 + i]!]));
    return this.count({ role: u.role, loss, gradNorm: Math.sqrt(sumSq), skipped, outputs });
  }

  /** Read tensors (a deferred loop's batch) in one transfer, release them, and return each one's values. */
  async readBatch(ts: Tensor[]): Promise<Float32Array[]> {
    const { tf } = this.backend;
    if (!ts.length) return [];
    this.hostReads++;
    try {
      const all = tf.tidy(() => tf.concat(ts.map((t) => tf.reshape(t, [-1]))));
      try {
        const flat = (await all.data()) as Float32Array;
        let at = 0;
        return ts.map((t) => flat.slice(at, (at += t.size)));
      } finally {
        all.dispose();
      }
    } finally {
      tf.dispose(ts);
    }
  }

  /** the plan's forward-only scalar outputs as one tensor, not read (a deferred loop); undefined when there are none */
  dispatchOutputs(): Tensor | undefined {
    const { tf } = this.backend;
    return this.plan.outputs ? tf.tidy(() => tf.concat(this.outputTensors().map((t) => tf.reshape(t, [1])))) : undefined;
  }

  /** `dispatchOutputs`' values by name */
  outputsOf(v: Float32Array): Record<string, number> {
    return this.plan.outputs ? Object.fromEntries(Object.keys(this.plan.outputs.names).map((k, i) => [k, v[i]!])) : {};
  }

  /** Forward-only evaluation of the plan's scalar outputs that no update computes. */
  outputs(): Record<string, number> {
    if (this.plan.outputs) this.hostReads++;
    return this.plan.outputs ? this.named(fetchSync(this.backend.tf, () => this.outputTensors())) : {};
  }

  /** `outputs` on backends that read back only asynchronously */
  async outputsAsync(): Promise<Record<string, number>> {
    if (this.plan.outputs) this.hostReads++;
    return this.plan.outputs ? this.named(await fetchAsync(this.backend.tf, () => this.outputTensors())) : {};
  }

  /** `n` rows of the evaluation samples (the named dim B set to n), as a host array [n, D]. */
  sample(n: number, key = 'eval'): Sample {
    return this.sampleOf(fetchSync(this.backend.tf, () => this.sampleTensors(n, key)));
  }

  async sampleAsync(n: number, key = 'eval'): Promise<Sample> {
    return this.sampleOf(await fetchAsync(this.backend.tf, () => this.sampleTensors(n, key)));
  }

  /** Run a forward function with this executor's models, as evaluated (teacher samplers for the metrics). */
  withModels<T>(dims: Record<string, number>, key: string, f: (ctx: LowerCtx) => T, weights: 'eval' | 'raw' = 'eval'): T {
    return this.backend.tf.tidy(() => f(this.ctx(dims, key, weights === 'eval')) as never) as T;
  }

  /** The values of a forward function with this executor's models, read to the host (asynchronously). */
  async withModelsRead(dims: Record<string, number>, key: string, f: (ctx: LowerCtx) => Tensor): Promise<Float32Array> {
    return (await fetchAsync(this.backend.tf, () => [f(this.ctx(dims, key, true))]))[0]!.data;
  }

  /** whether `role` keeps a moving average of its weights */
  hasEma(role: string): boolean {
    return this.ema.has(role);
  }

  /** a role's weights as trained (`raw`), or as evaluated and exported (`eval`: its EMA where it has one) */
  private weightsOf(role: string, which: 'raw' | 'eval'): Record<string, tfns.Variable> {
    return (which === 'eval' && this.ema.get(role)) || this.roles.get(role)!.weights;
  }

  /** `hostWeights` on backends that read back only asynchronously */
  async hostWeightsAsync(role: string, which: 'raw' | 'eval' = 'raw'): Promise<Record<string, HostTensor>> {
    return readAsync(Object.entries(this.weightsOf(role, which)));
  }

  hostWeights(role: string, which: 'raw' | 'eval' = 'raw'): Record<string, HostTensor> {
    return Object.fromEntries(Object.entries(this.weightsOf(role, which)).map(([k, v]) => [k, toHost(v)]));
  }

  /** Everything training changes — trainable weights, optimizer moments, the RNG counter, update counters — on the host. */
  exportState(): ExecutorState {
    const { weights, optimizer, ema, counters } = this.stateVariables();
    const host = (vs: [string, tfns.Variable][]) => Object.fromEntries(vs.map(([k, v]) => [k, toHost(v)]));
    return { weights: host(weights), optimizer: host(optimizer), ema: host(ema), counters };
  }

  async exportStateAsync(): Promise<ExecutorState> {
    const { weights, optimizer, ema, counters } = this.stateVariables();
    return { weights: await readAsync(weights), optimizer: await readAsync(optimizer), ema: await readAsync(ema), counters };
  }

  private stateVariables(): { weights: [string, tfns.Variable][]; optimizer: [string, tfns.Variable][]; ema: [string, tfns.Variable][]; counters: ExecutorState['counters'] } {
    const optimizer: [string, tfns.Variable][] = [];
    const adamSteps: number[] = [];
    this.plan.updates.forEach((u, i) => {
      const a = this.adam.get(u)!;
      adamSteps.push(a.step);
      for (const [k, v] of Object.entries(a.m)) optimizer.push([`u${i}/m/${k}`, v]);
      for (const [k, v] of Object.entries(a.v)) optimizer.push([`u${i}/v/${k}`, v]);
    });
    const weights: [string, tfns.Variable][] = [];
    for (const d of this.plan.ir.models.filter((m) => m.trainable)) for (const [k, v] of Object.entries(this.roles.get(d.role)!.weights)) weights.push([`${d.role}/${k}`, v]);
    const ema = [...this.ema].flatMap(([role, e]) => Object.entries(e).map(([k, v]): [string, tfns.Variable] => [`${role}/${k}`, v]));
    const counters = { evaluations: this.evaluations, adamSteps, nonFinite: Object.fromEntries(this.nonFinite), nonFiniteInARow: Object.fromEntries(this.nonFiniteInARow) };
    return { weights, optimizer, ema, counters };
  }

  /** forward-only steps; returns the values of `ids` (kept past the tidy, for `fetch`) */
  private forward(steps: PlanStep[], dims: Record<string, number>, key: string | undefined, ids: string[], ema = false): Tensor[] {
    const ctx = this.ctx(dims, key, ema);
    const env = new Map<string, Tensor>();
    this.steps.run(steps, env, ctx);
    return ids.map((id) => env.get(id)!);
  }

  private sampleTensors(n: number, key: string): Tensor[] {
    const p = this.plan.sample;
    if (!p) throw new UserError(`pipeline '${this.plan.ir.name}' declares no samples to evaluate (g.evaluate)`);
    return this.forward(p.steps, { ...this.plan.ir.dims, B: n }, key, [p.node, ...Object.values(p.extras)], true);
  }

  private sampleOf([x, ...extras]: Fetched[]): Sample {
    const names = Object.keys(this.plan.sample!.extras);
    return { data: x!.data, shape: x!.shape, extras: Object.fromEntries(names.map((k, i) => [k, extras[i]!.data])) };
  }

  private outputTensors(): Tensor[] {
    const p = this.plan.outputs!;
    return this.forward(p.steps, this.plan.ir.dims, undefined, Object.values(p.names));
  }

  private named(vals: Fetched[]): Record<string, number> {
    return Object.fromEntries(Object.keys(this.plan.outputs!.names).map((k, i) => [k, vals[i]!.data[0]!]));
  }

  /** Replace a trainable role's weights (every tensor checked first): an evaluation of weights trained elsewhere, so
   * its EMA, if it has one, is set to them too (an exported run's weights are its EMA already). */
  loadWeights(role: string, host: Record<string, HostTensor>, what = 'weights'): void {
    const vars = [...Object.entries(this.roles.get(role)!.weights), ...Object.entries(this.ema.get(role) ?? {})];
    this.assignChecked(vars.map(([k, v]) => [v, k, host[k]]), what);
  }

  /** Every tensor's presence and shape is checked before any is written, so a bad file changes nothing. */
  private assignChecked(writes: Write[], what: string): void {
    for (const [v, name, t] of writes) {
      if (!t) throw new UserError(`${what}: missing tensor '${name}'`);
      if (t.shape.join(',') !== v.shape.join(',')) throw new UserError(`${what}: tensor '${name}' has shape [${t.shape}], the run needs [${v.shape}]`);
    }
    const { tf } = this.backend;
    for (const [v, , t] of writes) tf.tidy(() => v.assign(tf.tensor(t!.data, [...t!.shape], 'float32')));
  }

  /** Restore what `exportState` wrote; nothing changes unless every tensor is there with its shape. */
  importState(s: ExecutorState, what = 'checkpoint'): void {
    if (s.counters.adamSteps.length !== this.plan.updates.length) throw new UserError(`${what}: it holds ${s.counters.adamSteps.length} optimizer states, the plan has ${this.plan.updates.length} updates`);
    const { weights, optimizer, ema } = this.stateVariables();
    const writes = (vs: [string, tfns.Variable][], from: Record<string, HostTensor>, label = (k: string) => k) => vs.map(([k, v]): Write => [v, label(k), from[k]]);
    this.assignChecked([...writes(weights, s.weights), ...writes(optimizer, s.optimizer), ...writes(ema, s.ema, (k) => `EMA of ${k}`)], what);
    this.plan.updates.forEach((u, i) => (this.adam.get(u)!.step = s.counters.adamSteps[i]!));
    this.evaluations = s.counters.evaluations;
    const fill = (m: Map<string, number>, from: Record<string, number>) => (m.clear(), Object.entries(from).forEach(([k, n]) => m.set(k, n)));
    fill(this.nonFinite, s.counters.nonFinite);
    fill(this.nonFiniteInARow, s.counters.nonFiniteInARow);
    // every update begun before the checkpoint was applied or skipped
    this.begun.clear();
    for (const u of this.plan.updates) this.begun.set(u.role, (this.begun.get(u.role) ?? 0) + this.adam.get(u)!.step);
    for (const [role, n] of this.nonFinite) this.begun.set(role, (this.begun.get(role) ?? 0) + n);
    const { tf } = this.backend;
    for (const [u, g] of this.guards) tf.tidy(() => g.assign(tf.tensor1d([1, 0, 0, this.adam.get(u)!.step])));
  }

  dispose(): void {
    for (const r of this.roles.values()) {
      Object.values(r.weights).forEach((w) => w.dispose());
    }
    for (const a of this.adam.values()) [...Object.values(a.m), ...Object.values(a.v)].forEach((w) => w.dispose());
    for (const e of this.ema.values()) Object.values(e).forEach((w) => w.dispose());
    for (const g of this.guards.values()) g.dispose();
    this.guards.clear();
    this.roles.clear();
    this.adam.clear();
    this.ema.clear();
  }
}
