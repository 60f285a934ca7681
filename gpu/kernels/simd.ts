/** @file The fused kernels as WebAssembly SIMD (f32x4), instantiated on the wasm backend's own memory, so they read
 * and write tfjs's tensors in place. The module is compiled ahead of time from simd.wat.ts (scripts/build-simd.ts), so
 * nothing compiles WAT at run time. Loops assume their element counts are multiples of 4 (the callers run the
 * remainder on the host). Accumulations are f32, as tfjs's own sums. */
import { SIMD_BINARY, SIMD_SHARED_BINARY } from './simd-binary.ts';
import { gemmKernels, type GemmKernels } from './gemm.ts';
import type { GemmPool } from './gemm-pool.ts';
import { decodeBase64 } from '../../ops/base64.ts';
import { isShared } from './wasm-memory.ts';

export interface SimdKernels {
  silu_forward(a: number, y: number, s: number, n: number): void;
  /** y = a·σ(a) alone (y may be a) */
  silu_out(a: number, y: number, n: number): void;
  silu_grad_bias(dy: number, a: number, s: number, da: number, db: number, rows: number, cols: number): void;
  column_sum(x: number, out: number, rows: number, cols: number): void;
  transpose(x: number, out: number, rows: number, cols: number): void;
  transpose4(x: number, out: number, rows: number, cols: number): void;
  sum_squares(x: number, n: number): number;
  adam(p: number, g: number, m: number, v: number, po: number, mo: number, vo: number, n: number, k: number, b1: number, b2: number, c2: number, eps: number): void;
  /** the matrix products on the same memory (gemm.ts) */
  gemm: GemmKernels;
  /** the worker pool large products go to (gemm-pool.ts); none: one thread */
  pool?: GemmPool;
  /** the products' scratch for packing Aᵀ on this memory, PACK_BYTES per thread (the calling thread's first); unset:
   * products read Aᵀ in place */
  pack?: number;
}

const bytes: { plain?: Uint8Array<ArrayBuffer>; shared?: Uint8Array<ArrayBuffer> } = {};
/** the committed modules' bytes: importing a plain memory, or a shared one */
export const simdBytes = (shared = false) => (shared ? (bytes.shared ??= decodeBase64(SIMD_SHARED_BINARY)) : (bytes.plain ??= decodeBase64(SIMD_BINARY)));

/** whether this engine runs WebAssembly SIMD (tfjs-wasm then loads its SIMD build, whose sigmoid `sigmoidWasm` mirrors) */
export const simdSupported = () => WebAssembly.validate(simdBytes(false));

/** The kernels bound to `memory` (the wasm backend's heap, plain or shared); undefined where the engine lacks
 * WebAssembly SIMD. */
export async function simdKernels(memory: WebAssembly.Memory): Promise<SimdKernels | undefined> {
  const bytes = simdBytes(isShared(memory));
  if (!WebAssembly.validate(bytes)) return undefined;
  // asynchronous: a browser's main thread refuses to compile a module over 4 KB synchronously
  const { instance } = await WebAssembly.instantiate(bytes, { env: { memory } });
  const gemm = await gemmKernels(memory);
  if (!gemm) return undefined;
  return { ...(instance.exports as object), gemm } as SimdKernels;
}
