/** @file Matrix products on several threads (Node's worker_threads). Every thread runs gemm.wat.ts's shared module over
 * rows of C; each element's arithmetic does not depend on which thread computes it, nor on how the rows are split, so
 * any thread count gives bit-identical results. The same module splits Adam over large tensors (in place), and while
 * it waits for the next call the first worker draws normals asked for ahead (draw-ahead.ts). Two modes:
 * - in place: tfjs-wasm's heap is shared memory (the backend was initialised through shared-heap.ts), and the workers
 *   compute on tfjs's tensors where they are: nothing is copied, so smaller products pay off too. The threads claim
 *   blocks of rows as they come, the calling thread from the first, the workers from the last (a worker the OS has
 *   preempted, or that wakes late, leaves its blocks to the others);
 * - copying: tfjs's heap is a plain memory, so the pool owns a shared WebAssembly.Memory, the operands the workers
 *   read are copied in (a memcpy beside the product's FLOPs) and their rows of C copied out: a fixed range per thread.
 * Synchronisation: a control block in its own SharedArrayBuffer (Atomics.wait/notify; the workers spin a while before
 * sleeping, and the calling thread takes the first share). Workers never keep the process alive (unref). In a browser,
 * or without shared memory, there is no pool: products run on one thread. */
import { callRows, gemmCall, gemmSharedBytes, PACK_BYTES, type GemmCall, type GemmKernels, type GemmPtrs, type GemmShape } from './gemm.ts';
import { GEMM_BLOCK } from './gemm.wat.ts';
import { isShared } from './wasm-memory.ts';
import { envSetting } from './env-setting.ts';
import { DrawAhead } from './draw-ahead.ts';
import { normalsBytes, normalsKernel } from '../../ops/normals.ts';
import { ARGS, BLOCK, backOf, claimWord, CONTROL_BYTES, DONE, FAILED, FN, frontOf, GEN, M, MAX_BLOCKS, NEXT, PAGES, QUIT, THREADS, WORKER_SOURCE } from './pool-worker.ts';

const PAGE = 65536;
/** the pool's memory reserves this much address space; larger products run on one thread */
const MAX_PAGES = 8192;
/** products smaller than this (m·n·k) or with fewer rows run in place on one thread. Measured on the dmd-step
 * workload (2 vCPUs): waking a sleeping worker costs ~100 µs, and copying its operands across cores ~0.4 µs per KiB,
 * so a 256×256×64 product (~0.2 ms on one thread) ran slower on two; 256³ (~0.75 ms) gains ~25 %. */
export const POOL_MIN_WORK = 1 << 24;
/** the same without copies (in place on a shared heap): only the hand-over is left */
export const POOL_MIN_WORK_IN_PLACE = 1 << 18;
export const POOL_MIN_ROWS = 16;
/** a SiLU epilogue's work per element of C, as the k of a plain product that costs as much (one thread, warm caches:
 * σ, S and Y of 256 × 256 ~75 µs, a 256 × 256 × 18 product ~66 µs), so a product with an epilogue and a short k is
 * split too. σ is most of it, so the epilogue that stores y alone counts the same. */
export const SILU_WORK_K = 20;
/** Adam goes to the pool from this many f32x4 on (16384 elements): in the dmd-step workload, the 256 × 256 layers'
 * and not the small ones'. (SiLU's backward pass, split by columns so its column sums keep their order, did not pay:
 * 256 × 256, warm, one thread 22 µs, two 24–42 µs, and up to 135 µs where the columns' cache lines were shared.) */
export const POOL_MIN_QUADS = 4096;
/** how many polls the calling thread makes for the workers' rows before it sleeps */
const SPIN = 20000;
/** how long a worker polls for the next product before it sleeps: within a training step products follow each other
 * within this, so the worker is awake for each (waking one costs ~0.1–0.3 ms, a 256³ product's half ~0.35 ms); while
 * it polls it holds its core. DISTILLERY_SPIN_MS sets it. */
const SPIN_MS = 5;

/** in place, a product's rows are claimed in blocks of about m / CLAIM_BLOCKS (whole register blocks). The calling
 * thread then waits for the block the worker is on, half a block on average: dmd-step at D = 2 (2 threads) waited
 * 0.67 ms per iteration with 16 blocks, 0.33 with 32, 0.22 with 64 (whose extra claims cost about what they save).
 * The calling thread claims from the first block on, the workers from the last one back: so each thread computes
 * about the same rows call after call, and a layer's rows are on the core that reads them next. Claimed in turns, the
 * rows of C changed cores from one call to the next, and their cache lines with them: 256 × 256 · 256 × 2 with
 * y = C·σ(C) stored, called over and over on 2 threads, took 66 µs (one thread 67), 46 µs claimed from both ends. */
