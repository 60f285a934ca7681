/** @file Training as a stream: RxJS operator functions over step indices, one compute step at a time. */
import { Observable, concat, concatMap, defer, from, map, of, range, takeWhile, type OperatorFunction } from 'rxjs';
import type { Tensor } from '../gpu/lower/context.ts';
import type { Executor, ExecutorState, UpdateResult } from './executor.ts';
import type { HostTensor } from '../ops/models/index.ts';
import type { UpdatePlan } from '../dsl/compile/plan.ts';
import { studentMetrics, studentMetricsAsync, type EvalSetup, type StudentMetrics } from './evaluate.ts';
import { nextMacrotask } from './macrotask.ts';

export interface StepEvent {
  step: number;
  /** last loss of each role in this step */
  losses: Record<string, number>;
  outputs: Record<string, number>;
  /** gradient norm of each role's last update in this step */
  gradNorms: Record<string, number>;
  /** roles whose update was skipped for a NaN/Inf in this step (one entry per skipped update) */
  nonFinite: string[];
  wallSeconds: number;
  stepsPerSecond: number;
  /** student metrics and the samples they were measured on, at evaluation steps */
  eval?: StudentMetrics;
  /** the whole training state as it was right after this step, at the steps `TrainOptions.snapshotAt` names (a
   * checkpoint's): events may reach their consumer while training has gone on */
  state?: ExecutorState;
}

/** awaited before each step; 'stop' ends training at that boundary (the stream completes with the steps done) */
export type Gate = (step: number) => Promise<void | 'stop'> | void | 'stop';

/** Measures the student on its weights as they were at an evaluation step (the roles' evaluated weights, host copies),
 * away from the training loop (a worker thread): training goes on meanwhile, and what it returns never depends on
 * when it runs. */
export type Evaluator = (step: number, weights: Record<string, Record<string, HostTensor>>) => Promise<StudentMetrics>;

const warmupOrder = (exe: Executor) => [...exe.plan.updates].sort((a, b) => a.declared - b.declared);

/** The warm-up updates (`warmup > 0`), before the first step, in the order the graph declared them. */
export function warmup(exe: Executor): void {
  for (const u of warmupOrder(exe)) for (let i = 0; i < u.warmup; i++) exe.update(u);
}

/** `warmup` on any backend: a deferred executor dispatches every warm-up update and reads them back once */
async function warmupAsync(exe: Executor): Promise<void> {
  if (!exe.deferred) return warmup(exe);
  const sent: [UpdatePlan, Tensor][] = [];
  for (const u of warmupOrder(exe)) for (let i = 0; i < u.warmup; i++) sent.push([u, exe.dispatch(u)]);
  const values = await exe.readBatch(sent.map(([, t]) => t));
  sent.forEach(([u], i) => exe.settle(u, values[i]!));
}

/** step index → one step: each role `ratio` times, critics (ratio > 1) first; the state rides along at `snapshotAt`. */
export const trainStep = (exe: Executor, snapshotAt: (step: number) => boolean = () => false, start = performance.now(), first = 1): OperatorFunction<number, StepEvent> =>
  concatMap((step) => {
    const losses: Record<string, number> = {};
    const outputs: Record<string, number> = {};
    const gradNorms: Record<string, number> = {};
    const nonFinite: string[] = [];
    const record = (u: UpdatePlan, res: UpdateResult) => {
      losses[u.role] = res.loss;
      gradNorms[u.role] = res.gradNorm;
      if (res.skipped) nonFinite.push(u.role);
      Object.assign(outputs, res.outputs);
    };
    const event = (state?: ExecutorState): StepEvent => {
      const wallSeconds = (performance.now() - start) / 1000;
      return { step, losses, outputs, gradNorms, nonFinite, wallSeconds, stepsPerSecond: (step - first + 1) / Math.max(wallSeconds, 1e-9), ...(state ? { state } : {}) };
    };
    // a backend that reads only asynchronously awaits its one read per update (a deferred loop does not come here)
    if (!exe.backend.syncReads)
      return defer(async () => {
        for (const u of exe.plan.updates) for (let r = 0; r < u.ratio; r++) record(u, await exe.updateAsync(u, step));
        Object.assign(outputs, await exe.outputsAsync());
        return event(snapshotAt(step) ? await exe.exportStateAsync() : undefined);
      });
    return defer(() => {
      for (const u of exe.plan.updates) for (let r = 0; r < u.ratio; r++) record(u, exe.update(u, step));
      Object.assign(outputs, exe.outputs());
      return of(event(snapshotAt(step) ? exe.exportState() : undefined));
    });
  });

/** One dispatched step of a deferred loop: its updates' and outputs' values still on the device. */
interface SentStep {
  step: number;
  updates: [UpdatePlan, Tensor][];
  outputs: Tensor | undefined;
}

/** what the gated steps carry to a deferred loop: a step to run, or the end (read back what was sent) */
const END = Symbol('end');

/**
 * The steps of a deferred executor: each step's updates are dispatched (decided on the device) without a read, and
 * the values of every step since the last read come back in one transfer at a read step (`readAt`), as that many
 * events in order; `END` reads what is left. Between reads the host does not wait for the device. A step that
 * `snapshotAt` names must be a read step: its event carries the state, read after it.
 */
