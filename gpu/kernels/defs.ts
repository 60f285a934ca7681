/** @file The fused kernels distillery registers with tfjs: names, attributes, and the math each computes as loops
 * over float32 arrays. The cpu backend runs these loops on its buffers, the wasm backend runs them (or their SIMD form,
 * simd.ts) on its heap (host.ts); webgpu.ts writes the same math as WGSL programs. */

export const KERNELS = {
  /** [da, db] of y = a·σ(a) (SiLU) after a dense layer: da = dy·s·(1 + a·(1 − s)) with s = σ(a) saved by the
   * forward pass, and db = Σ_rows da, the bias gradient, as the reduction epilogue of the same pass */
  siluGradBias: 'DistillerySiluGradBias',
  /** [y, s] of y = a·σ(a) (SiLU) after a dense layer, with s = σ(a) kept for the backward pass: one pass where tfjs runs
   * Sigmoid and Multiply. wasm only: σ is tfjs-wasm's own (XNNPACK's degree-5 polynomial, `sigmoidWasm`), so the
   * outputs are bit-identical to tf.sigmoid then tf.mul there */
  siluForward: 'DistillerySiluForward',
  /** Σ_rows dy: the bias gradient of a dense layer without activation */
  columnSum: 'DistilleryColumnSum',
  /** xᵀ of a 2-D tensor (tfjs-wasm's transpose is 3–5× slower than a blocked copy) */
  transpose2d: 'DistilleryTranspose2D',
  /** Σ‖g_i‖² over every input: the gradient-norm and NaN/Inf check of an update, one pass */
  sumSquares: 'DistillerySumSquares',
  /** [sin(b·k·t), cos(b·k·t)] for k = 1..n along a new last axis of width 2n: a Fourier time embedding in one pass
   * (angle-addition recurrence from one sin/cos per row, in float64) */
  fourier: 'DistilleryFourier',
  /** one bias-corrected Adam step of all parameters of a role: inputs p_i, g_i, m_i, v_i; outputs p'_i, m'_i, v'_i */
  adam: 'DistilleryAdam',
  /** the decision of an update made on the device, for a loop that does not read each update back: inputs the
   * update's [loss, Σ‖g‖², …] and the previous guard; output [ok, lr/(1 − β₁ᵗ), 1 − β₂ᵗ, t] with ok = 1 when the loss
   * and Σ‖g‖² are finite and t the count of applied updates, this one included */
  updateGuard: 'DistilleryUpdateGuard',
  /** `adam` gated by a guard: inputs p_i, g_i, m_i, v_i and the guard last; where the guard says skip, p, m and v come
   * out unchanged */
  adamGuarded: 'DistilleryAdamGuarded',
  /** C = op(A)·op(B) (+ bias) for 2-D A, B: attrs transposeA, transposeB; inputs A, B and optionally the bias [n].
   * On wasm, WebAssembly SIMD on operands read in place (gemm.ts), large products on a worker pool (gemm-pool.ts) */
  matMul: 'DistilleryMatMul',
  /** [a, y, s] of a dense layer with SiLU: a = x·W + b, s = σ(a), y = a·s, one pass over a where the product leaves it
   * (the same bits as DistilleryMatMul then DistillerySiluForward). wasm only, like siluForward; the SiLU runs as the
   * product's epilogue when n % 4 = 0, on whichever thread computes the rows */
  matMulSilu: 'DistilleryMatMulSilu',
  /** y = a·σ(a) alone, a = x·W + b: a dense layer with SiLU whose backward pass never runs (a frozen teacher, the
   * student drawing samples for the fake score's update). The same bits as matMulSilu's y; it leaves out the writes
   * of a and s, which cost about as much as σ itself. wasm only, n % 4 = 0 */
  matMulSiluOut: 'DistilleryMatMulSiluOut',
  /** a fused group of elementwise ops, generated from its scalar expression (elementwise.ts) */
  elementwise: 'DistilleryElementwise',
} as const;
export type KernelName = (typeof KERNELS)[keyof typeof KERNELS];

