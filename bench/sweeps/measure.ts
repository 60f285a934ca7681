/** @file Train after the warm-up and measure at step 0, every `every` steps and at the last step. */
import { filter, lastValueFrom, map, takeWhile, tap, toArray } from 'rxjs';
import type { Executor } from '../../runtime/executor.ts';
import { train, warmup, type StepEvent } from '../../runtime/train.ts';

/**
 * `measure` also gets the step's event (losses, logged outputs), except at step 0; `onStep` sees every step's. With
 * `done`, training stops at the first measurement that satisfies it (`steps` is then the cap).
 */
export async function measureAlong<P>(exe: Executor, steps: number, every: number, measure: (step: number, e?: StepEvent) => P, o: { onStep?: (e: StepEvent) => void; done?: (p: P) => boolean } = {}): Promise<P[]> {
  const { onStep, done } = o;
  warmup(exe);
  const first = measure(0);
  if (done?.(first)) return [first];
  const rest = await lastValueFrom(
    train(exe, steps, undefined, 0, { warmup: false }).pipe(
      tap((e) => onStep?.(e)),
      filter((e) => (every > 0 && e.step % every === 0) || e.step === steps),
      map((e) => measure(e.step, e)),
      takeWhile((p) => !done?.(p), true),
      toArray(),
    ),
  );
  return [first, ...rest];
}

/** mean and sample standard deviation (0 for one value) */
export const meanStd = (v: number[]) => {
  const m = v.reduce((a, b) => a + b, 0) / v.length;
  return { mean: m, std: v.length > 1 ? Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / (v.length - 1)) : 0 };
};
