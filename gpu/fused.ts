/** @file The fused kernels as functions on tensors, for ops/ and runtime/: each runs distillery's registered kernel
 * when the active backend has one, and the equivalent chain of tfjs ops otherwise (the `tensorflow` backend). */
import * as tf from '@tensorflow/tfjs';
import type { Tensor } from '@tensorflow/tfjs';
import { KERNELS, type AdamAttrs, type AdamGuardedAttrs, type GuardAttrs, type KernelName } from './kernels/defs.ts';
import { inputMap } from './kernels/spec.ts';
import { call, constant, F32_MAX, input, withInput, type Expr, type ScalarFn } from '../ops/scalar.ts';

type T2 = tf.Tensor2D;

const has = (name: KernelName) => tf.getKernel(name, tf.getBackend()) !== undefined;
const run = (name: KernelName, ins: Tensor[], attrs: Record<string, number | string | boolean | number[]> = {}) =>
  tf.engine().runKernel(name, inputMap(ins) as never, attrs as never) as unknown as Tensor[];

/** the SiLU gradient and the bias gradient of a dense layer: see KERNELS.siluGradBias */
export function siluGradBias(dy: Tensor, a: Tensor, s: Tensor): [Tensor, Tensor] {
  if (has(KERNELS.siluGradBias)) return run(KERNELS.siluGradBias, [dy, a, s]) as [Tensor, Tensor];
  const da = tf.mul(dy, tf.mul(s, tf.add(1, tf.mul(a, tf.sub(1, s)))));
  return [da, tf.sum(da, 0)];
}

/** [y, s] of y = a·σ(a): one kernel on wasm (bit-identical to the chain there), tfjs's Sigmoid and Multiply elsewhere */
export function siluForward(a: Tensor): [Tensor, Tensor] {
  if (has(KERNELS.siluForward)) return run(KERNELS.siluForward, [a]) as [Tensor, Tensor];
  const s = tf.sigmoid(a);
  return [tf.mul(a, s), s];
}

export function columnSum(dy: Tensor): Tensor {
  return has(KERNELS.columnSum) ? run(KERNELS.columnSum, [dy])[0]! : tf.sum(dy, 0);
}

export function transpose2d(x: Tensor): Tensor {
  return has(KERNELS.transpose2d) ? run(KERNELS.transpose2d, [x])[0]! : tf.transpose(x);
}

/** [sin(base·k·t), cos(base·k·t)], k = 1..n, along a new last axis (t's last axis has size 1); differentiable in t */
export function fourier(t: Tensor, n: number, base: number): Tensor {
  if (has(KERNELS.fourier)) return run(KERNELS.fourier, [t], { n, base })[0]!;
  const k = tf.mul(tf.range(1, n + 1, 1, 'float32'), base).reshape([...Array(t.rank - 1).fill(1), n]);
  const a = tf.mul(t, k);
  return tf.concat([tf.sin(a), tf.cos(a)], t.rank - 1);
}

// d/dt of [sin(b·k·t), cos(b·k·t)] = b·k·[cos, −sin]: from the saved output, summed over k
tf.registerGradient({
  kernelName: KERNELS.fourier,
  outputsToSave: [true],
  gradFunc: (dy, saved, attrs) => {
    const { n, base } = attrs as unknown as { n: number; base: number };
    const y = saved[0]!;
    const last = y.rank - 1;
    const [s, c] = tf.split(y, 2, last);
    const [ds, dc] = tf.split(dy as Tensor, 2, last);
    const k = tf.mul(tf.range(1, n + 1, 1, 'float32'), base);
    return { x0: () => tf.sum(tf.mul(tf.sub(tf.mul(ds!, c!), tf.mul(dc!, s!)), k), last, true) };
  },
});

/** a plan's expression serialised once, not on every step that runs it (the kernel's attribute) */
const exprJson = new WeakMap<Expr, string>();

/** A fused group of elementwise ops (dsl/compile/fuse.ts): its scalar expression over `inputs`, broadcast to `shape`. */
export function elementwise(expr: Expr, inputs: Tensor[], shape: number[]): Tensor {
  if (!has(KERNELS.elementwise)) return tf.broadcastTo(evaluate(expr, inputs), shape);
  let json = exprJson.get(expr);
  if (json === undefined) exprJson.set(expr, (json = JSON.stringify(expr)));
  return run(KERNELS.elementwise, inputs, { expr: json, shape })[0]!;
}

