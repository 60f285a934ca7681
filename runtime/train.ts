/** @file Training as a stream: RxJS operator functions over step indices, one compute step at a time. */
import { Observable, concatMap, defer, identity, of, range, type OperatorFunction } from 'rxjs';
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

/** `warmup` on any backend (webgpu in Node awaits each update's read) */
async function warmupAsync(exe: Executor): Promise<void> {
  if (exe.backend.syncReads) return warmup(exe);
  for (const u of warmupOrder(exe)) for (let i = 0; i < u.warmup; i++) await exe.updateAsync(u);
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
    // a backend that reads only asynchronously (webgpu in Node) awaits its one read per update
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

/** Attach the student metrics every `every` steps and at `last`. */
export const evaluateEvery = (exe: Executor, setup: EvalSetup | undefined, every: number, last: number): OperatorFunction<StepEvent, StepEvent> =>
  concatMap(async (e) => {
    if (!setup || !((every > 0 && e.step % every === 0) || e.step === last)) return e;
    return { ...e, eval: exe.backend.syncReads ? studentMetrics(exe, setup) : await studentMetricsAsync(exe, setup) };
  });

/** Steps `from`..n (default 1..n) as a stream of events, after the warm-up (unless `warmup: false`; a resumed run
 * has done it); yields to the event loop between steps so signals, timers and a worker's messages run, and awaits
 * `gate(step)` before each step (the lab's pause, stop and live views). */
export function train(exe: Executor, steps: number, setup: EvalSetup | undefined, evalEvery: number, o: { warmup?: boolean; from?: number; gate?: (step: number) => Promise<void> | void } = {}): Observable<StepEvent> {
  return defer(() => (o.warmup ?? true ? warmupAsync(exe) : Promise.resolve())).pipe(
    concatMap(() => {
      const start = performance.now();
      const from = o.from ?? 1;
      return range(from, Math.max(0, steps - from + 1)).pipe(
        concatMap((i) => new Observable<number>((sub) => nextMacrotask(() => (sub.next(i), sub.complete())))),
        // only a run with a gate awaits one: the plain step loop gains no promise per step
        o.gate ? concatMap(async (i) => (await o.gate!(i), i)) : identity,
        trainStep(exe, start, from),
        evaluateEvery(exe, setup, evalEvery, steps),
      );
    }),
  );
}
