/** @file The matrix products of the dmd-step workload on their own (wasm): the roofline (measured WebAssembly SIMD
 * peak per core × threads) against the GFLOP/s the iteration's products reach, and per shape distillery's GEMM
 * (threads as configured, and one thread) against tfjs-wasm's XNNPACK (the layouts distillery used before its own
 * kernel: fused NN + bias, explicit transposes for the backward products) and jax-js (`jit(matmul)`, when given). */
import type * as tfns from '@tensorflow/tfjs';
import { gemm, transpose2d } from '../../gpu/fused.ts';
import { registerHostKernels } from '../../gpu/kernels/host.ts';
import { gemmKernels } from '../../gpu/kernels/gemm.ts';
import { PEAK_FLOPS_PER_ROUND } from '../../gpu/kernels/gemm.wat.ts';
import { defaultThreads } from '../../gpu/kernels/gemm-pool.ts';
import { KERNELS } from '../../gpu/kernels/defs.ts';

type TF = typeof tfns;
type T2 = tfns.Tensor2D;

export interface Product {
  m: number;
  n: number;
  k: number;
  ta: boolean;
  tb: boolean;
  bias: boolean;
  /** how many per iteration */
  count: number;
}

export interface ShapeTiming extends Product {
  /** µs per product */
  ours: number;
  ours1: number;
  xnnpack: number;
  jaxjs?: number;
}

export interface GemmReport {
  threads: number;
  /** GFLOP/s of independent f32x4 multiply-add chains on one core */
  peakPerCore: number;
  /** GFLOP of the products of one iteration */
  gflopPerIteration: number;
  /** the products' time inside real iterations (ms per iteration: the median of `samples`, each over
   * IN_ITERATION.iterations iterations), and the GFLOP/s that makes; `plain`: the same for the products without an
   * epilogue (DistilleryMatMul's calls; the others carry a SiLU's σ) */
  inIteration: { ms: number; gflops: number; samples: number[]; plain?: { ms: number; gflops: number } };
  /** Σ count × time of the isolated products, ms per iteration, per contestant */
  isolated: { ours: number; ours1: number; xnnpack: number; jaxjs?: number };
  shapes: ShapeTiming[];
  /** why jax-js was left out */
  jaxjsSkipped?: string;
}

const flops = (p: Product) => 2 * p.m * p.n * p.k;

/** GFLOP/s of the peak probe on this thread (tiered up first: V8 runs a function's first calls unoptimised) */
export async function peakGflops(): Promise<number> {
  const g = (await gemmKernels(new WebAssembly.Memory({ initial: 1 })))!;
  for (let i = 0; i < 50; i++) g.peak(100_000, 1);
  let best = 0;
  for (let r = 0; r < 5; r++) {
    const iters = 5_000_000;
    const t0 = performance.now();
    g.peak(iters, 1);
    best = Math.max(best, (iters * PEAK_FLOPS_PER_ROUND) / ((performance.now() - t0) / 1000) / 1e9);
  }
  return best;
}

/** the products `run(n)` launches per iteration, and the time spent in them: wraps the registered product kernels, the
 * ones with a SiLU epilogue too (their time, the epilogue's included, counts as the product's) */
export async function productsOf(
  tf: TF,
  run: (n: number) => Promise<void>,
  iterations: number,
): Promise<{ products: Product[]; msPerIteration: number; plain: { ms: number; gflop: number } }> {
  type Cfg = { kernelFunc: (a: { inputs: Record<string, tfns.TensorInfo>; attrs: Record<string, unknown> }) => unknown };
  const cfgs = [KERNELS.matMul, KERNELS.matMulSilu, KERNELS.matMulSiluOut].map((name) => tf.getKernel(name, 'wasm') as unknown as Cfg | undefined).filter((c) => c !== undefined);
  const inners = cfgs.map((c) => c.kernelFunc);
  const seen = new Map<string, Product>();
  let ms = 0;
  // the plain product kernel's calls on their own: the products' speed in the iteration without σ's arithmetic
  const plain = { ms: 0, gflop: 0 };
  cfgs.forEach((cfg, i) => {
    cfg.kernelFunc = (a) => {
      const t0 = performance.now();
      const out = inners[i]!(a);
      const dt = performance.now() - t0;
      ms += dt;
      const [x, y] = [a.inputs.x0!.shape, a.inputs.x1!.shape];
      const [ta, tb] = [!!a.attrs.transposeA, !!a.attrs.transposeB];
      const p = { m: ta ? x[1]! : x[0]!, k: ta ? x[0]! : x[1]!, n: tb ? y[0]! : y[1]!, ta, tb, bias: 'x2' in a.inputs };
      if (i === 0) {
        plain.ms += dt;
        plain.gflop += (2 * p.m * p.n * p.k) / 1e9;
      }
      const key = JSON.stringify(p);
      const e = seen.get(key) ?? { ...p, count: 0 };
      e.count++;
      seen.set(key, e);
      return out;
    };
  });
  try {
    await run(iterations);
  } finally {
    cfgs.forEach((cfg, i) => (cfg.kernelFunc = inners[i]!));
  }
  const products = [...seen.values()].map((p) => ({ ...p, count: p.count / iterations }));
  return { products, msPerIteration: ms / iterations, plain: { ms: plain.ms / iterations, gflop: plain.gflop / iterations } };
}

