/** @file The matrix-product pool's worker thread (gemm-pool.ts), as the source text it evaluates, and the control
 * block both sides share: the slots of its Int32Array and the claim word through which the threads divide a call's
 * blocks of rows in place. */
import { ARG_COUNT, PACK_ARG, PACK_BYTES, PACKED_FN, ROW_ARG } from './gemm.ts';
import { GEMM_BLOCK } from './gemm.wat.ts';
import { drawWorkerSource } from './draw-ahead.ts';
import { OUT, STATE } from '../../ops/normals.wat.ts';

/** control block (Int32 slots) */
export const GEN = 0;
export const DONE = 1;
export const QUIT = 2;
export const FN = 3; // gemm.ts's GemmCall.fn
export const M = 4;
export const THREADS = 5;
/** in place: rows per claimed block (0: the fixed split) */
export const BLOCK = 6;
/** in place: the claim word, the blocks not yet claimed (see `claimWord`) */
export const NEXT = 7;
/** set by a worker that failed (its message is in the pool's failure buffer) */
export const FAILED = 30;
/** the memory's size in pages when the call was posted (tfjs's heap in place, the pool's own when copying) */
export const PAGES = 31;
export const ARGS = 8; // the kernel's ARG_COUNT[fn] arguments (at most MAX_ARGS); the row range (and packing scratch) is filled per thread
export const CONTROL_BYTES = 256;

/** the most arguments a pool kernel takes */
export const MAX_ARGS = Math.max(...ARG_COUNT);

/** The claim word (slot NEXT) of an in-place call: the blocks not yet claimed are [front, back), front in bits 0–7 and
 * back in bits 8–15, and the call's generation tags bits 16–30, so a thread that wakes late claims nothing of a later
 * call. The calling thread claims the front block (adding 1), the workers the one before back (subtracting 1 << 8). */
const INDEX_MASK = 0xff;
const BACK_SHIFT = 8;
const TAG_SHIFT = 16;
const GEN_MASK = 0x7fff;
const TAG_MASK = GEN_MASK << TAG_SHIFT;
/** the most blocks a claim word holds */
export const MAX_BLOCKS = INDEX_MASK;
/** the claim word of call generation `gen` with `blocks` blocks, none claimed yet */
export const claimWord = (gen: number, blocks: number) => ((gen & GEN_MASK) << TAG_SHIFT) | (blocks << BACK_SHIFT);
/** a claim word's first and last-plus-one unclaimed blocks */
export const frontOf = (v: number) => v & INDEX_MASK;
export const backOf = (v: number) => (v >>> BACK_SHIFT) & INDEX_MASK;

/** a sleeping worker looks for draws asked for ahead at least this often */
const IDLE_WAIT_MS = 20;