const CLAIM_BLOCKS = 32;

/** rows [m0, m1) of C for thread `t` of `n`: whole register blocks each, the same split for every call */
export function rowRange(m: number, t: number, n: number): [number, number] {
  const mr = GEMM_BLOCK.mr;
  const chunk = Math.ceil(m / n / mr) * mr;
  return [Math.min(m, t * chunk), Math.min(m, (t + 1) * chunk)];
}

interface NodeWorker {
  unref(): void;
  terminate(): Promise<number>;
  on(e: 'error', f: (err: Error) => void): void;
}
type WorkerCtor = new (src: string, o: { eval: true; workerData: unknown }) => NodeWorker;

/** Node's Worker, without a static import (the library also bundles for browsers) */
function workerClass(): WorkerCtor | undefined {
  const p = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const wt = p?.getBuiltinModule?.('node:worker_threads') as { Worker?: WorkerCtor; isMainThread?: boolean } | undefined;
  return wt?.Worker;
}

let shared: GemmPool | undefined;

/** the process's pool of `threads` threads (one pool at a time: asking for another replaces it); undefined for one
 * thread or where there are no worker threads. `heap`: tfjs-wasm's memory; shared, the pool computes in place on it. */
export function gemmPool(threads = defaultThreads(), heap?: WebAssembly.Memory): GemmPool | undefined {
  const inPlace = heap && isShared(heap) ? heap : undefined;
  if (shared?.threads === threads && shared.heap === inPlace) return shared;
  shared?.dispose();
  shared = GemmPool.create(threads, inPlace);
  return shared;
}

/** normal draws asked for ahead of the process's pool (draw-ahead.ts); undefined without one */
export const currentDraws = (): DrawAhead | undefined => shared?.draws;

/** the thread count a pool gets by default: DISTILLERY_THREADS, else min(2, available cores) */
export function defaultThreads(): number {
  const env = envSetting('DISTILLERY_THREADS', (raw) => (Number.isInteger(Number(raw)) && Number(raw) >= 1 ? Number(raw) : undefined), 'an integer ≥ 1');
  if (env !== undefined) return env;
  const os = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process?.getBuiltinModule?.('node:os') as { availableParallelism?: () => number } | undefined;
  return Math.max(1, Math.min(2, os?.availableParallelism?.() ?? 1));
}

/** DISTILLERY_SPIN_MS, else SPIN_MS */
export function spinMs(): number {
  return envSetting('DISTILLERY_SPIN_MS', (raw) => (Number.isFinite(Number(raw)) && Number(raw) >= 0 ? Number(raw) : undefined), 'a number of milliseconds ≥ 0') ?? SPIN_MS;
}

export class GemmPool {
  readonly threads: number;
  /** the shared heap the pool computes on in place; undefined: it copies into its own memory */
  readonly heap: WebAssembly.Memory | undefined;
  private readonly memory: WebAssembly.Memory;
  private readonly kernels: GemmKernels;
  private readonly ctl: Int32Array;
  private workers: NodeWorker[];
  private failure: Error | undefined;
  /** normal draws asked for ahead, made by the first worker; undefined without the normals module */
  readonly draws: DrawAhead | undefined;
  /** a failed worker's message: its length in bytes, then UTF-8 */
  private readonly failureText = new SharedArrayBuffer(2048);

  private constructor(threads: number, memory: WebAssembly.Memory, heap: WebAssembly.Memory | undefined, module: WebAssembly.Module, Worker: WorkerCtor) {
    this.threads = threads;
    this.memory = memory;
    this.heap = heap;
    this.kernels = new WebAssembly.Instance(module, { env: { memory } }).exports as unknown as GemmKernels;
    const control = new SharedArrayBuffer(CONTROL_BYTES);
    this.ctl = new Int32Array(control);
    // the first worker draws normals ahead (draw-ahead.ts), where the normals module loads
    const normals = normalsKernel() ? new WebAssembly.Module(normalsBytes()) : undefined;
    this.draws = normals && new DrawAhead(() => Atomics.notify(this.ctl, GEN));
    const draws = this.draws && { drawJobs: this.draws.jobs, drawResults: this.draws.results, normals };
    this.workers = Array.from({ length: threads - 1 }, (_, i) => {
      const w = new Worker(WORKER_SOURCE, { eval: true, workerData: { module, memory, control, failure: this.failureText, index: i + 1, spinMs: spinMs(), gen0: 0, ...(i === 0 ? draws : {}) } });
      w.unref();
      w.on('error', (e) => (this.failure = e));
      return w;
    });
  }

