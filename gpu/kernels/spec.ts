/** @file Per kernel: output shapes from input shapes, the host loop, and (optionally) its WebAssembly SIMD form.
 * Backends adapt these: host.ts for wasm and cpu. */
import { hostMath, KERNELS, type AdamAttrs, type AdamGuardedAttrs, type FourierAttrs, type GuardAttrs, type KernelName, type MatMulAttrs } from './defs.ts';
import { adamCall, callRows, gathered, gemmCall, gemmHost, PACK_BYTES, siluEpilogueFits, type GemmPtrs, type GemmShape } from './gemm.ts';
import type { SimdKernels } from './simd.ts';
import { compileElementwise, modeOf } from './elementwise.ts';

/** a float32 buffer: its elements, and on the wasm heap its byte offset */
export interface Buf {
  readonly arr: Float32Array;
  readonly ptr: number;
}

export interface KernelSpec {
  name: KernelName;
  /** the backends it is registered on (unset: wasm and cpu) */
  backends?: readonly ('wasm' | 'cpu')[];
  /** on wasm only where the engine has WebAssembly SIMD (its host loop mirrors tfjs-wasm's SIMD build) */
  needsSimdEngine?: boolean;
  outShapes(ins: readonly number[][], attrs: Record<string, unknown>): number[][];
  host(ins: Float32Array[], outs: Float32Array[], shapes: readonly number[][], attrs: Record<string, unknown>): void;
  /** the SIMD form; returns false when the shapes do not suit it (the host loop runs instead) */
  simd?(k: SimdKernels, ins: Buf[], outs: Buf[], shapes: readonly number[][], attrs: Record<string, unknown>): boolean;
}

const cols = (s: readonly number[]) => s[s.length - 1]!;
const rows = (s: readonly number[]) => s.slice(0, -1).reduce((a, b) => a * b, 1);
export const arrs = (bs: Buf[]) => bs.map((b) => b.arr);

/** a product's shape from its operands' shapes and attributes */
export function gemmShape([sa, sb]: readonly number[][], attrs: Record<string, unknown>): GemmShape {
  const { transposeA: ta, transposeB: tb } = attrs as unknown as MatMulAttrs;
  const [m, k] = ta ? [sa![1]!, sa![0]!] : [sa![0]!, sa![1]!];
  const [k2, n] = tb ? [sb![1]!, sb![0]!] : [sb![0]!, sb![1]!];
  if (k !== k2 || sa!.length !== 2 || sb!.length !== 2) throw new Error(`${KERNELS.matMul}: shapes [${sa}] and [${sb}] do not multiply (transposeA ${ta}, transposeB ${tb})`);
  return { m, n, k, ta: !!ta, tb: !!tb };
}

/** C = op(A)·op(B) (+ bias) on the SIMD kernels: large products on every thread (on tfjs's heap in place where it is
 * shared, else copied into the pool's memory), the others on this one. With `ptrs.silu` (S = σ(C) and Y = C·S) or
 * `ptrs.siluOut` (C·σ(C) in place of C) the SiLU comes with it, as the product's epilogue; false where the pool
 * copies (it runs plain products only), and nothing was done. */
function simdGemm(k: SimdKernels, s: GemmShape, operands: GemmPtrs, copy: () => [Float32Array, Float32Array, Float32Array | undefined, Float32Array]): boolean {
  // a short Bᵀ would be gathered lane by lane: copied transposed into the packing scratch, it is read as whole rows
  // (the same sums in the same order; dmd-step's 256 × 2 · (256 × 2)ᵀ in the iteration, 63 → 39 µs per call)
  if (k.pack && s.tb && gathered(s) && 4 * s.n * s.k <= PACK_BYTES && !(k.pool && k.pool.takes(s) && !k.pool.heap)) {
    k.transpose(operands.b, k.pack, s.n, s.k);
    return simdGemmAs(k, { ...s, tb: false }, { ...operands, b: k.pack }, undefined, copy);
  }
  return simdGemmAs(k, s, operands, k.pack, copy);
}

function simdGemmAs(k: SimdKernels, s: GemmShape, operands: GemmPtrs, pack: number | undefined, copy: () => [Float32Array, Float32Array, Float32Array | undefined, Float32Array]): boolean {
  const ptrs = { ...operands, pack };
  // the kernel and its arguments once, not per block of rows the calling thread takes
  const call = gemmCall(s, ptrs);
  const own = (m0: number, m1: number) => callRows(k.gemm, call, m0, m1);
  if (k.pool?.takes(s, !!(ptrs.silu || ptrs.siluOut))) {
    if (k.pool.heap) return k.pool.runInPlace(s, ptrs, own), true;
    if (ptrs.silu || ptrs.siluOut) return false;
    if (k.pool.run(s, ...copy(), own)) return true;
  }
  own(0, s.m);
  return true;
}

/** Adam's f32x4 are claimed in this many blocks (fewer claims than a product's 16: 65536 elements, 2 threads, warm:
 * one thread 64 µs, 16 blocks 44, 4 blocks 38–41) */
