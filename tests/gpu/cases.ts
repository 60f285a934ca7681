/** The fused kernels' test cases: random host inputs, the fused call, and the chain of tfjs ops it replaces. Outputs
 * are read asynchronously, so the same cases run on backends without synchronous reads (webgpu in Node). */
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { adamStep, columnSum, fourier, siluGradBias, sumSquares, transpose2d } from '../../gpu/fused.ts';
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
    cases.push({ what: `columnSum ${shape}`, inputs: [host(shape)], fused: ([x]) => [columnSum(x!)], reference: ([x]) => [tf.sum(x!, 0)], rtol: 1e-5 });
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
      for (let i = 0; i < w.data.length; i++)
        assert.ok(Math.abs(g.data[i]! - w.data[i]!) <= c.rtol * scale, `${backend} ${c.what} output ${k} [${i}]: ${g.data[i]} vs ${w.data[i]} (scale ${scale})`);
      compared++;
    });
  }
  return compared;
}
