/**
 * @file The Rng's normal draws as one WebAssembly SIMD loop (source: normals.wat.ts): about 3× faster than the JS
 * loop through `Math`, and the same bits. Where WebAssembly SIMD is missing, the Rng keeps its JS loop.
 */
import { decodeBase64 } from './base64.ts';
import { NORMALS_BINARY } from './normals-binary.ts';

import { OUT, STATE } from './normals.wat.ts';
/** normals per call; even, so a chunk never splits a Box–Muller pair */
const CHUNK = 1 << 18;

interface NormalsKernel {
  memory: WebAssembly.Memory;
  normals(n: number): void;
  check(x0: number, x1: number, t0: number, t1: number): void;
}

let kernel: NormalsKernel | null | undefined;

export const normalsBytes = () => decodeBase64(NORMALS_BINARY);

/** the instantiated module, or null where WebAssembly SIMD is missing */
export function normalsKernel(): NormalsKernel | null {
  if (kernel !== undefined) return kernel;
  try {
    kernel = new WebAssembly.Instance(new WebAssembly.Module(normalsBytes()), {}).exports as unknown as NormalsKernel;
  } catch {
    kernel = null;
  }
  return kernel;
}

/** Fills `out` with normals drawn from the xoshiro128** `state` (advanced); false (nothing drawn) without the module. */
export function drawNormals(state: Uint32Array, out: Float32Array): boolean {
  const k = normalsKernel();
  if (!k) return false;
  const need = OUT + 4 * Math.min(out.length, CHUNK);
  if (k.memory.buffer.byteLength < need) k.memory.grow(Math.ceil((need - k.memory.buffer.byteLength) / 65536));
  new Uint32Array(k.memory.buffer, STATE, 4).set(state);
  for (let at = 0; at < out.length; at += CHUNK) {
    const n = Math.min(CHUNK, out.length - at);
    k.normals(n);
    out.set(new Float32Array(k.memory.buffer, OUT, n), at);
  }
  state.set(new Uint32Array(k.memory.buffer, STATE, 4));
  return true;
}
