/** @file The fused kernels on the webgpu backend: WGSL compute programs generated per kernel and run through tfjs's
 * own program cache (runWebGPUProgram). A program writes one output, so a kernel with several outputs runs one
 * program per output (each recomputes the cheap shared terms instead of storing them). */
import * as tf from '@tensorflow/tfjs';
import type { TensorInfo } from '@tensorflow/tfjs';
import type { WebGPUProgram } from '@tensorflow/tfjs-backend-webgpu';
import { KERNELS, type AdamAttrs, type AdamGuardedAttrs, type FourierAttrs, type GuardAttrs, type KernelName } from './defs.ts';
import { inputList } from './spec.ts';
import { compileElementwise, modeOf } from './elementwise.ts';

interface WebGPUBackendLike {
  runWebGPUProgram(p: WebGPUProgram, inputs: TensorInfo[], dtype: 'float32', uniforms?: { type: string; data: number[] }[]): TensorInfo;
  disposeData(dataId: object): void;
}

const WG = 64;
const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
const names = (n: number) => Array.from({ length: n }, (_, i) => `x${i}`);

/** one invocation per output element: `body` sets `out` from the inputs x0.. at flat index i */
function elementwise(key: string, n: number, outShape: number[], body: string, uniforms?: string, helpers = ''): WebGPUProgram {
  const count = size(outShape);
  return {
    shaderKey: `distillery_${key}`,
    variableNames: names(n),
    outputShape: outShape,
    dispatchLayout: { x: outShape.map((_, i) => i) },
    dispatch: [Math.ceil(count / WG), 1, 1],
    workgroupSize: [WG, 1, 1],
    size: true,
    ...(uniforms ? { uniforms } : {}),
    getUserCode: () => `${helpers}
      fn main(i : i32) {
        if (i < uniforms.size) {
          var out = 0.0;
          ${body}
          result[i] = out;
        }
      }`,
  };
}

/** one invocation per column c of [rows, cols] inputs: out[c] = Σ_r term(j = r·cols + c) */
function columnReduction(key: string, n: number, cols: number, term: string): WebGPUProgram {
  return {
    shaderKey: `distillery_colsum_${key}`,
    variableNames: names(n),
    outputShape: [cols],
    dispatchLayout: { x: [0] },
    dispatch: [Math.ceil(cols / WG), 1, 1],
    workgroupSize: [WG, 1, 1],
    size: true,
    uniforms: 'rows : i32, cols : i32,',
    getUserCode: () => `
      fn main(c : i32) {
        if (c < uniforms.cols) {
          var acc = 0.0;
          for (var r = 0; r < uniforms.rows; r++) {
            let j = r * uniforms.cols + c;
            acc += ${term};
          }
          result[c] = acc;
        }
      }`,
  };
}

/** The most inputs one program binds: WebGPU guarantees 8 storage buffers per shader stage, one is the output. */
const MAX_INPUTS = 7;

/** Σ of every input's squares (or of the inputs themselves, `square` false) in one workgroup: strided partial sums,
 * then a tree in workgroup memory */
function sumSquares(n: number, sizes: number[], square = true): WebGPUProgram {
  const loops = sizes.map((s, k) => `for (var j = lid; j < ${s}; j += ${WG}) { let v = x${k}[j]; acc += ${square ? 'v * v' : 'v'}; }`).join('\n          ');
  return {
    shaderKey: `distillery_${square ? 'sumsq' : 'sum'}_${sizes.join('_')}`,
    variableNames: names(n),
    outputShape: [],
    dispatchLayout: { x: [] },
    dispatch: [1, 1, 1],
    workgroupSize: [WG, 1, 1],
    // the shader must read the uniforms: an unused binding drops out of the layout tfjs binds against
    size: true,
    getUserCode: () => `
      var<workgroup> partial : array<f32, ${WG}>;
      fn main(unused : i32) {
        let lid = i32(localIndex);
        var acc = 0.0;
        ${loops}
        partial[lid] = acc;
        workgroupBarrier();
        for (var w = ${WG / 2}; w > 0; w = w / 2) {
          if (lid < w) { partial[lid] += partial[lid + w]; }
          workgroupBarrier();
        }
        if (lid == 0 && uniforms.size == 1) { result[0] = partial[0]; }
      }`,
  };
}