const ADAM_CLAIM_BLOCKS = 4;

export const SPECS: KernelSpec[] = [
  {
    name: KERNELS.matMul,
    outShapes: (ins, a) => {
      const s = gemmShape(ins, a);
      return [[s.m, s.n]];
    },
    host: ([x, y, bias], [c], shapes, a) => gemmHost(x!, y!, c!, bias, gemmShape(shapes, a)),
    simd: (k, [x, y, bias], [c], shapes, a) =>
      simdGemm(k, gemmShape(shapes, a), { a: x!.ptr, b: y!.ptr, c: c!.ptr, bias: bias?.ptr ?? 0 }, () => [x!.arr, y!.arr, bias?.arr, c!.arr]),
  },
  {
    name: KERNELS.matMulSilu,
    backends: ['wasm'],
    needsSimdEngine: true,
    outShapes: (ins, a) => {
      const s = gemmShape(ins, a);
      return [[s.m, s.n], [s.m, s.n], [s.m, s.n]];
    },
    host: ([x, w, bias], [c, y, sg], shapes, a) => {
      gemmHost(x!, w!, c!, bias, gemmShape(shapes, a));
      hostMath.siluForward([c!], [y!, sg!]);
    },
    simd: (k, [x, w, bias], [c, y, sg], shapes, a) => {
      const s = gemmShape(shapes, a);
      const ptrs = { a: x!.ptr, b: w!.ptr, c: c!.ptr, bias: bias?.ptr ?? 0 };
      const copy = () => [x!.arr, w!.arr, bias?.arr, c!.arr] as [Float32Array, Float32Array, Float32Array | undefined, Float32Array];
      if (siluEpilogueFits(s) && simdGemm(k, s, { ...ptrs, silu: { s: sg!.ptr, y: y!.ptr } }, copy)) return true;
      // the product, then the SiLU as its own pass
      simdGemm(k, s, ptrs, copy);
      const n4 = c!.arr.length & ~3;
      k.silu_forward(c!.ptr, y!.ptr, sg!.ptr, n4);
      hostMath.siluForward([c!.arr], [y!.arr, sg!.arr], n4);
      return true;
    },
  },
  {
    name: KERNELS.matMulSiluOut,
    backends: ['wasm'],
    needsSimdEngine: true,
    outShapes: (ins, a) => {
      const s = gemmShape(ins, a);
      if (!siluEpilogueFits(s)) throw new Error(`${KERNELS.matMulSiluOut} needs n % 4 = 0 and B untransposed (n ${s.n}, transposeB ${s.tb})`);
      return [[s.m, s.n]];
    },
    host: ([x, w, bias], [y], shapes, a) => {
      // the product in y, then the SiLU in place (each element read before it is written)
      gemmHost(x!, w!, y!, bias, gemmShape(shapes, a));
      hostMath.siluForward([y!], [y!, new Float32Array(y!.length)]);
    },
    simd: (k, [x, w, bias], [y], shapes, a) => {
      const s = gemmShape(shapes, a);
      const ptrs = { a: x!.ptr, b: w!.ptr, c: y!.ptr, bias: bias?.ptr ?? 0 };
      const copy = () => [x!.arr, w!.arr, bias?.arr, y!.arr] as [Float32Array, Float32Array, Float32Array | undefined, Float32Array];
      if (simdGemm(k, s, { ...ptrs, siluOut: true }, copy)) return true;
      // the copying pool: the product there, then the SiLU in place
      simdGemm(k, s, ptrs, copy);
      k.silu_out(y!.ptr, y!.ptr, y!.arr.length);
      return true;
    },
  },
  {
    // a fused group of elementwise ops: attrs.expr (JSON of ops/scalar.ts's Expr) over broadcast inputs
    name: KERNELS.elementwise,
    outShapes: (_ins, a) => [[...(a.shape as number[])]],
    host: (i, [out], shapes, a) => {
      const shape = a.shape as number[];
      compileElementwise(a.expr as string, shapes.map((s) => modeOf(s, shape))).host()(i, out!, shape[shape.length - 1] ?? 1);
    },
  },
  {
    name: KERNELS.siluForward,
    backends: ['wasm'],
    needsSimdEngine: true,
    outShapes: ([a]) => [[...a!], [...a!]],
    host: (i, o) => hostMath.siluForward(i, o),
    simd: (k, [a], [y, s]) => {
      const n4 = a!.arr.length & ~3;
      k.silu_forward(a!.ptr, y!.ptr, s!.ptr, n4);
      hostMath.siluForward([a!.arr], [y!.arr, s!.arr], n4);
      return true;
    },
  },
  {
    name: KERNELS.siluGradBias,
    outShapes: ([dy]) => [[...dy!], [cols(dy!)]],
    host: (i, o, [dy]) => hostMath.siluGradBias(i, o, cols(dy!)),
    simd: (k, [dy, a, s], [da, db], [shape]) => cols(shape!) % 4 === 0 && (k.silu_grad_bias(dy!.ptr, a!.ptr, s!.ptr, da!.ptr, db!.ptr, rows(shape!), cols(shape!)), true),
  },
  {
    name: KERNELS.columnSum,
    outShapes: ([dy]) => [[cols(dy!)]],
    host: (i, o, [dy]) => hostMath.columnSum(i, o, cols(dy!)),
    simd: (k, [x], [out], [shape]) => cols(shape!) % 4 === 0 && (k.column_sum(x!.ptr, out!.ptr, rows(shape!), cols(shape!)), true),
  },
  {
    name: KERNELS.transpose2d,
    outShapes: ([x]) => [[x![1]!, x![0]!]],
    host: (i, o, [x]) => hostMath.transpose2d(i, o, x![0]!, x![1]!),
    simd: (k, [x], [out], [[r, c]]) => ((r! % 4 === 0 && c! % 4 === 0 ? k.transpose4 : k.transpose)(x!.ptr, out!.ptr, r!, c!), true),
  },
  {
    name: KERNELS.fourier,
    outShapes: ([t], a) => [[...t!.slice(0, -1), 2 * (a as unknown as FourierAttrs).n]],
    host: (i, o, _s, a) => hostMath.fourier(i, o, a as unknown as FourierAttrs),
  },
  {
    name: KERNELS.sumSquares,
    outShapes: () => [[]],
    host: (i, o) => hostMath.sumSquares(i, o),
    simd: (k, ins, [out]) => {
      let s = 0;
      for (const b of ins) {
        const n4 = b.arr.length & ~3;
        s += k.sum_squares(b.ptr, n4);
        for (let i = n4; i < b.arr.length; i++) s += b.arr[i]! * b.arr[i]!;
      }
      out!.arr[0] = s;
      return true;
    },
  },
  {
    name: KERNELS.updateGuard,
    outShapes: () => [[4]],
    host: (i, o, _s, a) => hostMath.updateGuard(i, o, a as unknown as GuardAttrs),
  },
  {
    name: KERNELS.adamGuarded,
    outShapes: (ins, a) => {
      const n = (a as unknown as AdamGuardedAttrs).count;
      return [0, 1, 2].flatMap(() => ins.slice(0, n).map((s) => [...s]));
    },
    host: (i, o, _s, a) => hostMath.adamGuarded(i, o, a as unknown as AdamGuardedAttrs),
  },
  {
    name: KERNELS.adam,
    outShapes: (ins, a) => {
      const n = (a as unknown as AdamAttrs).count;
      return [0, 1, 2].flatMap(() => ins.slice(0, n).map((s) => [...s]));
    },
    host: (i, o, _s, a) => hostMath.adam(i, o, a as unknown as AdamAttrs),
    simd: (k, ins, outs, _s, attrs) => {
      const a = attrs as unknown as AdamAttrs;
      const n = a.count;
      const c1 = 1 - a.beta1 ** a.step;
      const c2 = 1 - a.beta2 ** a.step;
      for (let j = 0; j < n; j++) {
        const [p, g, m, v] = [ins[j]!, ins[n + j]!, ins[2 * n + j]!, ins[3 * n + j]!];
        const [po, mo, vo] = [outs[j]!, outs[n + j]!, outs[2 * n + j]!];
        const n4 = p.arr.length & ~3;
        const ptrs = [p.ptr, g.ptr, m.ptr, v.ptr, po.ptr, mo.ptr, vo.ptr] as const;
        if (k.pool?.takesElementwise(n4 >> 2)) {
          // the large tensors on every thread, in place
          const call = adamCall(ptrs, a.lr / c1, a.beta1, a.beta2, c2, a.eps);
          k.pool.callInPlace(call, n4 >> 2, (q0, q1) => callRows(k.gemm, call, q0, q1), ADAM_CLAIM_BLOCKS);
        } else k.adam(...ptrs, n4, a.lr / c1, a.beta1, a.beta2, c2, a.eps);
        if (n4 < p.arr.length) {
          const tail = (b: Buf) => b.arr.subarray(n4);
          hostMath.adam([p, g, m, v].map(tail), [po, mo, vo].map(tail), { ...a, count: 1 });
        }
      }
      return true;
    },
  },
];


/** runKernel takes named inputs: x0, x1, … in order. Every kernel call goes through these, so the names are made once
 * (template strings and Object.fromEntries cost 4.7 µs per call (map and list) for Adam's 24 inputs, plain loops over these 1.5) */
const INPUT_NAMES = Array.from({ length: 64 }, (_, i) => `x${i}`);
const inputName = (i: number) => INPUT_NAMES[i] ?? `x${i}`;
export const inputMap = <T>(xs: readonly T[]): Record<string, T> => {
  const m: Record<string, T> = {};
  for (let i = 0; i < xs.length; i++) m[inputName(i)] = xs[i]!;
  return m;
};
/** the inputs of an inputMap, in order (x0 up to the first name missing) */
export const inputList = <T>(m: Record<string, T>): T[] => {
  const xs: T[] = [];
  for (let i = 0, k = inputName(0); k in m; k = inputName(++i)) xs.push(m[k]!);
  return xs;
};