export interface AdamAttrs {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** the step number after this update (bias corrections 1 − βᵗ) */
  step: number;
  /** number of parameters n: the inputs are p_0..p_{n−1}, g_0.., m_0.., v_0.. */
  count: number;
}

export interface GuardAttrs {
  lr: number;
  beta1: number;
  beta2: number;
}

/** `adam`'s attributes for the guarded form: the step and the learning rate come from the guard */
export type AdamGuardedAttrs = Omit<AdamAttrs, 'lr' | 'step'>;

const finite32 = (x: number) => Number.isFinite(Math.fround(x));

export interface MatMulAttrs {
  transposeA: boolean;
  transposeB: boolean;
}

export interface FourierAttrs {
  n: number;
  base: number;
}

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);
/** 2^n for the integer n held in the float `v` (biased by the magic constant): v's low bits shifted into the exponent */
const exponentShift = (v: number) => ((f32[0] = v), (u32[0] = u32[0]! << 23), f32[0]!);
const F = Math.fround;
// XNNPACK's f32 sigmoid (p5-div): e^−|x| = 2^n·p(t) with a two-constant reduction t = |x| − n·ln2 and a degree-5
// polynomial, σ(−|x|) = e/(1 + e), mirrored for x > 0; every step rounded to float32 as its wasm SIMD form does
const SIG = {
  magic: F(12583039),
  minusLog2e: F(-1.4426950216293335),
  ln2hi: F(0.693145751953125),
  ln2lo: F(1.428606765330187e-6),
  c: [F(-0.9999997019767761), F(0.4999915063381195), F(-0.16667652130126953), F(0.04189782217144966), F(-0.008289290592074394)],
  cutoff: F(87.33654022216797),
};
/** σ(x) exactly as tfjs-wasm computes it (tested bit for bit against tf.sigmoid on wasm) */
export function sigmoidWasm(x: number): number {
  const z = Math.abs(x);
  let n = F(F(z * SIG.minusLog2e) + SIG.magic);
  const s = exponentShift(n);
  n = F(n - SIG.magic);
  let t = F(F(n * SIG.ln2hi) + z);
  t = F(F(n * SIG.ln2lo) + t);
  const [c1, c2, c3, c4, c5] = SIG.c as [number, number, number, number, number];
  let p = F(F(t * c5) + c4);
  p = F(F(t * p) + c3);
  p = F(F(t * p) + c2);
  p = F(F(t * p) + c1);
  t = F(t * s);
  const e = F(F(t * p) + s);
  const f = z > SIG.cutoff ? 0 : F(e / F(e + 1));
  return x > 0 ? F(1 - f) : f;
}
/** the constants of `sigmoidWasm`, for the SIMD form (simd.wat.ts) */
export const SIGMOID_WASM = SIG;

