/**
 * @file `npm run bench -- deferred`: dmd2-ring's training loop with one host read per update (the loop before the
 * deferred one) against the deferred loop (updates decided on the device, losses read back once per interval), on one
 * backend, repetitions interleaved. Reports steps per second and host reads per step of each.
 */
import { lastValueFrom } from 'rxjs';
import { buildIR } from '../../dsl/pipeline.ts';
import { PIPELINES } from '../../pipelines/index.ts';
import { openExecutor } from '../../runtime/open.ts';
import { DEFAULT_READ_EVERY, train } from '../../runtime/train.ts';
import { summarize, type Rate } from '../dmd-step/protocol.ts';

export interface DeferredResult {
  backend: string;
  batch: number;
  stepsPerRep: number;
  readEvery: number;
  perUpdate: Rate & { readsPerStep: number };
  deferred: Rate & { readsPerStep: number };
  /** deferred / per-update, medians */
  ratio: number;
}

export async function benchDeferred(o: { backend: string; batch: number; steps: number; reps: number; log?: (l: string) => void }): Promise<DeferredResult> {
  const ir = buildIR(PIPELINES['dmd2-ring']!, { batch: o.batch, steps: o.steps, evalEvery: 0, fakeWarmup: 0 });
  const rates = { perUpdate: [] as number[], deferred: [] as number[] };
  const reads = { perUpdate: 0, deferred: 0 };
  for (let r = 0; r < o.reps; r++)
    for (const mode of r % 2 ? (['deferred', 'perUpdate'] as const) : (['perUpdate', 'deferred'] as const)) {
      // one executor at a time: variables are named by role
      const exe = await openExecutor(ir, 1, o.backend, { deferReads: mode === 'deferred' });
      try {
        await lastValueFrom(train(exe, 3, undefined, 0, { warmup: false }), { defaultValue: undefined }); // programs compiled
        const before = exe.hostReads;
        const t0 = performance.now();
        await lastValueFrom(train(exe, o.steps, undefined, 0, { warmup: false }), { defaultValue: undefined });
        const rate = o.steps / ((performance.now() - t0) / 1000);
        rates[mode].push(rate);
        reads[mode] = (exe.hostReads - before) / o.steps;
        o.log?.(`rep ${r + 1} ${mode.padEnd(9)} ${rate.toFixed(2)} steps/s, ${reads[mode].toFixed(2)} host reads per step`);
      } finally {
        exe.dispose();
      }
    }
  const perUpdate = { ...summarize(rates.perUpdate), readsPerStep: reads.perUpdate };
  const deferred = { ...summarize(rates.deferred), readsPerStep: reads.deferred };
  const res = { backend: o.backend, batch: o.batch, stepsPerRep: o.steps, readEvery: DEFAULT_READ_EVERY, perUpdate, deferred, ratio: deferred.median / perUpdate.median };
  o.log?.(`${o.backend}, B = ${o.batch}: per-update ${perUpdate.median.toFixed(2)} steps/s (${perUpdate.readsPerStep.toFixed(2)} reads/step), deferred ${deferred.median.toFixed(2)} (${deferred.readsPerStep.toFixed(2)} reads/step): ${res.ratio.toFixed(2)}×`);
  return res;
}