export const deferredSteps = (exe: Executor, readAt: (step: number) => boolean, snapshotAt: (step: number) => boolean, start = performance.now(), first = 1): OperatorFunction<number | typeof END, StepEvent> => {
  let sent: SentStep[] = [];
  const read = async (): Promise<StepEvent[]> => {
    const batch = sent;
    sent = [];
    const tensors = batch.flatMap((s) => [...s.updates.map(([, t]) => t), ...(s.outputs ? [s.outputs] : [])]);
    const values = await exe.readBatch(tensors);
    const wallSeconds = (performance.now() - start) / 1000;
    let at = 0;
    const events = batch.map((s) => {
      const e: StepEvent = { step: s.step, losses: {}, outputs: {}, gradNorms: {}, nonFinite: [], wallSeconds, stepsPerSecond: (s.step - first + 1) / Math.max(wallSeconds, 1e-9) };
      for (const [u] of s.updates) {
        const res = exe.settle(u, values[at++]!);
        e.losses[u.role] = res.loss;
        e.gradNorms[u.role] = res.gradNorm;
        if (res.skipped) e.nonFinite.push(u.role);
        Object.assign(e.outputs, res.outputs);
      }
      if (s.outputs) Object.assign(e.outputs, exe.outputsOf(values[at++]!));
      return e;
    });
    const last = events[events.length - 1];
    if (last && snapshotAt(last.step)) last.state = await exe.exportStateAsync();
    return events;
  };
  return concatMap((x) =>
    defer(async () => {
      if (x === END) return read();
      const updates: [UpdatePlan, Tensor][] = [];
      for (const u of exe.plan.updates) for (let r = 0; r < u.ratio; r++) updates.push([u, exe.dispatch(u, x)]);
      sent.push({ step: x, updates, outputs: exe.dispatchOutputs() });
      return readAt(x) ? read() : [];
    }).pipe(concatMap((events) => from(events))),
  );
};

/** the host copies of every trainable role's evaluated weights (its EMA where it has one) */
const evalWeights = (exe: Executor) => Object.fromEntries(exe.ir.models.filter((m) => m.trainable).map((m) => [m.role, exe.hostWeights(m.role, 'eval')]));

/** Attach the student metrics every `every` steps and at `last`. With an `evaluator` (and a backend that reads
 * synchronously), the weights are copied as the step's event passes and measured elsewhere: training goes on, and the
 * events wait, in order, for their metrics. */
export const evaluateEvery = (exe: Executor, setup: EvalSetup | undefined, every: number, last: number, evaluator?: Evaluator): OperatorFunction<StepEvent, StepEvent> => {
  const due = (step: number) => !!setup && ((every > 0 && step % every === 0) || step === last);
  const away = evaluator && exe.backend.syncReads ? evaluator : undefined;
  return (events) =>
    events.pipe(
      // the copy is taken as the event is made, before the next step runs
      map((e) => ({ e, pending: away && due(e.step) ? away(e.step, evalWeights(exe)) : undefined })),
      concatMap(async ({ e, pending }) => {
        if (!due(e.step)) return e;
        return { ...e, eval: pending ? await pending : exe.backend.syncReads ? studentMetrics(exe, setup!) : await studentMetricsAsync(exe, setup!) };
      }),
    );
};

/** Steps `from`..n (default 1..n) as a stream of events, after the warm-up (unless `warmup: false`; a resumed run
 * has done it); yields to the event loop between steps so signals, timers and a worker's messages run, and awaits
 * `gate(step)` before each step (the lab's pause, stop and live views, the CLI's Ctrl-C). A deferred executor's events
 * arrive in batches, one read per batch; the others' one step at a time. */
export function train(exe: Executor, steps: number, setup: EvalSetup | undefined, evalEvery: number, o: TrainOptions = {}): Observable<StepEvent> {
  return defer(() => (o.warmup ?? true ? warmupAsync(exe) : Promise.resolve())).pipe(
    concatMap(() => {
      const start = performance.now();
      const first = o.from ?? 1;
      const snapshotAt = o.snapshotAt ?? (() => false);
      const ticks = range(first, Math.max(0, steps - first + 1)).pipe(concatMap((i) => new Observable<number>((sub) => nextMacrotask(() => (sub.next(i), sub.complete())))));
      // a gate that says 'stop' ends the steps there (a run only awaits a gate when it has one)
      const gated = o.gate ? ticks.pipe(concatMap(async (i) => ((await o.gate!(i)) === 'stop' ? END : i)), takeWhile((i): i is number => i !== END)) : ticks;
      const stepped = exe.deferred
        ? // read back at every logging interval, evaluation, snapshot and the last step, and what is left at a stop
          concat(gated, of(END as typeof END)).pipe(
            deferredSteps(exe, (i) => i === steps || i % (o.readEvery ?? DEFAULT_READ_EVERY) === 0 || (evalEvery > 0 && i % evalEvery === 0) || snapshotAt(i), snapshotAt, start, first),
          )
        : gated.pipe(trainStep(exe, snapshotAt, start, first));
      return stepped.pipe(evaluateEvery(exe, setup, evalEvery, steps, o.evaluator));
    }),
  );
}

/** steps between two reads of a deferred loop (the most its metric rows lag behind the device) */
export const DEFAULT_READ_EVERY = 10;

export interface TrainOptions {
  /** run the warm-up updates first (default true; a resumed run has done them) */
  warmup?: boolean;
  /** the first step (default 1) */
  from?: number;
  gate?: Gate;
  /** a deferred loop's read interval in steps (default DEFAULT_READ_EVERY) */
  readEvery?: number;
  /** steps whose event carries the training state as it was right after them (a checkpoint's) */
  snapshotAt?: (step: number) => boolean;
  /** measure the student away from the loop (a worker thread) */
  evaluator?: Evaluator;
}