/** µs per call of `f` (its result disposed), after a warm-up */
function timeCall(f: () => { dispose(): void }, seconds = 0.25): number {
  for (let i = 0; i < 5; i++) f().dispose();
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < seconds * 1000) {
    f().dispose();
    n++;
  }
  return ((performance.now() - t0) / n) * 1000;
}

interface JaxNp {
  array(a: Float32Array): { reshape(s: number[]): JaxArray };
  matmul(a: JaxArray, b: JaxArray): JaxArray;
  add(a: JaxArray, b: JaxArray): JaxArray;
}
interface JaxArray {
  ref: JaxArray;
  transpose(): JaxArray;
  dispose(): void;
  blockUntilReady?(): unknown;
  dataSync(): Float32Array;
}
export interface JaxJs {
  numpy: JaxNp;
  jit<F>(f: F): F;
  init(...devices: string[]): Promise<string[]>;
  defaultDevice(d: string): void;
}

/** jax-js, from `modulePath` or the installed package; a reason when it cannot be loaded */
export async function loadJaxJs(modulePath?: string): Promise<JaxJs | string> {
  try {
    const jax = (await import(modulePath ?? '@jax-js/jax')) as JaxJs;
    // Node 20 has no `navigator`: name the wasm device instead of probing every device
    const devices = await jax.init('wasm');
    if (!devices.includes('wasm')) return `jax-js has no wasm device here (${devices.join(', ')})`;
    jax.defaultDevice('wasm');
    return jax;
  } catch (e) {
    return `jax-js not available (${(e as Error).message.split('\n')[0]}); install @jax-js/jax (a devDependency) or pass --jaxjs <module>`;
  }
}

export async function benchProducts(tf: TF, products: Product[], jax: JaxJs | undefined): Promise<ShapeTiming[]> {
  const rnd = (n: number) => Float32Array.from({ length: n }, () => Math.random() * 2 - 1);
  const out: ShapeTiming[] = [];
  const threads = defaultThreads();
  for (const p of products) {
    const a = tf.tensor(rnd(p.m * p.k), p.ta ? [p.k, p.m] : [p.m, p.k]) as T2;
    const b = tf.tensor(rnd(p.k * p.n), p.tb ? [p.n, p.k] : [p.k, p.n]) as T2;
    const bias = p.bias ? tf.tensor(rnd(p.n), [p.n]) : undefined;
    const ours = () => timeCall(() => gemm(a, b, { transposeA: p.ta, transposeB: p.tb, bias }));
    const oursT = ours();
    await registerHostKernels('wasm', { threads: 1 });
    const ours1 = ours();
    await registerHostKernels('wasm', { threads });
    // what distillery ran before its own kernel (gpu/linalg.ts): plain-layout XNNPACK products, explicit transposes
    const xnnpack = timeCall(() =>
      tf.tidy(() => {
        const x = p.ta ? transpose2d(a) : a;
        const y = p.tb ? transpose2d(b) : b;
        return tf.fused.matMul({ a: x as T2, b: y as T2, bias });
      }),
    );
    let jaxjs: number | undefined;
    if (jax) {
      const np = jax.numpy;
      const [ja, jb] = [np.array(rnd(p.m * p.k)).reshape(p.ta ? [p.k, p.m] : [p.m, p.k]), np.array(rnd(p.k * p.n)).reshape(p.tb ? [p.n, p.k] : [p.k, p.n])];
      const jbias = p.bias ? np.array(rnd(p.n)).reshape([p.n]) : undefined;
      const prod = (x: JaxArray, y: JaxArray) => np.matmul(p.ta ? x.transpose() : x, p.tb ? y.transpose() : y);
      const f = jax.jit(prod);
      const fb = jax.jit((x: JaxArray, y: JaxArray, c: JaxArray) => np.add(prod(x, y), c));
      // each call consumes its arguments (jax-js's reference counting): pass new references; read the result back
      const call = () => {
        const r = jbias ? fb(ja.ref, jb.ref, jbias.ref) : f(ja.ref, jb.ref);
        r.ref.dataSync();
        return r;
      };
      jaxjs = timeCall(call);
      [ja, jb, jbias].forEach((x) => x?.dispose());
    }
    tf.dispose([a, b, ...(bias ? [bias] : [])]);
    out.push({ ...p, ours: oursT, ours1, xnnpack, ...(jaxjs !== undefined ? { jaxjs } : {}) });
  }
  return out;
}

/** the products' time in the iteration is sampled this many times over this many iterations each, and the median
 * sample reported: this host's speed drifts (the same 256³ product, one thread, same data, took 640–660 µs in some
 * runs and 930–970 µs in others a minute apart, on either core), and one sample of 10 iterations caught a slow spell
 * or not by chance; the bench's rates are medians of repetitions too */