/** Σ‖x‖² over any number of inputs: programs of at most MAX_INPUTS inputs, then sums of their partial sums */
function sumSquaresIn(b: WebGPUBackendLike, ins: TensorInfo[]): TensorInfo {
  const run = (xs: TensorInfo[], square: boolean) => b.runWebGPUProgram(sumSquares(xs.length, xs.map((t) => size(t.shape)), square), xs, 'float32');
  let parts = chunked(ins).map((c) => run(c, true));
  while (parts.length > 1) {
    const next = chunked(parts).map((c) => run(c, false));
    parts.forEach((t) => b.disposeData(t.dataId));
    parts = next;
  }
  return parts[0]!;
}

const chunked = <T>(xs: T[]) => Array.from({ length: Math.ceil(xs.length / MAX_INPUTS) }, (_, k) => xs.slice(k * MAX_INPUTS, (k + 1) * MAX_INPUTS));

/** (sin 2πu, cos 2πu) to ~1e-7: WGSL's builtin sin/cos promise only 2⁻¹¹ absolute error. Quarter-turn reduction,
 * then Taylor polynomials on [−π/4, π/4], rotated back by the quadrant. */
const SINCOS_TURNS = `
      fn sincosTurns(u : f32) -> vec2<f32> {
        let x = 4.0 * (u - round(u));
        let q = round(x);
        let y = (x - q) * 1.5707963267948966;
        let y2 = y * y;
        let s = y * (1.0 + y2 * (-1.0 / 6.0 + y2 * (1.0 / 120.0 + y2 * (-1.0 / 5040.0 + y2 * (1.0 / 362880.0)))));
        let c = 1.0 + y2 * (-0.5 + y2 * (1.0 / 24.0 + y2 * (-1.0 / 720.0 + y2 * (1.0 / 40320.0))));
        switch ((i32(q) + 4) % 4) {
          case 0: { return vec2<f32>(s, c); }
          case 1: { return vec2<f32>(c, -s); }
          case 2: { return vec2<f32>(-s, -c); }
          default: { return vec2<f32>(-c, s); }
        }
      }`;

const SILU_DA = 'x0[j] * x2[j] * (1.0 + x1[j] * (1.0 - x2[j]))';
const ADAM_UNIFORMS = 'k : f32, b1 : f32, b2 : f32, c2 : f32, eps : f32,';
// a program binds only the inputs it reads (an unread binding drops out of the layout): m' reads (g, m), v' (g, v)
const adamM = (g: string, m: string) => `let m = uniforms.b1 * ${m}[i] + (1.0 - uniforms.b1) * ${g}[i];`;
const adamV = (g: string, v: string) => `let v = uniforms.b2 * ${v}[i] + (1.0 - uniforms.b2) * ${g}[i] * ${g}[i];`;

// finite by its exponent bits: WGSL lets a compiler assume no NaN or Inf, so x == x may fold to true
const FINITE = 'fn finite(x : f32) -> bool { return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u; }';
const GUARDED_UNIFORMS = 'b1 : f32, b2 : f32, eps : f32,';

type Impl = (b: WebGPUBackendLike, ins: TensorInfo[], attrs: Record<string, unknown>) => TensorInfo[];