  /** a pool of `threads` (the caller's thread counted), or undefined where threads or shared memory are missing;
   * `heap`: a shared memory to compute on in place */
  static create(threads: number, heap?: WebAssembly.Memory): GemmPool | undefined {
    const Worker = workerClass();
    if (threads < 2 || !Worker || typeof SharedArrayBuffer === 'undefined') return undefined;
    const bytes = gemmSharedBytes();
    if (!WebAssembly.validate(bytes)) return undefined;
    const memory = heap ?? new WebAssembly.Memory({ initial: 16, maximum: MAX_PAGES, shared: true });
    return new GemmPool(threads, memory, heap, new WebAssembly.Module(bytes), Worker);
  }

  /** whether a product of shape `s` goes to the pool (in place, smaller ones pay off than when copying); `epilogue`:
   * with a SiLU epilogue, which counts in place (the copying pool runs plain products only) */
  takes(s: GemmShape, epilogue = false): boolean {
    const k = s.k + (epilogue && this.heap ? SILU_WORK_K : 0);
    return s.m >= POOL_MIN_ROWS && s.m * s.n * k >= (this.heap ? POOL_MIN_WORK_IN_PLACE : POOL_MIN_WORK);
  }

  /** whether Adam over `quads` f32x4 goes to the pool: in place only (copying four operands in and three out would
   * cost what the second thread saves) */
  takesElementwise(quads: number): boolean {
    return !!this.heap && quads >= POOL_MIN_QUADS;
  }

  /** in place (the pool's heap is tfjs's): C = op(A)·op(B) (+ bias) at `ptrs` on every thread; `own(m0, m1)`
   * computes the calling thread's rows (with the caller's own, long-lived instance: its code is the hot one) */
  runInPlace(s: GemmShape, ptrs: GemmPtrs, own?: (m0: number, m1: number) => void): void {
    this.callInPlace(gemmCall(s, ptrs), s.m, own);
  }

  /** in place: `call` over its rows [0, m) (f32x4 for Adam) on every thread, claimed in about `claimBlocks` blocks;
   * `own(m0, m1)`: the calling thread's blocks */
  callInPlace(call: GemmCall, m: number, own?: (m0: number, m1: number) => void, claimBlocks = CLAIM_BLOCKS): void {
    if (!this.heap) throw new Error('callInPlace needs a pool on a shared heap');
    const ctl = this.ctl;
    const mr = GEMM_BLOCK.mr;
    const blk = Math.max(mr, Math.ceil(m / claimBlocks / mr) * mr);
    const blocks = Math.ceil(m / blk);
    if (blocks > MAX_BLOCKS) throw new Error(`callInPlace: ${blocks} blocks of ${blk} rows, at most ${MAX_BLOCKS} (claimBlocks ${claimBlocks})`);
    ctl[PAGES] = (this.memory.buffer as ArrayBufferLike).byteLength >>> 16;
    Atomics.store(ctl, NEXT, claimWord((Atomics.load(ctl, GEN) + 1) | 0, blocks));
    this.dispatch(call, m, blk);
    const rows = own ?? ((i0: number, i1: number) => callRows(this.kernels, call, i0, i1));
    for (;;) {
      // from the front
      const v = Atomics.load(ctl, NEXT);
      const b = frontOf(v);
      if (b >= backOf(v)) break;
      if (Atomics.compareExchange(ctl, NEXT, v, v + 1) !== v) continue;
      rows(b * blk, Math.min(m, (b + 1) * blk));
      Atomics.add(ctl, DONE, 1);
    }
    // what is left is the block each worker is on: poll for it
    const deadline = performance.now() + 30_000;
    for (let i = 1; Atomics.load(ctl, DONE) !== blocks; i++)
      if ((i & 1023) === 0) this.check(deadline);
  }

  /** live worker threads (the leak tests hold this constant) */
  get workerCount(): number {
    return this.workers.length;
  }

