/** @file Matrix products as WebAssembly SIMD (gemm.wat.ts), on row-major operands read in place: C = op(A)·op(B)
 * (+ bias) with op = identity or transpose. One module is instantiated on tfjs-wasm's heap (in place, one thread);
 * another, on the worker pool's shared memory (gemm-pool.ts). Both compute every element in the same order, so the
 * results are bit-identical whichever runs them, and however the rows are split among threads. */
import { GEMM_BINARY, GEMM_SHARED_BINARY } from './gemm-binary.ts';
import { decodeBase64 } from '../../ops/base64.ts';
import { isShared } from './wasm-memory.ts';

export interface GemmKernels {
  gemm_rows(a: number, sai: number, sak: number, b: number, sbk: number, sbj: number, c: number, bias: number, m0: number, m1: number, n: number, k: number): void;
  /** gemm_rows, then S = σ(C) and Y = C·S at byte offsets s and y (n % 4 = 0) */
  gemm_rows_silu(a: number, sai: number, sak: number, b: number, sbk: number, sbj: number, c: number, bias: number, m0: number, m1: number, n: number, k: number, s: number, y: number): void;
  /** gemm_rows storing C·σ(C) in place of C (n % 4 = 0) */
  gemm_rows_silu_out(a: number, sai: number, sak: number, b: number, sbk: number, sbj: number, c: number, bias: number, m0: number, m1: number, n: number, k: number): void;
  /** gemm_rows for A stored transposed (sai = 4): each block of 4 rows packed at `pack` (k·16 bytes) first */
  gemm_rows_packed(a: number, sai: number, sak: number, b: number, sbk: number, sbj: number, c: number, bias: number, m0: number, m1: number, n: number, k: number, pack: number): void;
  gemm_gather(a: number, sai: number, sak: number, b: number, sbk: number, sbj: number, c: number, bias: number, m0: number, m1: number, n: number, k: number): void;
  gemm_dot(a: number, w: number, c: number, bias: number, m0: number, m1: number, n: number, k: number): void;
  /** gemm_rows for n = 1, 2, 3 columns (B with contiguous rows; sai = 4 or sak = 4): 4 rows of C per f32x4 */
  gemm_narrow1: GemmKernels['gemm_rows'];
  gemm_narrow2: GemmKernels['gemm_rows'];
  gemm_narrow3: GemmKernels['gemm_rows'];
  peak(iters: number, x: number): number;
  /** simd.ts's adam over f32x4 [q0, q1), its constants as f32 bits (the pool's control block holds integers) */
  adam_rows(p: number, g: number, m: number, v: number, po: number, mo: number, vo: number, k: number, b1: number, b2: number, c2: number, eps: number, q0: number, q1: number): void;
}

/** a product's shape: C [m, n] = op(A) [m, k] · op(B) [k, n]; `ta`: A is stored [k, m]; `tb`: B is stored [n, k] */
export interface GemmShape {
  m: number;
  n: number;
  k: number;
  ta: boolean;
  tb: boolean;
}

/** the operands' byte offsets in the kernels' memory; bias 0: none; `silu`: also S = σ(C) and Y = C·S there, or
 * `siluOut`: C·σ(C) stored in place of C (a product whose B has contiguous rows, n % 4 = 0) */
export interface GemmPtrs {
  a: number;
  b: number;
  c: number;
  bias: number;
  silu?: { s: number; y: number };
  siluOut?: boolean;
  /** the calling thread's scratch for packing Aᵀ (PACK_BYTES; thread t's lies t·PACK_BYTES after it); unset: none */
  pack?: number;
}

/** a thread's scratch for packing Aᵀ: 16 bytes per k, so products with k ≤ 2048 are packed */
export const PACK_BYTES = 32768;
/** below this many columns packing Aᵀ costs about what it saves (m = k = 256, one thread, µs in place → packed: n = 16
 * 51 → 64, n = 64 213 → 211, n = 128 480 → 421, n = 256 998 → 838) */
export const PACK_MIN_N = 128;

/** below this many k, Bᵀ is read by gathering columns (dot products along a short k waste the f32x4 lanes) */
export const DOT_MIN_K = 8;

/** which kernel of the module does a call (0 gemm_rows, 1 gemm_gather, 2 gemm_dot, 3 gemm_rows_silu,
 * 4 gemm_rows_silu_out, 5 gemm_rows_packed; Adam: 6 adam_rows; 7, 8, 9 gemm_narrow1..3), and its arguments
 * (ARG_COUNT[fn] of them) with the range of rows (of f32x4 for Adam) left 0 at ROW_ARG[fn] */
export interface GemmCall {
  fn: 0 | 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8 | 9;
  args: number[];
}
export const ROW_ARG = [8, 8, 4, 8, 8, 8, 12, 8, 8, 8] as const;
export const ARG_COUNT = [12, 12, 8, 14, 12, 13, 14, 12, 12, 12] as const;
/** gemm_rows_packed's kernel number, and its scratch argument: each thread offsets it by its index · PACK_BYTES */
export const PACKED_FN = 5;
export const PACK_ARG = 12;

/** whether a product of this shape can take the SiLU epilogue */
export const siluEpilogueFits = (s: GemmShape) => !s.tb && s.n % 4 === 0;

/** whether a product with Bᵀ (tb) reads B by gathering columns lane by lane (else as dot products along k) */
export const gathered = (s: GemmShape) => s.ta || s.k < DOT_MIN_K;