// matrix products stay tfjs-webgpu's own (gpu/fused.ts's gemm falls back to tf.matMul); the SiLU forward stays
// Sigmoid and Multiply (a program writes one output, so a fused one would still run two)
const IMPLS: Record<Exclude<KernelName, typeof KERNELS.matMul | typeof KERNELS.matMulSilu | typeof KERNELS.matMulSiluOut | typeof KERNELS.siluForward>, Impl> = {
  [KERNELS.siluGradBias]: (b, ins) => {
    const shape = ins[0]!.shape;
    const cols = shape[shape.length - 1]!;
    const rows = size(shape) / cols;
    const da = b.runWebGPUProgram(elementwise('silu_grad', 3, [...shape], `let j = i; out = ${SILU_DA};`), ins, 'float32');
    const db = b.runWebGPUProgram(columnReduction('silu_grad', 3, cols, SILU_DA), ins, 'float32', [
      { type: 'int32', data: [rows] },
      { type: 'int32', data: [cols] },
    ]);
    return [da, db];
  },
  [KERNELS.columnSum]: (b, ins) => {
    const shape = ins[0]!.shape;
    const cols = shape[shape.length - 1]!;
    return [b.runWebGPUProgram(columnReduction('plain', 1, cols, 'x0[j]'), ins, 'float32', [
      { type: 'int32', data: [size(shape) / cols] },
      { type: 'int32', data: [cols] },
    ])];
  },
  [KERNELS.transpose2d]: (b, ins) => {
    const [rows, cols] = ins[0]!.shape as [number, number];
    // output [cols, rows]: element i is x[r, c] with c = i / rows, r = i % rows
    const p = elementwise('transpose', 1, [cols, rows], 'let c = i / uniforms.rows; let r = i - c * uniforms.rows; out = x0[r * uniforms.cols + c];', 'rows : i32, cols : i32,');
    return [b.runWebGPUProgram(p, ins, 'float32', [
      { type: 'int32', data: [rows] },
      { type: 'int32', data: [cols] },
    ])];
  },
  [KERNELS.fourier]: (b, ins, attrs) => {
    const a = attrs as unknown as FourierAttrs;
    const shape = [...ins[0]!.shape.slice(0, -1), 2 * a.n];
    // element i = (row, j): j < n is sin(base·(j+1)·t), else cos(base·(j−n+1)·t)
    const body =
      'let row = i / (2 * uniforms.n); let j = i - row * 2 * uniforms.n; let k = f32(j % uniforms.n + 1); ' +
      'let sc = sincosTurns(k * x0[row] * uniforms.turns); out = select(sc.y, sc.x, j < uniforms.n);';
    // turns = base / 2π, exactly 1 for the usual base 2π
    return [b.runWebGPUProgram(elementwise('fourier', 1, shape, body, 'n : i32, turns : f32,', SINCOS_TURNS), ins, 'float32', [
      { type: 'int32', data: [a.n] },
      { type: 'float32', data: [a.base / (2 * Math.PI)] },
    ])];
  },
  [KERNELS.elementwise]: (b, ins, attrs) => {
    const shape = attrs.shape as number[];
    const c = compileElementwise(attrs.expr as string, ins.map((t) => modeOf(t.shape, shape)));
    const { helpers, body } = c.wgsl();
    return [b.runWebGPUProgram(elementwise(`ew_${c.key}`, ins.length, [...shape], body, 'cols : i32,', helpers), ins, 'float32', [{ type: 'int32', data: [shape[shape.length - 1] ?? 1] }])];
  },
  [KERNELS.sumSquares]: (b, ins) => [sumSquaresIn(b, ins)],
  [KERNELS.updateGuard]: (b, ins, attrs) => {
    const a = attrs as unknown as GuardAttrs;
    const body =
      'let ok = select(0.0, 1.0, finite(x0[0]) && finite(x0[1])); let t = x1[3] + ok; ' +
      'let k = select(0.0, uniforms.lr / (1.0 - pow(uniforms.b1, t)), t > 0.0); let c2 = select(1.0, 1.0 - pow(uniforms.b2, t), t > 0.0); ' +
      'out = select(select(select(t, c2, i == 2), k, i == 1), ok, i == 0);';
    return [b.runWebGPUProgram(elementwise('update_guard', 2, [4], body, 'lr : f32, b1 : f32, b2 : f32,', FINITE), ins, 'float32', [a.lr, a.beta1, a.beta2].map((v) => ({ type: 'float32', data: [v] })))];
  },
  [KERNELS.adamGuarded]: (b, ins, attrs) => {
    const a = attrs as unknown as AdamGuardedAttrs;
    const n = a.count;
    const guard = ins[4 * n]!;
    const u = [a.beta1, a.beta2, a.eps].map((v) => ({ type: 'float32', data: [v] }));
    const outs: TensorInfo[][] = [[], [], []];
    for (let j = 0; j < n; j++) {
      const [p, g, m, v] = [ins[j]!, ins[n + j]!, ins[2 * n + j]!, ins[3 * n + j]!];
      const run = (key: string, xs: TensorInfo[], body: string) => b.runWebGPUProgram(elementwise(`adam_guarded_${key}`, xs.length, [...p.shape], body, GUARDED_UNIFORMS), xs, 'float32', u);
      // the guard is the last input: [ok, lr/c1, c2, t]
      outs[0]!.push(run('p', [p, g, m, v, guard], `${adamM('x1', 'x2')} ${adamV('x1', 'x3')} out = select(x0[i], x0[i] - x4[1] * m / (sqrt(v / x4[2]) + uniforms.eps), x4[0] > 0.5);`));
      outs[1]!.push(run('m', [g, m, guard], `${adamM('x0', 'x1')} out = select(x1[i], m, x2[0] > 0.5);`));
      outs[2]!.push(run('v', [g, v, guard], `${adamV('x0', 'x1')} out = select(x1[i], v, x2[0] > 0.5);`));
    }
    return outs.flat();
  },
  [KERNELS.adam]: (b, ins, attrs) => {
    const a = attrs as unknown as AdamAttrs;
    const n = a.count;
    const c1 = 1 - a.beta1 ** a.step;
    const u = [a.lr / c1, a.beta1, a.beta2, 1 - a.beta2 ** a.step, a.eps].map((v) => ({ type: 'float32', data: [v] }));
    const outs: TensorInfo[][] = [[], [], []];
    for (let j = 0; j < n; j++) {
      const [p, g, m, v] = [ins[j]!, ins[n + j]!, ins[2 * n + j]!, ins[3 * n + j]!];
      const shape = [...p.shape];
      const run = (key: string, xs: TensorInfo[], body: string) => b.runWebGPUProgram(elementwise(`adam_${key}`, xs.length, shape, body, ADAM_UNIFORMS), xs, 'float32', u);
      outs[0]!.push(run('p', [p, g, m, v], `${adamM('x1', 'x2')} ${adamV('x1', 'x3')} out = x0[i] - uniforms.k * m / (sqrt(v / uniforms.c2) + uniforms.eps);`));
      outs[1]!.push(run('m', [g, m], `${adamM('x0', 'x1')} out = m;`));
      outs[2]!.push(run('v', [g, v], `${adamV('x0', 'x1')} out = v;`));
    }
    return outs.flat();
  },
};

export function registerWebgpuKernels(): void {
  for (const [name, impl] of Object.entries(IMPLS)) {
    if (tf.getKernel(name, 'webgpu')) continue;
    tf.registerKernel({
      kernelName: name,
      backendName: 'webgpu',
      kernelFunc: ({ inputs, backend, attrs }) => {
        const ins = inputList(inputs as Record<string, TensorInfo>);
        const bad = ins.find((t) => t.dtype !== 'float32');
        if (bad) throw new Error(`${name} takes float32 inputs, got ${bad.dtype}`);
        return impl(backend as unknown as WebGPUBackendLike, ins, attrs as Record<string, unknown>);
      },
    });
  }
}