/** the worker (CommonJS, evaluated): instantiate the module on the shared memory, then serve calls until told to quit */
export const WORKER_SOURCE = `
const { workerData } = process.getBuiltinModule('node:worker_threads');
const { module, memory, control, failure, index, spinMs, gen0 } = workerData;
const ctl = new Int32Array(control);
const ROW = ${JSON.stringify(ROW_ARG)}, COUNT = ${JSON.stringify(ARG_COUNT)};
${drawWorkerSource(STATE, OUT)}
// the arguments of call \`fn\` for this thread, padded to ${MAX_ARGS} (a wasm function ignores extra ones: called with
// them written out, not spread): gemm_rows_packed packs into this thread's own scratch
function args(fn) {
  const a = Array.from(ctl.subarray(${ARGS}, ${ARGS} + COUNT[fn]));
  if (fn === ${PACKED_FN}) a[${PACK_ARG}] += index * ${PACK_BYTES};
  while (a.length < ${MAX_ARGS}) a.push(0);
  return a;
}
const callWith = (f, a) => f(${Array.from({ length: MAX_ARGS }, (_, i) => `a[${i}]`).join(', ')});
let gen = gen0; // a call may be posted before this thread starts
let pages = memory.buffer.byteLength >>> 16;
try {
  serve(new WebAssembly.Instance(module, { env: { memory } }).exports);
} catch (e) {
  // the calling thread polls and cannot take this thread's error event: leave the message where it looks
  const text = new TextEncoder().encode('a matrix-product worker thread failed: ' + e.message).subarray(0, failure.byteLength - 4);
  new Uint8Array(failure).set(text, 4);
  new Int32Array(failure)[0] = text.length;
  Atomics.store(ctl, ${FAILED}, 1);
  throw e;
}
function serve(k) {
  const fns = [k.gemm_rows, k.gemm_gather, k.gemm_dot, k.gemm_rows_silu, k.gemm_rows_silu_out, k.gemm_rows_packed, k.adam_rows, k.gemm_narrow1, k.gemm_narrow2, k.gemm_narrow3];
  for (;;) {
    // poll for the next call for spinMs after the last piece of work (a sleeping thread takes ~0.1–0.3 ms to wake),
    // drawing normals asked for ahead meanwhile, then sleep. A request for draws notifies without a new call, and may
    // come just before the wait: the sleep is cut into ${IDLE_WAIT_MS} ms waits, each followed by a look at the jobs
    let t0 = performance.now();
    for (let i = 1; Atomics.load(ctl, ${GEN}) === gen; i++) {
      if (drawChunk()) {
        t0 = performance.now();
        continue;
      }
      if ((i & 1023) === 0 && performance.now() - t0 > spinMs) Atomics.wait(ctl, ${GEN}, gen, ${IDLE_WAIT_MS});
    }
    gen = Atomics.load(ctl, ${GEN});
    if (Atomics.load(ctl, ${QUIT})) break;
    if (ctl[${BLOCK}] > 0) {
      claimBlocks(fns, gen);
      continue;
    }
    // the copying pool may have grown its memory for this call (its operands, every thread's packing scratch)
    if (ctl[${PAGES}] !== pages) pages = memory.grow(0);
    const m = ctl[${M}], n = ctl[${THREADS}];
    const mr = ${GEMM_BLOCK.mr}, chunk = Math.ceil(m / n / mr) * mr;
    const m0 = Math.min(m, index * chunk), m1 = Math.min(m, (index + 1) * chunk);
    const fn = ctl[${FN}], r = ROW[fn];
    const a = args(fn);
    a[r] = m0;
    a[r + 1] = m1;
    if (m0 < m1) callWith(fns[fn], a);
    if (Atomics.add(ctl, ${DONE}, 1) + 1 === n - 1) Atomics.notify(ctl, ${DONE});
  }
}
// in place: take blocks of rows from the back until none is left. A claim is a compare-exchange on the
// generation-tagged word, so a thread that wakes late, for a call already done, claims nothing of the next; and while
// a claimed block is not done, neither is its call, so the arguments read after the first claim are that call's.
function claimBlocks(fns, gen) {
  const tag = (gen & ${GEN_MASK}) << ${TAG_SHIFT};
  // the heap may have grown on the calling thread: V8 tells other threads' instances asynchronously (at their next
  // interrupt check), while growing by 0 pages brings this thread's instances up to date at once
  if (ctl[${PAGES}] !== pages) pages = memory.grow(0);
  let fn = -1, r = 0, m = 0, blk = 0, a, f;
  for (;;) {
    const v = Atomics.load(ctl, ${NEXT});
    if ((v & ${TAG_MASK}) !== tag) return;
    const back = (v >>> ${BACK_SHIFT}) & ${INDEX_MASK};
    if ((v & ${INDEX_MASK}) >= back) return;
    if (Atomics.compareExchange(ctl, ${NEXT}, v, v - ${1 << BACK_SHIFT}) !== v) continue;
    if (fn < 0) {
      fn = ctl[${FN}];
      r = ROW[fn];
      a = args(fn);
      f = fns[fn];
      m = ctl[${M}];
      blk = ctl[${BLOCK}];
    }
    const b = back - 1;
    a[r] = b * blk;
    a[r + 1] = Math.min(m, (b + 1) * blk);
    try {
      callWith(f, a);
    } catch {
      // a growth this thread had not seen yet: refresh its view of the heap and do the block again (same result)
      pages = memory.grow(0);
      try {
        callWith(f, a);
      } catch (e) {
        throw new Error(e.message + ' (kernel ' + fn + ', rows ' + a[r] + '–' + a[r + 1] + ' of ' + m + ', arguments ' + a.join(' ') + ', heap ' + pages + ' pages, posted at ' + ctl[${PAGES}] + ')');
      }
    }
    Atomics.add(ctl, ${DONE}, 1);
  }
}
`;