/** the scalar functions as tfjs ops (the unary ones are tfjs's own names) */
const TF_OPS: Partial<Record<ScalarFn, (a: Tensor, b: Tensor) => Tensor>> = {
  add: tf.add,
  sub: tf.sub,
  mul: tf.mul,
  div: tf.div,
  max: tf.maximum,
  min: tf.minimum,
  nan0: (a) => tf.where(tf.isNaN(a), tf.zerosLike(a), tf.clipByValue(a, -F32_MAX, F32_MAX)),
};

/**
 * The mean over all elements of a fused chain, `expr` over `inputs` at `shape`, reshaped to `outShape`; on a tape,
 * differentiable in the inputs whose `grads[i]` is set (an expression over the inputs and dy/N, ops/scalar-grad.ts).
 * Where the backend has the elementwise kernel: forward that kernel and tfjs's Mean, backward dy/N then one kernel per
 * gradient (summed over the axes an input is broadcast along), each rounding as tfjs's own chain and gradients do.
 * Elsewhere the chain as tfjs ops, which the tape differentiates itself.
 */
export function meanOfElementwise(expr: Expr, grads: readonly (Expr | undefined)[], inputs: Tensor[], shape: number[], outShape: number[]): Tensor {
  if (!has(KERNELS.elementwise)) return tf.reshape(tf.mean(tf.broadcastTo(evaluate(expr, inputs), shape)), outShape);
  const mean = (ins: Tensor[]) => tf.tidy(() => tf.reshape(tf.mean(elementwise(expr, ins, shape)), outShape));
  const wanted = inputs.flatMap((_, i) => (grads[i] ? [i] : []));
  // off a tape (no gradient recorded) a custom gradient would only keep what it saves
  if (!wanted.length || !recording()) return mean(inputs);
  const n = shape.reduce((a, b) => a * b, 1);
  const f = tf.customGrad(((...args: unknown[]) => {
    const save = args.pop() as (ts: Tensor[]) => void;
    const ins = inputs.slice();
    wanted.forEach((i, j) => (ins[i] = args[j] as Tensor));
    const byRef = keepForBackward(ins);
    if (!byRef) save(ins);
    return {
      value: mean(ins),
      gradFunc: (dy: Tensor, saved: Tensor[]) => {
        const xs = byRef ? ins : saved;
        // tfjs's mean gradient: dy (as [1, …]) times ones, divided by the element count; the division (the same f32
        // one) inside each gradient's kernel rather than a kernel call of its own
        const up = xs.length;
        return wanted.map((i) => {
          const d = elementwise(meanGrad(grads[i]!, up, n), [...xs, dy], shape);
          const axes = tf.backend_util.getReductionAxes(xs[i]!.shape, shape);
          return axes.length ? tf.reshape(tf.sum(d, axes), xs[i]!.shape) : d;
        });
      },
    };
  }) as never) as unknown as (...xs: Tensor[]) => Tensor;
  return f(...wanted.map((i) => inputs[i]!));
}

/** a mean's input gradient `g` with its upstream gradient (input `up`, fixed by the expression `g` was made for) read
 * as up/n: made once per expression and n, so that elementwise finds its compiled kernel by the expression object */
const meanGrads = new WeakMap<Expr, Map<number, Expr>>();
function meanGrad(g: Expr, up: number, n: number): Expr {
  let byN = meanGrads.get(g);
  if (!byN) meanGrads.set(g, (byN = new Map()));
  let e = byN.get(n);
  if (!e) byN.set(n, (e = withInput(g, up, call('div', input(up), constant(n)))));
  return e;
}

/** the same expression as a chain of tfjs ops: the fallback, and the reference the tests compare with */
export function evaluate(e: Expr, xs: Tensor[]): Tensor {
  if (e.k === 'in') return xs[e.i]!;
  if (e.k === 'c') return tf.scalar(e.v);
  const [a, b] = e.a.map((x) => evaluate(x, xs)) as [Tensor, Tensor];
  return (TF_OPS[e.f] ?? (tf[e.f as keyof typeof tf] as (x: Tensor) => Tensor))(a, b);
}

/** Σ‖g_i‖² as a scalar tensor */
export function sumSquares(gs: Tensor[]): Tensor {
  if (has(KERNELS.sumSquares)) return run(KERNELS.sumSquares, gs)[0]!;
  return tf.addN(gs.map((g) => tf.sum(tf.square(g))));
}

