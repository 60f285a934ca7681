/** The fused kernels' test cases: random host inputs, the fused call, and the chain of tfjs ops it replaces. Outputs
 * are read asynchronously, so the same cases run on backends without synchronous reads (webgpu in Node). */
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { adamStep, adamStepGuarded, columnSum, elementwise, evaluate, fourier, gemm, siluForward, siluGradBias, sumSquares, transpose2d, updateGuard } from '../../gpu/fused.ts';
import { call, constant, input, type ScalarFn } from '../../ops/scalar.ts';
import { Rng } from '../../ops/rng.ts';

interface HostIn {
  data: Float32Array;
  shape: number[];
}
export interface KernelCase {
  what: string;
  inputs: HostIn[];
  fused(xs: tf.Tensor[]): tf.Tensor[];
  reference(xs: tf.Tensor[]): tf.Tensor[];
  rtol: number;
  /** on webgpu, where WGSL's builtins promise less (sin/cos to 2⁻¹¹ absolute, exp/log to a few ulp) */
  rtolGpu?: number;
}

const HYPER = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, step: 3 };

export function kernelCases(seed: string): KernelCase[] {
  const rng = new Rng(['kernel-cases', seed]);
  const host = (shape: number[], f: (v: number) => number = (v) => v): HostIn => ({ data: rng.normals(shape.reduce((a, b) => a * b, 1)).map(f), shape });
  const cases: KernelCase[] = [];
  // multiples of 4 take the SIMD path on wasm, the others its host loops
  for (const shape of [[256, 256], [7, 6], [3, 8], [5, 2]]) {
    const a = host(shape, (v) => 3 * v);
    const s = { data: a.data.map((v) => 1 / (1 + Math.exp(-v))), shape };
    cases.push({
      what: `siluGradBias ${shape}`,
      inputs: [host(shape), a, s],
      fused: ([dy, x, sg]) => siluGradBias(dy!, x!, sg!),
      reference: ([dy, x, sg]) => {
        const da = tf.mul(dy!, tf.mul(sg!, tf.add(1, tf.mul(x!, tf.sub(1, sg!)))));
        return [da, tf.sum(da, 0)];
      },
      rtol: 1e-5,
    });
    // the reference is cpu's σ; on wasm the kernel is tfjs-wasm's σ to the bit (kernels.test.ts), a few ulp from cpu's
    cases.push({ what: `siluForward ${shape}`, inputs: [a], fused: ([x]) => siluForward(x!), reference: ([x]) => [tf.mul(x!, tf.sigmoid(x!)), tf.sigmoid(x!)], rtol: 1e-6 });
    cases.push({ what: `columnSum ${shape}`, inputs: [host(shape)], fused: ([x]) => [columnSum(x!)], reference: ([x]) => [tf.sum(x!, 0)], rtol: 1e-5 });
  }
  // matrix products in every layout, awkward sizes (remainder rows and columns, k below and above the dot form's
  // threshold) and the dense layers' shapes (m·n·k ≥ 2²¹ runs on the worker pool on wasm)
  for (const [m, n, k] of [[1, 1, 1], [3, 5, 7], [256, 18, 256], [256, 256, 2], [256, 256, 18], [256, 2, 256], [18, 256, 256], [256, 256, 256], [37, 9, 33]])
    for (const [ta, tb] of [[false, false], [false, true], [true, false], [true, true]] as const)
      for (const bias of ta || tb ? [false] : [false, true]) {
        const [sa, sb] = [ta ? [k, m] : [m, k], tb ? [n, k] : [k, n]];
        cases.push({
          what: `matMul ${m}×${n}×${k}${ta ? ' Aᵀ' : ''}${tb ? ' Bᵀ' : ''}${bias ? ' + bias' : ''}`,
          inputs: [host(sa), host(sb), ...(bias ? [host([n])] : [])],
          fused: ([a, b, c]) => [gemm(a!, b!, { transposeA: ta, transposeB: tb, bias: c })],
          reference: ([a, b, c]) => [tf.fused.matMul({ a: a as tf.Tensor2D, b: b as tf.Tensor2D, transposeA: ta, transposeB: tb, bias: c })],
          rtol: 1e-5,
        });
      }
  for (const shape of [[256, 256], [256, 80], [80, 256], [17, 33], [1, 9]])
    cases.push({ what: `transpose ${shape}`, inputs: [host(shape)], fused: ([x]) => [transpose2d(x!)], reference: ([x]) => [tf.transpose(x!)], rtol: 0 });
  for (const [shape, n, base] of [[[37, 1], 8, 2 * Math.PI], [[5, 3, 1], 4, 1]] as const)
    cases.push({
      what: `fourier ${shape} n ${n}`,
      inputs: [{ data: rng.uniforms(shape.reduce((a: number, b: number) => a * b, 1)), shape: [...shape] }], // times in [0, 1)
      fused: ([t]) => [fourier(t!, n, base)],
      reference: ([t]) => {
        const a = tf.mul(t!, tf.mul(tf.range(1, n + 1, 1, 'float32'), base).reshape([...Array(t!.rank - 1).fill(1), n]));
        return [tf.concat([tf.sin(a), tf.cos(a)], t!.rank - 1)];
      },
      rtol: 2e-5,
    });
  // a generated elementwise kernel: every scalar function, on full, row [R,1], column [C] and scalar inputs
  const [x, r, c, k] = [0, 1, 2, 3].map(input) as [ReturnType<typeof input>, ReturnType<typeof input>, ReturnType<typeof input>, ReturnType<typeof input>];
  const positive = call('add', call('abs', x), constant(0.5));
  const unaries: ScalarFn[] = ['neg', 'abs', 'square', 'sqrt', 'exp', 'log', 'sin', 'cos', 'tanh', 'sigmoid'];
  const terms = unaries.map((f) => call(f, f === 'sqrt' || f === 'log' ? positive : call('mul', x, constant(0.5))));
  const mixed = call('nan0', call('div', call('max', call('sub', x, r), call('min', c, k)), call('add', k, constant(2))));
  // the arithmetic alone (exact to float32 rounding on every backend), and with every transcendental function
  const arithmetic = call('add', mixed, call('mul', call('square', call('neg', r)), call('abs', c)));
  const all = [...terms, mixed].reduce((a, b) => call('add', a, b));
  for (const [what, expr, rtolGpu] of [['arithmetic', arithmetic, 1e-6], ['all functions', all, 1e-3]] as const)
    for (const [R, C] of [[37, 6], [256, 64]])
      cases.push({
        what: `elementwise (generated, ${what}) [${R},${C}]`,
        inputs: [host([R, C]), host([R, 1]), host([C]), { data: Float32Array.of(0.75), shape: [] }],
        fused: (xs) => [elementwise(expr, xs, [R, C])],
        reference: (xs) => [tf.broadcastTo(evaluate(expr, xs), [R, C])],
        rtol: 2e-6,
        rtolGpu,
      });
  const nanExpr = call('nan0', call('div', x, r));
  cases.push({
    what: 'elementwise nan_to_num: NaN → 0, ±Inf → ±float32 max',
    inputs: [{ data: Float32Array.of(0, 1, -1, 2), shape: [2, 2] }, { data: Float32Array.of(0, 0), shape: [2, 1] }],
    fused: (xs) => [elementwise(nanExpr, xs, [2, 2])],
    reference: (xs) => [evaluate(nanExpr, xs)],
    rtol: 0,
  });
  const shapes = [[80, 256], [256], [3, 2], [5]];
  cases.push({
    what: 'sumSquares',
    inputs: shapes.map((s) => host(s)),
    fused: (gs) => [sumSquares(gs)],
    reference: (gs) => [tf.addN(gs.map((g) => tf.sum(tf.square(g))))],
    rtol: 1e-5,
  });
  const n = shapes.length;
  cases.push({
    what: 'adam',
    inputs: [...shapes.map((s) => host(s)), ...shapes.map((s) => host(s)), ...shapes.map((s) => host(s, (v) => 0.1 * v)), ...shapes.map((s) => host(s, (v) => Math.abs(0.1 * v)))],
    fused: (xs) => adamStep(xs.slice(0, n), xs.slice(n, 2 * n), xs.slice(2 * n, 3 * n), xs.slice(3 * n), HYPER),
    reference: (xs) => {
      const [p, g, m, v] = [0, 1, 2, 3].map((k) => xs.slice(k * n, (k + 1) * n));
      const ms = m!.map((mi, i) => tf.add(tf.mul(mi, HYPER.beta1), tf.mul(g![i]!, 1 - HYPER.beta1)));
      const vs = v!.map((vi, i) => tf.add(tf.mul(vi, HYPER.beta2), tf.mul(tf.square(g![i]!), 1 - HYPER.beta2)));
      const c1 = 1 - HYPER.beta1 ** HYPER.step;
      const c2 = 1 - HYPER.beta2 ** HYPER.step;
      const ps = p!.map((pi, i) => tf.sub(pi, tf.div(tf.mul(ms[i]!, HYPER.lr / c1), tf.add(tf.sqrt(tf.div(vs[i]!, c2)), HYPER.eps))));
      return [...ps, ...ms, ...vs];
    },
    rtol: 2e-5,
  });
  // the guard of a deferred loop: [ok, lr/(1 − β₁ᵗ), 1 − β₂ᵗ, t] after a previous count of 4 applied updates
  const guardOf = (ok: number, t: number) => Float32Array.of(ok, HYPER.lr / (1 - HYPER.beta1 ** t), 1 - HYPER.beta2 ** t, t);
  for (const [what, stats, ok] of [['finite', [1.5, 2, 7], 1], ['NaN loss', [NaN, 2], 0], ['infinite Σ‖g‖²', [1, Infinity, 3], 0]] as const)
    cases.push({
      what: `updateGuard, ${what}`,
      inputs: [{ data: Float32Array.from(stats), shape: [stats.length] }, { data: guardOf(1, 4), shape: [4] }],
      fused: ([st, prev]) => [updateGuard(st!, prev!, HYPER)],
      reference: () => [tf.tensor1d(guardOf(ok, 4 + ok))],
      rtol: 1e-6,
      rtolGpu: 1e-5,
    });
  const adamInputs = (g: (v: number) => number) => [...shapes.map((s) => host(s)), ...shapes.map((s) => host(s, g)), ...shapes.map((s) => host(s, (v) => 0.1 * v)), ...shapes.map((s) => host(s, (v) => Math.abs(0.1 * v)))];
  cases.push({
    what: 'adamGuarded, applied: equals adam',
    inputs: [...adamInputs((v) => v), { data: guardOf(1, HYPER.step), shape: [4] }],
    fused: (xs) => adamStepGuarded(xs.slice(0, n), xs.slice(n, 2 * n), xs.slice(2 * n, 3 * n), xs.slice(3 * n, 4 * n), xs[4 * n]!, HYPER),
    reference: (xs) => adamStep(xs.slice(0, n), xs.slice(n, 2 * n), xs.slice(2 * n, 3 * n), xs.slice(3 * n, 4 * n), HYPER),
    rtol: 2e-5,
  });
  cases.push({
    what: 'adamGuarded, skipped: p, m, v unchanged even where g is NaN',
    inputs: [...adamInputs(() => NaN), { data: guardOf(0, HYPER.step), shape: [4] }],
    fused: (xs) => adamStepGuarded(xs.slice(0, n), xs.slice(n, 2 * n), xs.slice(2 * n, 3 * n), xs.slice(3 * n, 4 * n), xs[4 * n]!, HYPER),
    reference: (xs) => [...xs.slice(0, n), ...xs.slice(2 * n, 4 * n)].map((x) => tf.clone(x)),
    rtol: 0,
  });
  return cases;
}

