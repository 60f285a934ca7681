/** Every fused kernel against the chain of tfjs ops it replaces, on random inputs: on cpu, on wasm as WebAssembly SIMD,
 * and on wasm as host loops; and the fused dense layers' gradients against central finite differences on cpu. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { loadBackend } from '../../gpu/backend.ts';
import { registerHostKernels } from '../../gpu/kernels/host.ts';
import { adamStep, columnSum, siluGradBias, sumSquares, transpose2d } from '../../gpu/fused.ts';
import { linalg } from '../../ops/linalg.ts';
import { Rng } from '../../ops/rng.ts';
import { finiteDiff } from '../helpers.ts';

const rand = (rng: Rng, shape: number[], scale = 1) => tf.tensor(rng.normals(shape.reduce((a, b) => a * b, 1)).map((v) => v * scale), shape);

/** the unfused formulas, as tfjs ops */
const reference = {
  siluGradBias: (dy: tf.Tensor, a: tf.Tensor, s: tf.Tensor) => {
    const da = tf.mul(dy, tf.mul(s, tf.add(1, tf.mul(a, tf.sub(1, s)))));
    return [da, tf.sum(da, 0)];
  },
  adam: (p: tf.Tensor[], g: tf.Tensor[], m: tf.Tensor[], v: tf.Tensor[], h: { lr: number; beta1: number; beta2: number; eps: number; step: number }) => {
    const ms = m.map((mi, i) => tf.add(tf.mul(mi, h.beta1), tf.mul(g[i]!, 1 - h.beta1)));
    const vs = v.map((vi, i) => tf.add(tf.mul(vi, h.beta2), tf.mul(tf.square(g[i]!), 1 - h.beta2)));
    const ps = p.map((pi, i) => tf.sub(pi, tf.div(tf.mul(ms[i]!, h.lr / (1 - h.beta1 ** h.step)), tf.add(tf.sqrt(tf.div(vs[i]!, 1 - h.beta2 ** h.step)), h.eps))));
    return [...ps, ...ms, ...vs];
  },
};

function close(got: tf.Tensor, want: tf.Tensor, what: string, rtol = 1e-5): void {
  assert.deepEqual(got.shape, want.shape, `${what}: shape`);
  const g = got.dataSync();
  const w = want.dataSync();
  const scale = Math.max(1e-6, ...Array.from(w, Math.abs));
  for (let i = 0; i < w.length; i++) assert.ok(Math.abs(g[i]! - w[i]!) <= rtol * scale, `${what}[${i}]: ${g[i]} vs ${w[i]} (scale ${scale})`);
}

async function checkKernels(label: string): Promise<void> {
  const rng = new Rng(['kernels', label]);
  let checked = 0;
  tf.tidy(() => {
    // multiples of 4 take the SIMD path on wasm, the others the host loops
    for (const shape of [[256, 256], [7, 6], [3, 8], [5, 2]]) {
      const dy = rand(rng, shape);
      const a = rand(rng, shape, 3);
      const s = tf.sigmoid(a);
      const [da, db] = siluGradBias(dy, a, s);
      const [rda, rdb] = reference.siluGradBias(dy, a, s);
      close(da, rda!, `${label} siluGradBias da ${shape}`);
      close(db, rdb!, `${label} siluGradBias db ${shape}`);
      close(columnSum(dy), tf.sum(dy, 0), `${label} columnSum ${shape}`);
      close(transpose2d(dy), tf.transpose(dy), `${label} transpose ${shape}`);
      checked += 4;
    }
    for (const shape of [[256, 80], [80, 256], [17, 33], [1, 9]]) {
      const x = rand(rng, shape);
      close(transpose2d(x), tf.transpose(x), `${label} transpose ${shape}`);
      checked++;
    }
    const shapes = [[80, 256], [256], [3, 2], [5]];
    const gs = shapes.map((s) => rand(rng, s));
    close(sumSquares(gs), tf.addN(gs.map((g) => tf.sum(tf.square(g)))), `${label} sumSquares`);
    const ps = shapes.map((s) => rand(rng, s));
    const ms = shapes.map((s) => rand(rng, s, 0.1));
    const vs = shapes.map((s) => tf.abs(rand(rng, s, 0.1)));
    const h = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, step: 3 };
    const got = adamStep(ps, gs, ms, vs, h);
    const want = reference.adam(ps, gs, ms, vs, h);
    got.forEach((t, i) => close(t, want[i]!, `${label} adam output ${i}`, 2e-5));
    checked += 2;
  });
  assert.ok(checked > 0);
}

test('fused kernels equal the tfjs ops they replace: cpu', async () => {
  await loadBackend('cpu');
  await checkKernels('cpu');
});

test('fused kernels equal the tfjs ops they replace: wasm (SIMD) and wasm (host loops)', async () => {
  await loadBackend('wasm');
  assert.ok(tf.getKernel('DistilleryAdam', 'wasm'), 'the kernels are registered');
  await checkKernels('wasm-simd');
  await registerHostKernels('wasm', { simd: false });
  try {
    await checkKernels('wasm-host');
  } finally {
    await registerHostKernels('wasm');
  }
});

test('dense layers: every gradient variant against central finite differences (cpu)', async () => {
  await loadBackend('cpu');
  const { dense } = linalg(tf);
  const rng = new Rng(['dense-fd']);
  const x0 = rng.normals(3 * 4);
  const w0 = rng.normals(4 * 5).map((v) => v * 0.5);
  const b0 = rng.normals(5);
  const probe = tf.tensor(rng.normals(3 * 5), [3, 5]);
  for (const act of ['silu', 'linear'] as const)
    for (const [gw, gx] of [[true, true], [true, false], [false, true]] as const) {
      const f = (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(dense(x, w, b, { act, grad: { weights: gw, input: gx } }), probe));
      const [x, w, b] = [tf.tensor(x0, [3, 4]), tf.tensor(w0, [4, 5]), tf.tensor(b0, [5])];
      const [dx, dw, db] = tf.grads(f)([x, w, b]);
      const fd = (i: number, v: Float32Array, shape: number[]) =>
        finiteDiff(tf, (t) => f(...([x, w, b].map((o, j) => (j === i ? t : o)) as [tf.Tensor, tf.Tensor, tf.Tensor])), v, shape, 1e-2);
      const check = (got: tf.Tensor, want: Float64Array | null, what: string) => {
        const g = got.dataSync();
        for (let i = 0; i < g.length; i++) assert.ok(Math.abs(g[i]! - (want ? want[i]! : 0)) < 2e-3, `${act} ${what}[${i}] (weights ${gw}, input ${gx}): ${g[i]} vs ${want ? want[i] : 0}`);
      };
      check(dx!, gx ? fd(0, x0, [3, 4]) : null, 'dx');
      check(dw!, gw ? fd(1, w0, [4, 5]) : null, 'dW');
      check(db!, gw ? fd(2, b0, [5]) : null, 'db');
    }
});