/** one Adam step of n parameters: returns [p'_0..p'_{n−1}, m'_0.., v'_0..] */
export function adamStep(p: Tensor[], g: Tensor[], m: Tensor[], v: Tensor[], a: Omit<AdamAttrs, 'count'>): Tensor[] {
  const count = p.length;
  if (has(KERNELS.adam)) return run(KERNELS.adam, [...p, ...g, ...m, ...v], { ...a, count });
  const c1 = 1 - a.beta1 ** a.step;
  const c2 = 1 - a.beta2 ** a.step;
  const ms = m.map((mi, i) => tf.add(tf.mul(mi, a.beta1), tf.mul(g[i]!, 1 - a.beta1)));
  const vs = v.map((vi, i) => tf.add(tf.mul(vi, a.beta2), tf.mul(tf.square(g[i]!), 1 - a.beta2)));
  const ps = p.map((pi, i) => tf.sub(pi, tf.div(tf.mul(ms[i]!, a.lr / c1), tf.add(tf.sqrt(tf.div(vs[i]!, c2)), a.eps))));
  return [...ps, ...ms, ...vs];
}

/** the next guard [ok, lr/(1 − β₁ᵗ), 1 − β₂ᵗ, t] of an update from its [loss, Σ‖g‖², …] and the previous guard */
export function updateGuard(stats: Tensor, prev: Tensor, a: GuardAttrs): Tensor {
  if (has(KERNELS.updateGuard)) return run(KERNELS.updateGuard, [stats, prev], { ...a })[0]!;
  const [loss, sumSq] = [tf.slice(stats, [0], [1]), tf.slice(stats, [1], [1])];
  const ok = tf.cast(tf.logicalAnd(tf.isFinite(loss), tf.isFinite(sumSq)), 'float32');
  const t = tf.add(tf.slice(prev, [3], [1]), ok);
  const some = tf.greater(t, 0);
  const k = tf.where(some, tf.div(a.lr, tf.sub(1, tf.pow(a.beta1, t))), tf.zerosLike(t));
  const c2 = tf.where(some, tf.sub(1, tf.pow(a.beta2, t)), tf.onesLike(t));
  return tf.concat([ok, k, c2, t]);
}

/** `adamStep` gated by a guard (updateGuard): where it says skip, p, m and v come out unchanged */
export function adamStepGuarded(p: Tensor[], g: Tensor[], m: Tensor[], v: Tensor[], guard: Tensor, a: Omit<AdamGuardedAttrs, 'count'>): Tensor[] {
  const count = p.length;
  if (has(KERNELS.adamGuarded)) return run(KERNELS.adamGuarded, [...p, ...g, ...m, ...v, guard], { ...a, count });
  const [ok, k, c2] = [0, 1, 2].map((i) => tf.slice(guard, [i], [1]));
  const ms = m.map((mi, i) => tf.add(tf.mul(mi, a.beta1), tf.mul(g[i]!, 1 - a.beta1)));
  const vs = v.map((vi, i) => tf.add(tf.mul(vi, a.beta2), tf.mul(tf.square(g[i]!), 1 - a.beta2)));
  const ps = p.map((pi, i) => tf.sub(pi, tf.div(tf.mul(ms[i]!, k!), tf.add(tf.sqrt(tf.div(vs[i]!, c2!)), a.eps))));
  return keepUnless(ok!, [...ps, ...ms, ...vs], [...p, ...m, ...v]);
}

/** each `fresh[i]` where the guard's ok (a [1] tensor, 1 or 0) is set, else `old[i]` */
export function keepUnless(ok: Tensor, fresh: Tensor[], old: Tensor[]): Tensor[] {
  const yes = tf.greater(ok, 0.5);
  return fresh.map((f, i) => tf.where(f.rank ? tf.broadcastTo(yes, f.shape) : tf.reshape(yes, []), f, old[i]!));
}

/** one EMA step of n tensors: decay·e_i + (1 − decay)·w_i, both products rounded to float32 before the sum (the
 * exported package computes it in this order too) */
export function emaStep(e: Tensor[], w: Tensor[], decay: number, guard?: Tensor): Tensor[] {
  const fresh = e.map((ei, i) => tf.add(tf.mul(ei, decay), tf.mul(w[i]!, 1 - decay)));
  return guard ? keepUnless(tf.slice(guard, [0], [1]), fresh, e) : fresh;
}