export function gemmCall(s: GemmShape, p: GemmPtrs): GemmCall {
  const { m, n, k } = s;
  const [sai, sak] = s.ta ? [4, 4 * m] : [4 * k, 4];
  const rows = [p.a, sai, sak, p.b, 4 * n, 4, p.c, p.bias, 0, 0, n, k];
  if (p.silu || p.siluOut) {
    if (!siluEpilogueFits(s)) throw new Error(`the SiLU epilogue needs B with contiguous rows and n % 4 = 0 (n ${n}, transposeB ${s.tb})`);
    return p.silu ? { fn: 3, args: [...rows, p.silu.s, p.silu.y] } : { fn: 4, args: rows };
  }
  if (!s.tb) {
    if (n < 4) return { fn: (6 + n) as 7 | 8 | 9, args: rows };
    return p.pack && s.ta && n >= PACK_MIN_N && 16 * k <= PACK_BYTES ? { fn: 5, args: [...rows, p.pack] } : { fn: 0, args: rows };
  }
  if (!gathered(s)) return { fn: 2, args: [p.a, p.b, p.c, p.bias, 0, 0, n, k] };
  return { fn: 1, args: [p.a, sai, sak, p.b, 4, 4 * k, p.c, p.bias, 0, 0, n, k] };
}

const f32 = new Float32Array(1);
const f32Bits = new Int32Array(f32.buffer);
/** x rounded to f32 (as a call into an f32 parameter rounds it), as its bits */
const bitsOfF32 = (x: number) => ((f32[0] = x), f32Bits[0]!);

/** Adam over whole f32x4 of p, g, m, v into po, mo, vo (byte offsets): simd.ts's adam, split into ranges of f32x4;
 * `quads`: the element count / 4 */
export const adamCall = (ptrs: readonly [number, number, number, number, number, number, number], k: number, b1: number, b2: number, c2: number, eps: number): GemmCall => ({
  fn: 6,
  args: [...ptrs, ...[k, b1, b2, c2, eps].map(bitsOfF32), 0, 0],
});

/** rows [m0, m1) of one of the three kernels with gemm_rows's arguments (a function, not a closure made per call: the
 * calls come per block of rows, and under tsx every closure made also gets its name set) */
const strided = (f: GemmKernels['gemm_rows'], a: number[], m0: number, m1: number) => f(a[0]!, a[1]!, a[2]!, a[3]!, a[4]!, a[5]!, a[6]!, a[7]!, m0, m1, a[10]!, a[11]!);

/** rows [m0, m1) of a call (f32x4 for Adam) */
export function callRows(g: GemmKernels, c: GemmCall, m0: number, m1: number): void {
  const a = c.args;
  switch (c.fn) {
    case 0:
      return strided(g.gemm_rows, a, m0, m1);
    case 1:
      return strided(g.gemm_gather, a, m0, m1);
    case 4:
      return strided(g.gemm_rows_silu_out, a, m0, m1);
    case 2:
      return g.gemm_dot(a[0]!, a[1]!, a[2]!, a[3]!, m0, m1, a[6]!, a[7]!);
    case 3:
      return g.gemm_rows_silu(a[0]!, a[1]!, a[2]!, a[3]!, a[4]!, a[5]!, a[6]!, a[7]!, m0, m1, a[10]!, a[11]!, a[12]!, a[13]!);
    case 5:
      return g.gemm_rows_packed(a[0]!, a[1]!, a[2]!, a[3]!, a[4]!, a[5]!, a[6]!, a[7]!, m0, m1, a[10]!, a[11]!, a[12]!);
    case 7:
    case 8:
    case 9:
      return strided([g.gemm_narrow1, g.gemm_narrow2, g.gemm_narrow3][c.fn - 7]!, a, m0, m1);
    case 6:
      return g.adam_rows(a[0]!, a[1]!, a[2]!, a[3]!, a[4]!, a[5]!, a[6]!, a[7]!, a[8]!, a[9]!, a[10]!, a[11]!, m0, m1);
  }
}

/** rows [m0, m1) of C */
export function gemmRows(g: GemmKernels, s: GemmShape, p: GemmPtrs, m0: number, m1: number): void {
  callRows(g, gemmCall(s, p), m0, m1);
}

let plain: Uint8Array<ArrayBuffer> | undefined;
let shared: Uint8Array<ArrayBuffer> | undefined;
/** the committed modules' bytes */
export const gemmBytes = () => (plain ??= decodeBase64(GEMM_BINARY));
export const gemmSharedBytes = () => (shared ??= decodeBase64(GEMM_SHARED_BINARY));

/** The kernels on `memory` (tfjs-wasm's heap, plain or shared); undefined where the engine lacks WebAssembly SIMD. */
export async function gemmKernels(memory: WebAssembly.Memory): Promise<GemmKernels | undefined> {
  const bytes = isShared(memory) ? gemmSharedBytes() : gemmBytes();
  if (!WebAssembly.validate(bytes)) return undefined;
  const { instance } = await WebAssembly.instantiate(bytes, { env: { memory } });
  return instance.exports as unknown as GemmKernels;
}

/** the reference: C = op(A)·op(B) (+ bias), each element summed over k in order in f32 (as the kernels do for
 * rows and gathered products; within f32 rounding of the dot form) */
export function gemmHost(a: Float32Array, b: Float32Array, c: Float32Array, bias: Float32Array | undefined, s: GemmShape): void {
  const { m, n, k } = s;
  const f = Math.fround;
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let acc = 0;
      for (let kk = 0; kk < k; kk++) acc = f(acc + f((s.ta ? a[kk * m + i]! : a[i * k + kk]!) * (s.tb ? b[j * k + kk]! : b[kk * n + j]!)));
      c[i * n + j] = bias ? f(acc + bias[j]!) : acc;
    }
}
