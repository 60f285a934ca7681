/** @file Training as a stream: RxJS operator functions over step indices, one compute step at a time. */
import { Observable, concat, concatMap, defer, from, identity, of, range, throwError, type OperatorFunction } from 'rxjs';
import type { Tensor } from '../gpu/lower/context.ts';
import type { Executor, UpdateResult } from './executor.ts';
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
}

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

/** step index → one step: each role `ratio` times, critics (ratio > 1) first. */
export const trainStep = (exe: Executor, start = performance.now(), first = 1): OperatorFunction<number, StepEvent> =>
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
    const event = (): StepEvent => {
      const wallSeconds = (performance.now() - start) / 1000;
      return { step, losses, outputs, gradNorms, nonFinite, wallSeconds, stepsPerSecond: (step - first + 1) / Math.max(wallSeconds, 1e-9) };
    };
    // a backend that reads only asynchronously awaits its one read per update (a deferred loop does not come here)
    if (!exe.backend.syncReads)
      return defer(async () => {
        for (const u of exe.plan.updates) for (let r = 0; r < u.ratio; r++) record(u, await exe.updateAsync(u));
        Object.assign(outputs, await exe.outputsAsync());
        return event();
      });
    return defer(() => {
      for (const u of exe.plan.updates) for (let r = 0; r < u.ratio; r++) record(u, exe.update(u));
      Object.assign(outputs, exe.outputs());
      return of(event());
    });
  });

/** One dispatched step of a deferred loop: its updates' and outputs' values still on the device. */
interface SentStep {
  step: number;
  updates: [UpdatePlan, Tensor][];
  outputs: Tensor | undefined;
}

/**
 * The steps of a deferred executor: each step's updates are dispatched (decided on the device) without a read, and
 * the values of every step since the last read come back in one transfer at a read step (`readAt`), as that many
 * events in order. Between reads the host does not wait for the device. A stop from the gate (an error) first reads
 * what was dispatched, so every step done has its event.
 */
export const deferredSteps = (exe: Executor, readAt: (step: number) => boolean, start = performance.now(), first = 1): OperatorFunction<number | { stop: unknown }, StepEvent> => {
  let sent: SentStep[] = [];
  const read = async (): Promise<StepEvent[]> => {
    const batch = sent;
    sent = [];
    const tensors = batch.flatMap((s) => [...s.updates.map(([, t]) => t), ...(s.outputs ? [s.outputs] : [])]);
    const values = await exe.readBatch(tensors);
    const wallSeconds = (performance.now() - start) / 1000;
    let at = 0;
    return batch.map((s) => {
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
  };
  return concatMap((x) => {
    if (typeof x !== 'number') return defer(async () => read()).pipe(concatMap((events) => concat(from(events), throwError(() => x.stop))));
    return defer(async () => {
      const updates: [UpdatePlan, Tensor][] = [];
      for (const u of exe.plan.updates) for (let r = 0; r < u.ratio; r++) updates.push([u, exe.dispatch(u)]);
      sent.push({ step: x, updates, outputs: exe.dispatchOutputs() });
      return readAt(x) ? read() : [];
    }).pipe(concatMap((events) => from(events)));
  });
};

/** Attach the student metrics every `every` steps and at `last`. */
export const evaluateEvery = (exe: Executor, setup: EvalSetup | undefined, every: number, last: number): OperatorFunction<StepEvent, StepEvent> =>
  concatMap(async (e) => {
    if (!setup || !((every > 0 && e.step % every === 0) || e.step === last)) return e;
    return { ...e, eval: exe.backend.syncReads ? studentMetrics(exe, setup) : await studentMetricsAsync(exe, setup) };
  });

/** Steps `from`..n (default 1..n) as a stream of events, after the warm-up (unless `warmup: false`; a resumed run
 * has done it); yields to the event loop between steps so signals, timers and a worker's messages run, and awaits
 * `gate(step)` before each step (the lab's pause, stop and live views, the CLI's Ctrl-C and checkpoint writes). A
 * deferred executor's events arrive in batches, one read per batch; the others' one step at a time. */
export function train(exe: Executor, steps: number, setup: EvalSetup | undefined, evalEvery: number, o: TrainOptions = {}): Observable<StepEvent> {
  return defer(() => (o.warmup ?? true ? warmupAsync(exe) : Promise.resolve())).pipe(
    concatMap(() => {
      const start = performance.now();
      const first = o.from ?? 1;
      const ticks = range(first, Math.max(0, steps - first + 1)).pipe(concatMap((i) => new Observable<number>((sub) => nextMacrotask(() => (sub.next(i), sub.complete())))));
      if (exe.deferred) {
        // read back at every logging interval, evaluation, the caller's sync points and the last step
        const readEvery = o.readEvery ?? DEFAULT_READ_EVERY;
        const readAt = (i: number) => i === steps || i % readEvery === 0 || (evalEvery > 0 && i % evalEvery === 0) || (o.syncAt?.(i) ?? false);
        const gated = o.gate ? ticks.pipe(concatMap(async (i): Promise<number | { stop: unknown }> => {
          try {
            await o.gate!(i);
            return i;
          } catch (stop) {
            return { stop };
          }
        })) : ticks;
        return gated.pipe(deferredSteps(exe, readAt, start, first), evaluateEvery(exe, setup, evalEvery, steps));
      }
      return ticks.pipe(
        // only a run with a gate awaits one: the plain step loop gains no promise per step
        o.gate ? concatMap(async (i) => (await o.gate!(i), i)) : identity,
        trainStep(exe, start, first),
        evaluateEvery(exe, setup, evalEvery, steps),
      );
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
  /** awaited before each step; an error it throws ends the stream (after a deferred loop has read what it sent) */
  gate?: (step: number) => Promise<void> | void;
  /** a deferred loop's read interval in steps (default DEFAULT_READ_EVERY) */
  readEvery?: number;
  /** steps after which a deferred loop must have read everything back (a checkpoint's) */
  syncAt?: (step: number) => boolean;
}
