/** @file tfjs-wasm's Concat copies each input's part of each outer row with `subarray` + `set`: two calls and a view
 * made per row and input, ~50 µs for the dmd-step MLP's [256, 2] ‖ [256, 16] input (7 per iteration). Here short
 * parts are copied element by element instead (~5 µs), long ones still with `set`. The same values land in the same
 * places; strings, and anything but f32 / i32 / bool, keep tfjs's kernel. */
import * as tf from '@tensorflow/tfjs';
import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs';

interface HeapBackend {
  makeOutput(shape: number[], dtype: string): TensorInfo;
  typedArrayFromHeap(t: TensorInfo): Float32Array | Int32Array | Uint8Array;
}

/** parts at least this long are copied with `set` (one call per part beats a loop from here on) */
const SET_MIN = 64;

let tfjs: KernelFunc | undefined;

/** Replace the wasm backend's Concat (once; again after a re-registration is harmless) */
export function registerRowConcat(): void {
  const current = tf.getKernel('Concat', 'wasm');
  if (!current || current.kernelFunc === rowConcat) return;
  tfjs = current.kernelFunc;
  tf.unregisterKernel('Concat', 'wasm');
  tf.registerKernel({ ...current, kernelFunc: rowConcat });
}

const size = (s: number[], from = 0) => s.slice(from).reduce((a, b) => a * b, 1);

function rowConcat(args: Parameters<KernelFunc>[0]): TensorInfo {
  const inputs = args.inputs as unknown as TensorInfo[];
  const first = inputs[0]!;
  const rank = first.shape.length;
  const raw = (args.attrs as { axis: number | number[] }).axis;
  const given = Array.isArray(raw) ? raw[0]! : raw;
  const axis = given < 0 ? given + rank : given;
  const plain = first.dtype === 'float32' || first.dtype === 'int32' || first.dtype === 'bool';
  // what tfjs's kernel checks and handles specially (mismatched shapes, empty parts, one part) stays with it
  if (!plain || rank === 0 || axis < 0 || axis >= rank || inputs.length < 2 || inputs.some((t) => t.dtype !== first.dtype || t.shape.length !== rank || size(t.shape) === 0 || t.shape.some((d, i) => i !== axis && d !== first.shape[i])))
    return tfjs!(args) as TensorInfo;
  const backend = args.backend as unknown as HeapBackend;
  const outShape = first.shape.slice();
  outShape[axis] = inputs.reduce((s, t) => s + t.shape[axis]!, 0);
  // allocate first: an allocation can grow the heap, which detaches every view taken before it
  const out = backend.makeOutput(outShape, first.dtype);
  const outer = size(first.shape.slice(0, axis));
  const inner = inputs.map((t) => size(t.shape, axis));
  const row = inner.reduce((a, b) => a + b, 0);
  const dst = backend.typedArrayFromHeap(out);
  let at = 0;
  for (let i = 0; i < inputs.length; i++) {
    const src = backend.typedArrayFromHeap(inputs[i]!);
    const n = inner[i]!;
    if (n >= SET_MIN) for (let b = 0; b < outer; b++) dst.set(src.subarray(b * n, (b + 1) * n), b * row + at);
    else
      for (let b = 0, s = 0, d = at; b < outer; b++, d += row - n)
        for (let e = 0; e < n; e++) dst[d++] = src[s++]!;
    at += n;
  }
  return out;
}
