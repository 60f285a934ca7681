/** @file The fused kernels as WebAssembly SIMD (f32x4), instantiated on the wasm backend's own memory, so they read
 * and write tfjs's tensors in place. The module is compiled ahead of time from simd.wat.ts (scripts/build-simd.ts), so
 * nothing compiles WAT at run time. Loops assume their element counts are multiples of 4 (the callers run the
 * remainder on the host). Accumulations are f32, as tfjs's own sums. */
import { SIMD_BINARY } from './simd-binary.ts';
import { gemmKernels, type GemmKernels } from './gemm.ts';
import type { GemmPool } from './gemm-pool.ts';

export interface SimdKernels {
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
}

/** the committed module's bytes (base64, whitespace ignored) */
export function simdBytes(): Uint8Array<ArrayBuffer> {
  const text = atob(SIMD_BINARY.replace(/\s/g, ''));
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return out;
}

let bytes: Uint8Array<ArrayBuffer> | undefined;

/** The kernels bound to `memory` (the wasm backend's heap); undefined where the engine lacks WebAssembly SIMD. */
export async function simdKernels(memory: WebAssembly.Memory): Promise<SimdKernels | undefined> {
  bytes ??= simdBytes();
  if (!WebAssembly.validate(bytes)) return undefined;
  // asynchronous: a browser's main thread refuses to compile a module over 4 KB synchronously
  const { instance } = await WebAssembly.instantiate(bytes, { env: { memory } });
  const gemm = await gemmKernels(memory);
  if (!gemm) return undefined;
  return { ...(instance.exports as object), gemm } as SimdKernels;
}