export const IN_ITERATION = { samples: 5, iterations: 10 };

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function gemmReport(tf: TF, run: (n: number) => Promise<void>, o: { jaxjs?: string; log: (l: string) => void }): Promise<GemmReport> {
  const threads = defaultThreads();
  await run(1);
  const samples: Awaited<ReturnType<typeof productsOf>>[] = [];
  for (let i = 0; i < IN_ITERATION.samples; i++) samples.push(await productsOf(tf, run, IN_ITERATION.iterations));
  const { products } = samples[0]!;
  const msPerIteration = median(samples.map((s) => s.msPerIteration));
  // the plain products' share from the same sample as the median
  const { plain } = samples.find((s) => s.msPerIteration === msPerIteration)!;
  const gflopPerIteration = products.reduce((s, p) => s + p.count * flops(p), 0) / 1e9;
  const jax = await loadJaxJs(o.jaxjs);
  if (typeof jax === 'string') o.log(`  jax-js skipped: ${jax}`);
  const shapes = await benchProducts(tf, products, typeof jax === 'string' ? undefined : jax);
  const total = (f: (s: ShapeTiming) => number | undefined) => shapes.reduce((s, p) => s + p.count * (f(p) ?? NaN), 0) / 1000;
  const peakPerCore = await peakGflops();
  return {
    threads,
    peakPerCore,
    gflopPerIteration,
    inIteration: {
      ms: msPerIteration,
      gflops: gflopPerIteration / (msPerIteration / 1000),
      samples: samples.map((s) => s.msPerIteration),
      ...(plain.ms > 0 && plain.ms < msPerIteration ? { plain: { ms: plain.ms, gflops: plain.gflop / (plain.ms / 1000) } } : {}),
    },
    isolated: { ours: total((s) => s.ours), ours1: total((s) => s.ours1), xnnpack: total((s) => s.xnnpack), ...(typeof jax !== 'string' ? { jaxjs: total((s) => s.jaxjs) } : {}) },
    shapes,
    ...(typeof jax === 'string' ? { jaxjsSkipped: jax } : {}),
  };
}

const layout = (p: Product) => `${p.m}×${p.n}×${p.k} ${p.ta ? 'Aᵀ·B' : p.tb ? 'A·Bᵀ' : 'A·B'}${p.bias ? '+b' : ''}`;

export function describeGemm(g: GemmReport): string {
  const gf = (ms: number) => (g.gflopPerIteration / (ms / 1000)).toFixed(1);
  const lines = [
    `  GEMM roofline: peak ${g.peakPerCore.toFixed(1)} GFLOP/s per core (f32x4 mul+add chains) × ${g.threads} threads = ${(g.peakPerCore * g.threads).toFixed(1)}; ` +
      `the iteration's products (${g.gflopPerIteration.toFixed(3)} GFLOP) reach ${g.inIteration.gflops.toFixed(1)} GFLOP/s in the iteration (${g.inIteration.ms.toFixed(2)} ms/it, SiLU epilogues included; ` +
      `median of ${g.inIteration.samples.length} samples of ${IN_ITERATION.iterations} iterations: ${g.inIteration.samples.map((x) => x.toFixed(2)).join(', ')} ms/it), ` +
      `peak × threads / achieved ${((g.peakPerCore * g.threads) / g.inIteration.gflops).toFixed(2)}×` +
      (g.inIteration.plain
        ? `; the products without an epilogue ${g.inIteration.plain.gflops.toFixed(1)} GFLOP/s (${g.inIteration.plain.ms.toFixed(2)} ms/it), ${((g.peakPerCore * g.threads) / g.inIteration.plain.gflops).toFixed(2)}×`
        : ''),
    `  isolated, ms/it (GFLOP/s): ours ${g.isolated.ours.toFixed(2)} (${gf(g.isolated.ours)}), ours 1 thread ${g.isolated.ours1.toFixed(2)} (${gf(g.isolated.ours1)}), ` +
      `XNNPACK ${g.isolated.xnnpack.toFixed(2)} (${gf(g.isolated.xnnpack)})` +
      (g.isolated.jaxjs !== undefined ? `, jax-js ${g.isolated.jaxjs.toFixed(2)} (${gf(g.isolated.jaxjs)})` : ''),
    ...g.shapes.map(
      (s) =>
        `    ${layout(s).padEnd(22)} ×${String(s.count).padEnd(3)} ours ${s.ours.toFixed(0).padStart(5)} µs, 1 thread ${s.ours1.toFixed(0).padStart(5)}, XNNPACK ${s.xnnpack.toFixed(0).padStart(5)}` +
        (s.jaxjs !== undefined ? `, jax-js ${s.jaxjs.toFixed(0).padStart(5)}` : '') +
        ` (ours ${((2 * s.m * s.n * s.k) / s.ours / 1e3).toFixed(1)} GFLOP/s)`,
    ),
  ];
  return lines.join('\n');
}