/** The loops. Each reads `ins` and writes every element of `outs`; accumulations run in float64. */
export const hostMath = {
  siluGradBias([dy, a, s]: Float32Array[], [da, db]: Float32Array[], cols: number): void {
    const acc = new Float64Array(cols);
    for (let i = 0, n = dy!.length; i < n; ) {
      for (let c = 0; c < cols; c++, i++) {
        const si = s![i]!;
        const d = dy![i]! * si * (1 + a![i]! * (1 - si));
        da![i] = d;
        acc[c]! += d;
      }
    }
    db!.set(acc);
  },
  siluForward([a]: Float32Array[], [y, s]: Float32Array[], from = 0): void {
    for (let i = from; i < a!.length; i++) {
      const si = sigmoidWasm(a![i]!);
      s![i] = si;
      y![i] = a![i]! * si;
    }
  },
  columnSum([dy]: Float32Array[], [out]: Float32Array[], cols: number): void {
    const acc = new Float64Array(cols);
    for (let i = 0, n = dy!.length; i < n; ) for (let c = 0; c < cols; c++, i++) acc[c]! += dy![i]!;
    out!.set(acc);
  },
  transpose2d([x]: Float32Array[], [out]: Float32Array[], rows: number, cols: number): void {
    const T = 32;
    for (let r0 = 0; r0 < rows; r0 += T)
      for (let c0 = 0; c0 < cols; c0 += T) {
        const r1 = Math.min(rows, r0 + T);
        const c1 = Math.min(cols, c0 + T);
        for (let r = r0; r < r1; r++) for (let c = c0, i = r * cols + c0; c < c1; c++, i++) out![c * rows + r] = x![i]!;
      }
  },
  fourier([t]: Float32Array[], [out]: Float32Array[], a: FourierAttrs): void {
    const n = a.n;
    for (let r = 0; r < t!.length; r++) {
      const th = a.base * t![r]!;
      const s1 = Math.sin(th);
      const c1 = Math.cos(th);
      let s = s1;
      let c = c1;
      const o = r * 2 * n;
      for (let k = 0; k < n; k++) {
        out![o + k] = s;
        out![o + n + k] = c;
        [s, c] = [s * c1 + c * s1, c * c1 - s * s1];
      }
    }
  },
  sumSquares(gs: Float32Array[], [out]: Float32Array[]): void {
    let s = 0;
    for (const g of gs) for (let i = 0; i < g.length; i++) s += g[i]! * g[i]!;
    out![0] = s;
  },
  updateGuard([stats, prev]: Float32Array[], [out]: Float32Array[], a: GuardAttrs): void {
    const ok = finite32(stats![0]!) && finite32(stats![1]!) ? 1 : 0;
    const t = prev![3]! + ok;
    out![0] = ok;
    out![1] = t > 0 ? a.lr / (1 - a.beta1 ** t) : 0;
    out![2] = t > 0 ? 1 - a.beta2 ** t : 1;
    out![3] = t;
  },
  adamGuarded(ins: Float32Array[], outs: Float32Array[], a: AdamGuardedAttrs): void {
    const n = a.count;
    const guard = ins[4 * n]!;
    if (guard[0]! < 0.5) {
      for (let j = 0; j < n; j++) for (const [o, i] of [[j, j], [n + j, 2 * n + j], [2 * n + j, 3 * n + j]] as const) outs[o]!.set(ins[i]!);
      return;
    }
    const [k, c2, b1, b2] = [guard[1]!, guard[2]!, a.beta1, a.beta2];
    for (let j = 0; j < n; j++) {
      const [p, g, m, v] = [ins[j]!, ins[n + j]!, ins[2 * n + j]!, ins[3 * n + j]!];
      const [po, mo, vo] = [outs[j]!, outs[n + j]!, outs[2 * n + j]!];
      for (let i = 0; i < p.length; i++) {
        const gi = g[i]!;
        const mi = b1 * m[i]! + (1 - b1) * gi;
        const vi = b2 * v[i]! + (1 - b2) * gi * gi;
        mo[i] = mi;
        vo[i] = vi;
        po[i] = p[i]! - (k * mi) / (Math.sqrt(vi / c2) + a.eps);
      }
    }
  },
  adam(ins: Float32Array[], outs: Float32Array[], a: AdamAttrs): void {
    const n = a.count;
    const c1 = 1 - a.beta1 ** a.step;
    const c2 = 1 - a.beta2 ** a.step;
    const k = a.lr / c1;
    const b1 = a.beta1;
    const b2 = a.beta2;
    for (let j = 0; j < n; j++) {
      const [p, g, m, v] = [ins[j]!, ins[n + j]!, ins[2 * n + j]!, ins[3 * n + j]!];
      const [po, mo, vo] = [outs[j]!, outs[n + j]!, outs[2 * n + j]!];
      for (let i = 0; i < p.length; i++) {
        const gi = g[i]!;
        const mi = b1 * m[i]! + (1 - b1) * gi;
        const vi = b2 * v[i]! + (1 - b2) * gi * gi;
        mo[i] = mi;
        vo[i] = vi;
        po[i] = p[i]! - (k * mi) / (Math.sqrt(vi / c2) + a.eps);
      }
    }
  },
};
