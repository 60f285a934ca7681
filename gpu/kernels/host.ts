/** @file The fused kernels on the wasm and cpu backends, one call each instead of a chain of tfjs ops. On wasm they
 * run as WebAssembly SIMD on tfjs's own heap (simd.ts), where the shapes suit it, else as the host loops of defs.ts;
 * on cpu as the host loops over the backend's typed arrays. */
import * as tf from '@tensorflow/tfjs';
import type { TensorInfo } from '@tensorflow/tfjs';
import { arrs, inputList, SPECS, type Buf } from './spec.ts';
import { simdKernels, simdSupported, type SimdKernels } from './simd.ts';
import { gemmPool } from './gemm-pool.ts';
import { PACK_BYTES } from './gemm.ts';
import { registerSharedIdentity } from './shared-identity.ts';
import { registerRowConcat } from './row-concat.ts';


interface WasmBackend {
  wasm: { asm: { memory: WebAssembly.Memory }; _malloc(bytes: number): number; _free(ptr: number): void };
  dataIdMap: { get(id: object): { memoryOffset: number } };
  makeOutput(shape: number[], dtype: 'float32'): TensorInfo;
  typedArrayFromHeap(t: TensorInfo): Float32Array;
}
interface CpuBackend {
  data: { get(id: object): { values: Float32Array } };
  makeTensorInfo(shape: number[], dtype: 'float32', values: Float32Array): TensorInfo;
}

const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);

/** a tensor on tfjs-wasm's heap: its byte offset, and a view of it made when first read (most SIMD kernels take only
 * offsets: Adam's 42 views per call were made for nothing) */
class HeapBuf implements Buf {
  readonly ptr: number;
  private view: Float32Array | undefined;
  constructor(
    private readonly backend: WasmBackend,
    private readonly t: TensorInfo,
  ) {
    this.ptr = backend.dataIdMap.get(t.dataId).memoryOffset;
  }
  get arr(): Float32Array {
    return (this.view ??= this.backend.typedArrayFromHeap(this.t));
  }
}

function needFloat(name: string, ins: TensorInfo[]): void {
  const bad = ins.find((t) => t.dtype !== 'float32');
  if (bad) throw new Error(`${name} takes float32 inputs, got ${bad.dtype}`);
}

/** a kernel's SIMD form; a trap names the kernel, its operands' places and the heap's size (a bad address says where) */
function simdRun(spec: (typeof SPECS)[number], simd: SimdKernels, ib: Buf[], ob: Buf[], shapes: readonly number[][], a: Record<string, unknown>, b: WasmBackend): boolean {
  try {
    return spec.simd?.(simd, ib, ob, shapes, a) ?? false;
  } catch (e) {
    if (!(e instanceof WebAssembly.RuntimeError)) throw e;
    const at = (bs: Buf[]) => bs.map((x) => `${x.ptr}+${x.arr.byteLength}`).join(', ');
    throw new Error(`${e.message} in the ${spec.name} kernel (inputs ${shapes.map((s) => `[${s}]`).join(' ')} at ${at(ib)}; outputs at ${at(ob)}; heap ${b.wasm.asm.memory.buffer.byteLength} bytes)`, { cause: e });
  }
}

/** the products' scratch for packing Aᵀ (PACK_BYTES per thread) on tfjs-wasm's heap: allocated once, and again (the
 * old one freed) for a pool with more threads; registering replaces every kernel, so none still uses the old one */
let scratch: { wasm: WasmBackend['wasm']; block: number; threads: number } | undefined;
function packScratch(wasm: WasmBackend['wasm'], threads: number): number {
  if (scratch?.wasm !== wasm || scratch.threads < threads) {
    if (scratch?.wasm === wasm) wasm._free(scratch.block);
    scratch = { wasm, block: wasm._malloc(threads * PACK_BYTES + 16), threads };
  }
  // 16-byte aligned, as the packed rows' f32x4 loads like
  return (scratch.block + 15) & ~15;
}

/** Register every fused kernel for `backendName` (once). `simd: false` keeps the host loops on wasm (tests compare both).
 * `threads`: the matrix products' threads on wasm (default DISTILLERY_THREADS, else min(2, cores); 1 in a browser). */
export async function registerHostKernels(backendName: 'wasm' | 'cpu', o: { simd?: boolean; threads?: number } = {}): Promise<void> {
  let simd: SimdKernels | undefined;
  const wasm = backendName === 'wasm' ? (tf.findBackend('wasm') as unknown as WasmBackend).wasm : undefined;
  const heap = wasm?.asm.memory;
  if (heap) registerSharedIdentity();
  if (wasm) registerRowConcat();
  if (heap && (o.simd ?? true)) simd = await simdKernels(heap);
  if (simd) {
    simd.pool = gemmPool(o.threads, heap);
    simd.pack = packScratch(wasm!, simd.pool?.threads ?? 1);
  }
  for (const spec of SPECS) {
    if (spec.backends && !spec.backends.includes(backendName)) continue;
    if (spec.needsSimdEngine && backendName === 'wasm' && !simdSupported()) continue;
    if (tf.getKernel(spec.name, backendName)) tf.unregisterKernel(spec.name, backendName);
    tf.registerKernel({
      kernelName: spec.name,
      backendName,
      kernelFunc: ({ inputs, backend, attrs }) => {
        const ins = inputList(inputs as Record<string, TensorInfo>);
        needFloat(spec.name, ins);
        const shapes = ins.map((t) => t.shape);
        const a = attrs as Record<string, unknown>;
        const outShapes = spec.outShapes(shapes, a);
        if (backendName === 'wasm') {
          const b = backend as unknown as WasmBackend;
          // allocate first: an allocation can grow the heap, which detaches every view taken before it
          const outs = outShapes.map((s) => b.makeOutput(s, 'float32'));
          const buf = (t: TensorInfo): Buf => new HeapBuf(b, t);
          const [ib, ob] = [ins.map(buf), outs.map(buf)];
          if (!(simd && simdRun(spec, simd, ib, ob, shapes, a, b))) spec.host(arrs(ib), arrs(ob), shapes, a);
          return outs;
        }
        const b = backend as unknown as CpuBackend;
        const outs = outShapes.map((s) => new Float32Array(size(s)));
        spec.host(ins.map((t) => b.data.get(t.dataId).values), outs, shapes, a);
        return outs.map((v, i) => b.makeTensorInfo(outShapes[i]!, 'float32', v));
      },
    });
  }
}