  /** Copying (tfjs's heap is not shared): C = op(A)·op(B) (+ bias) on every thread; false (nothing done) when the
   * operands do not fit the pool's memory. `own(m0, m1)`: computes rows [m0, m1) of C where the operands live (tfjs's
   * heap), the calling thread's share; then only what the workers read is copied in (B, and A's rows from the workers'
   * first row on unless A is transposed), and only their rows of C are copied out. Without it the calling thread
   * computes in the pool too. */
  run(s: GemmShape, a: Float32Array, b: Float32Array, bias: Float32Array | undefined, c: Float32Array, own?: (m0: number, m1: number) => void): boolean {
    if (this.heap) throw new Error('a pool on a shared heap computes in place (runInPlace), it has no memory of its own to copy into');
    const { m, n, k } = s;
    const [m0, m1] = rowRange(m, 0, this.threads);
    // rows [r0, m) of C are the workers'; A's stored rows [r0, m) are all they read of A (unless it is transposed)
    const r0 = own ? m1 : 0;
    const aPart = own && !s.ta ? a.subarray(r0 * k) : a;
    const cPart = c.subarray(r0 * n);
    const align = (x: number) => (x + 15) & ~15;
    const pa = 64; // any non-zero offset (a bias at 0 would read as none)
    const pb = align(pa + aPart.byteLength);
    const pbias = align(pb + b.byteLength);
    const pc = align(pbias + (bias?.byteLength ?? 0));
    // every thread's scratch for packing Aᵀ
    const pack = align(pc + cPart.byteLength);
    const end = pack + this.threads * PACK_BYTES;
    const pages = this.memory.buffer.byteLength / PAGE;
    if (end > pages * PAGE) {
      const need = Math.ceil(end / PAGE);
      if (need > MAX_PAGES) return false;
      this.memory.grow(need - pages);
    }
    const heap = new Float32Array(this.memory.buffer);
    heap.set(aPart, pa / 4);
    heap.set(b, pb / 4);
    if (bias) heap.set(bias, pbias / 4);
    // row i of C (and of A) sits at base + i·stride: the bases of partial copies lie before the copies (i32 arithmetic
    // wraps, every address the kernels touch is inside them)
    const aBase = aPart === a ? pa : pa - r0 * k * 4;
    const call = gemmCall(s, { a: aBase, b: pb, c: pc - r0 * n * 4, bias: bias ? pbias : 0, pack });
    this.ctl[PAGES] = this.memory.buffer.byteLength / PAGE;
    this.dispatch(call, m);
    if (m0 < m1) (own ?? ((i0, i1) => callRows(this.kernels, call, i0, i1)))(m0, m1);
    this.join();
    cPart.set(new Float32Array(this.memory.buffer, pc, cPart.length));
    return true;
  }

  /** posts a call to the workers; `block` > 0: rows are claimed in blocks of it (in place), else split in fixed ranges */
  private dispatch(call: GemmCall, m: number, block = 0): void {
    if (this.failure) throw this.failure;
    const ctl = this.ctl;
    ctl[FN] = call.fn;
    ctl[M] = m;
    ctl[THREADS] = this.threads;
    ctl[BLOCK] = block;
    ctl.set(call.args.map((v) => v | 0), ARGS);
    Atomics.store(ctl, DONE, 0);
    Atomics.add(ctl, GEN, 1);
    Atomics.notify(ctl, GEN);
  }

  /** waits until every worker has done its rows */
  private join(): void {
    const ctl = this.ctl;
    const want = this.threads - 1;
    for (let i = 0; i < SPIN && Atomics.load(ctl, DONE) !== want; i++);
    const deadline = performance.now() + 30_000;
    for (let d = Atomics.load(ctl, DONE); d !== want; d = Atomics.load(ctl, DONE)) {
      this.check(deadline);
      Atomics.wait(ctl, DONE, d, 100);
    }
  }

  /** while this thread waits for the workers: a worker's error event cannot arrive, so its failure is read from shared
   * memory; and past `deadline` a worker that stopped answering is given up on rather than waited for forever */
  private check(deadline: number): void {
    if (Atomics.load(this.ctl, FAILED)) {
      const n = new Int32Array(this.failureText)[0]!;
      throw (this.failure ??= new Error(new TextDecoder().decode(new Uint8Array(this.failureText, 4, n).slice())));
    }
    if (performance.now() > deadline) throw (this.failure ??= new Error('a matrix-product worker thread stopped answering'));
  }

  /** stop the workers (they would also end with the process: they are unref'd) */
  dispose(): void {
    Atomics.store(this.ctl, QUIT, 1);
    Atomics.add(this.ctl, GEN, 1);
    Atomics.notify(this.ctl, GEN);
    for (const w of this.workers) void w.terminate();
    this.workers = [];
  }
}
