/** Every fused kernel against the chain of tfjs ops it replaces, on random inputs: on cpu, on wasm as WebAssembly SIMD,
 * and on wasm as host loops; and the fused dense layers' gradients against central finite differences on cpu and on
 * wasm (where the products are distillery's own, reading Aᵀ and Bᵀ in place). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { loadBackend } from '../../gpu/backend.ts';
import { registerHostKernels } from '../../gpu/kernels/host.ts';
import { linalg } from '../../gpu/linalg.ts';
import { fourier, siluForward } from '../../gpu/fused.ts';
import { Rng } from '../../ops/rng.ts';
import { finiteDiff } from '../helpers.ts';
import { checkKernelCases } from './cases.ts';

test('fused kernels equal the tfjs ops they replace: cpu', async () => {
  await loadBackend('cpu');
  assert.ok((await checkKernelCases('cpu', 'cpu')) >= 20);
});

test('fused kernels equal the tfjs ops they replace: wasm (SIMD) and wasm (host loops)', async () => {
  await loadBackend('wasm');
  assert.ok(tf.getKernel('DistilleryAdam', 'wasm'), 'the kernels are registered');
  assert.ok((await checkKernelCases('wasm', 'wasm-simd')) >= 20);
  await registerHostKernels('wasm', { simd: false });
  try {
    assert.ok((await checkKernelCases('wasm', 'wasm-host')) >= 20);
  } finally {
    await registerHostKernels('wasm');
  }
});

test("the fused SiLU forward on wasm is tfjs-wasm's Sigmoid then Multiply to the bit, SIMD and host loops, edge values included", async () => {
  await loadBackend('wasm');
  const rng = new Rng(['silu-bits']);
  const edges = [0, -0, 1e-30, -1e-30, 1e-40, -1e-40, 87.33654, -87.33654, 87.4, -87.4, 88.8, -88.8, 104, -104, 3e38, -3e38, Infinity, -Infinity, NaN, 0.5, -0.5, 15, -15, 17, -17];
  // 4099 elements: SIMD over 4096, the host loop over the last 3; every element through the host loop with simd: false
  const x = Float32Array.from([...edges, ...rng.normals(4099 - 2 * edges.length).map((v) => 12 * v), ...edges.reverse()]);
  const bits = (a: ArrayLike<number>) => new Uint32Array(Float32Array.from(a).buffer);
  const same = (got: ArrayLike<number>, want: ArrayLike<number>, what: string) => {
    const [g, w] = [bits(got), bits(want)];
    for (let i = 0; i < w.length; i++) {
      // NaN payloads are the engine's to choose
      if (Number.isNaN(want[i]!) && Number.isNaN(got[i]!)) continue;
      assert.equal(g[i], w[i], `${what} [${i}] x = ${x[i]}: ${got[i]} vs ${want[i]}`);
    }
  };
  for (const simd of [true, false]) {
    await registerHostKernels('wasm', { simd });
    try {
      tf.tidy(() => {
        const a = tf.tensor(x);
        const [y, s] = siluForward(a);
        const want = tf.sigmoid(a);
        same(s.dataSync(), want.dataSync(), `σ (${simd ? 'SIMD' : 'host'})`);
        same(y.dataSync(), tf.mul(a, want).dataSync(), `a·σ (${simd ? 'SIMD' : 'host'})`);
      });
    } finally {
      await registerHostKernels('wasm');
    }
  }
});

for (const backend of ['cpu', 'wasm'] as const)
test(`dense layers: every gradient variant against central finite differences (${backend}${backend === 'wasm' ? ": distillery's matrix products" : ''})`, async () => {
  await loadBackend(backend);
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

test('the Fourier kernel differentiates in t: its gradient against central finite differences (cpu)', async () => {
  await loadBackend('cpu');
  const rng = new Rng(['fourier-fd']);
  const t0 = rng.uniforms(6);
  const probe = tf.tensor(rng.normals(6 * 10), [6, 10]);
  const f = (t: tf.Tensor) => tf.sum(tf.mul(fourier(t, 5, 2 * Math.PI), probe));
  const got = tf.grad(f)(tf.tensor(t0, [6, 1])).dataSync();
  const want = finiteDiff(tf, f, t0, [6, 1], 1e-3);
  for (let i = 0; i < 6; i++) assert.ok(Math.abs(got[i]! - want[i]!) < 2e-2 * Math.max(1, Math.abs(want[i]!)), `dt[${i}]: ${got[i]} vs ${want[i]}`);
});