/** run `f` on the inputs as tensors of the current backend, read every output to the host */
async function outputs(c: KernelCase, f: (xs: tf.Tensor[]) => tf.Tensor[]): Promise<{ data: Float32Array; shape: number[] }[]> {
  const outs = tf.tidy(() => f(c.inputs.map((x) => tf.tensor(x.data, x.shape))));
  const res = await Promise.all(outs.map(async (t) => ({ data: (await t.data()) as Float32Array, shape: t.shape })));
  tf.dispose(outs);
  return res;
}

/** Every case on `backend` against its reference on cpu; returns the number of outputs compared. */
export async function checkKernelCases(backend: string, seed: string): Promise<number> {
  let compared = 0;
  for (const c of kernelCases(seed)) {
    await tf.setBackend('cpu');
    const want = await outputs(c, c.reference);
    await tf.setBackend(backend);
    const got = await outputs(c, c.fused);
    assert.equal(got.length, want.length, `${backend} ${c.what}: number of outputs`);
    got.forEach((g, k) => {
      const w = want[k]!;
      assert.deepEqual(g.shape, w.shape, `${backend} ${c.what} output ${k}: shape`);
      const scale = Math.max(1e-6, ...Array.from(w.data, Math.abs));
      const rtol = backend === 'webgpu' ? (c.rtolGpu ?? c.rtol) : c.rtol;
      for (let i = 0; i < w.data.length; i++)
        assert.ok(Math.abs(g.data[i]! - w.data[i]!) <= rtol * scale, `${backend} ${c.what} output ${k} [${i}]: ${g.data[i]} vs ${w.data[i]} (scale ${scale})`);
      compared++;
    });
  }
  return compared;
}
