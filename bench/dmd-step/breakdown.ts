/** @file Where a compiled iteration's time goes: every kernel of the backend timed around its call, the host's random
 * draws (the counter-based Rng: JS, its normals in WebAssembly; or taken where the worker pool drew them ahead) timed
 * around theirs, and the rest — tfjs's per-op bookkeeping, the
 * executor, RxJS — as what is left of the wall time. The wrappers are removed afterwards. */
import type * as tfns from '@tensorflow/tfjs';
import { Rng } from '../../ops/rng.ts';
import { DrawAhead } from '../../gpu/kernels/draw-ahead.ts';

export interface Breakdown {
  /** wall time per iteration, ms */
  ms: number;
  /** per kernel name: ms and calls per iteration, largest first */
  kernels: { name: string; ms: number; calls: number }[];
  /** the host's normal and uniform draws, ms per iteration */
  drawsMs: number;
  /** wall − kernels − draws, ms per iteration */
  restMs: number;
}

type KernelConfig = { kernelName: string; kernelFunc: (a: unknown) => unknown };

export async function breakdown(tf: typeof tfns, backend: string, run: (n: number) => Promise<void>, iterations = 10): Promise<Breakdown> {
  const kernels = (tf as unknown as { getKernelsForBackend(b: string): KernelConfig[] }).getKernelsForBackend(backend);
  const spent = new Map<string, { ms: number; calls: number }>();
  const restore: (() => void)[] = [];
  let drawsMs = 0;
  let ms: number;
  try {
    for (const k of kernels) {
      const inner = k.kernelFunc;
      k.kernelFunc = (a) => {
        const t0 = performance.now();
        try {
          return inner(a);
        } finally {
          const e = spent.get(k.kernelName) ?? { ms: 0, calls: 0 };
          e.ms += performance.now() - t0;
          e.calls++;
          spent.set(k.kernelName, e);
        }
      };
      restore.push(() => (k.kernelFunc = inner));
    }
    // normals() goes through normalsInto (the wasm lowering calls it directly): wrapping that counts every normal once;
    // draws the worker pool made ahead are taken (a copy, or a wait for the worker) instead
    const timed = <O extends object>(proto: O, m: keyof O & string) => {
      const inner = proto[m] as (...x: unknown[]) => unknown;
      (proto as Record<string, unknown>)[m] = function (this: unknown, ...a: unknown[]) {
        const t0 = performance.now();
        try {
          return inner.apply(this, a);
        } finally {
          drawsMs += performance.now() - t0;
        }
      };
      restore.push(() => ((proto as Record<string, unknown>)[m] = inner));
    };
    timed(Rng.prototype, 'normalsInto');
    timed(Rng.prototype, 'uniforms');
    timed(DrawAhead.prototype, 'take');
    const t0 = performance.now();
    await run(iterations);
    ms = (performance.now() - t0) / iterations;
  } finally {
    restore.forEach((f) => f());
  }
  const list = [...spent].map(([name, e]) => ({ name, ms: e.ms / iterations, calls: e.calls / iterations })).sort((a, b) => b.ms - a.ms);
  const inKernels = list.reduce((s, k) => s + k.ms, 0);
  drawsMs /= iterations;
  return { ms, kernels: list, drawsMs, restMs: ms - inKernels - drawsMs };
}

export function describeBreakdown(b: Breakdown, top = 4): string {
  const inKernels = b.kernels.reduce((s, k) => s + k.ms, 0);
  const pct = (x: number) => `${((100 * x) / b.ms).toFixed(0)} %`;
  const shown = b.kernels.slice(0, top).map((k) => `${k.name} ${k.ms.toFixed(1)} ms (${k.calls} calls)`).join(', ');
  return (
    `  time per iteration ${b.ms.toFixed(1)} ms: kernels ${inKernels.toFixed(1)} ms (${pct(inKernels)}; ${shown}, …), ` +
    `host draws ${b.drawsMs.toFixed(1)} ms (${pct(b.drawsMs)}), the rest (tfjs per-op cost, executor) ${b.restMs.toFixed(1)} ms (${pct(b.restMs)})`
  );
}