/** Tensors a custom gradient reads, kept for one backward pass. tfjs's `save` clones what it keeps (on wasm a clone
 * shares the buffer since gpu/kernels/shared-identity.ts, but is still a kernel call and a tracked tensor); inside
 * `backwardScope` a dense layer keeps its intermediates by reference instead. */
let scope: Tensor[] | undefined;

/** keep `ts` until the enclosing backwardScope ends (gradient tapes release their forward intermediates before the
 * backward pass); false (nothing kept) outside one. Variables live on by themselves and are never taken. */
export function keepForBackward(ts: Tensor[]): boolean {
  if (!scope) return false;
  for (const t of ts) if (!(t instanceof tf.Variable)) scope.push(tf.keep(t));
  return true;
}

/** run `f` (a gradient computation) and release what its custom gradients kept */
export function backwardScope<T>(f: () => T): T {
  const outer = scope;
  const mine: Tensor[] = [];
  scope = mine;
  try {
    return f();
  } finally {
    scope = outer;
    tf.dispose(mine);
  }
}

/** whether tfjs records ops for a gradient now (inside tf.grads, variableGrads, …) */
const recording = () => (tf.engine() as unknown as { state: { gradientDepth: number } }).state.gradientDepth > 0;

/** Run `f` with the gradient tape paused: tfjs records no op of it (no tape node, no clone of what a gradient would
 * read), as inside a kernel. For computations whose result no gradient passes (inputs detached): recording them
 * cost a kernel call per saved input and a tape node per op, for a backward pass that skips them. tfjs has no API for
 * this: the engine records while its gradientDepth > 0. */
export function untaped<T>(f: () => T): T {
  const state = (tf.engine() as unknown as { state: { gradientDepth: number; activeTape: unknown } }).state;
  const [depth, tape] = [state.gradientDepth, state.activeTape];
  state.gradientDepth = 0;
  try {
    return f();
  } finally {
    // a gradient taken inside f starts (and at its end drops) a tape of its own: the outer one comes back too
    state.gradientDepth = depth;
    state.activeTape = tape;
  }
}

/** whether `gemm` runs distillery's own product (wasm): then its transposed layouts cost nothing extra */
export const ownGemm = (): boolean => tf.getBackend() === 'wasm' && has(KERNELS.matMul);

/** C = op(a)·op(b) (+ bias) of 2-D tensors: DistilleryMatMul where registered, else tfjs's (fused) matMul */
export function gemm(a: Tensor, b: Tensor, o: { transposeA?: boolean; transposeB?: boolean; bias?: Tensor } = {}): Tensor {
  const attrs = { transposeA: o.transposeA ?? false, transposeB: o.transposeB ?? false };
  if (has(KERNELS.matMul)) return run(KERNELS.matMul, o.bias ? [a, b, o.bias] : [a, b], attrs)[0]!;
  return tf.fused.matMul({ a: a as T2, b: b as T2, bias: o.bias, ...attrs });
}

/** a dense layer's forward pass with SiLU: [a, y, s] = [x·w + bias, a·σ(a), σ(a)], one kernel where registered
 * (DistilleryMatMulSilu: the SiLU as the product's epilogue on wasm); undefined elsewhere */
export function gemmSilu(x: Tensor, w: Tensor, bias: Tensor): [Tensor, Tensor, Tensor] | undefined {
  if (!has(KERNELS.matMulSilu)) return undefined;
  return run(KERNELS.matMulSilu, [x, w, bias], { transposeA: false, transposeB: false }) as [Tensor, Tensor, Tensor];
}

/** y = SiLU(x·w + bias) of a dense layer whose backward pass never runs, one kernel that writes y alone where
 * registered and n % 4 = 0 (DistilleryMatMulSiluOut, wasm); undefined elsewhere */
export function gemmSiluOut(x: Tensor, w: Tensor, bias: Tensor): Tensor | undefined {
  if (!has(KERNELS.matMulSiluOut) || w.shape[1]! % 4 !== 0) return undefined;
  return run(KERNELS.matMulSiluOut, [x, w, bias], { transposeA: false, transposeB: false })[0]!;
}

/** plain-layout product a·b (the forward layout every backend is fastest in) */
export const matMul = (a: Tensor, b: Tensor): Tensor => tf.matMul(a as T2, b as T2);
