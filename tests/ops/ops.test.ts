import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadBackend } from '../../gpu/backend.ts';
import { TFJS_LOWERINGS as OPS } from '../../gpu/lower/index.ts';
import { Rng } from '../../ops/rng.ts';
import { finiteDiff, maxAbsDiff } from '../helpers.ts';
import type { LowerCtx, Tensor } from '../../gpu/lower/index.ts';

const be = await loadBackend('cpu');
const tf = be.tf;
const ctx = { tf, dims: {}, rng: () => new Rng([0]), model: () => { throw new Error(); }, dataset: () => { throw new Error(); }, detach: (t: Tensor) => be.detach(t) } as LowerCtx;
const sig = (v: number) => 1 / (1 + Math.exp(-v));

// op → closed form on one element; domain keeps every function smooth
const unary: Record<string, [(v: number) => number, number, number]> = {
  neg: [(v) => -v, -2, 2], abs: [Math.abs, 0.2, 2], square: [(v) => v * v, -2, 2], sqrt: [Math.sqrt, 0.3, 3],
  exp: [Math.exp, -2, 2], log: [Math.log, 0.3, 3], sin: [Math.sin, -2, 2], cos: [Math.cos, -2, 2], tanh: [Math.tanh, -2, 2],
  sigmoid: [sig, -3, 3], silu: [(v) => v * sig(v), -3, 3], relu: [(v) => Math.max(v, 0), 0.1, 2], nan_to_num: [(v) => v, -2, 2],
  softplus: [(v) => Math.log1p(Math.exp(v)), -4, 4], log_sigmoid: [(v) => -Math.log1p(Math.exp(-v)), -4, 4],
};
const binary: Record<string, (a: number, b: number) => number> = {
  add: (a, b) => a + b, sub: (a, b) => a - b, mul: (a, b) => a * b, div: (a, b) => a / b, pow: (a, b) => a ** b,
  maximum: Math.max, minimum: Math.min,
};

for (const [k, [f, lo, hi]] of Object.entries(unary)) {
  test(`op ${k}: closed form and gradient vs central differences (cpu)`, () => {
    const x = new Rng([1, k]).uniforms(6, lo, hi);
    const op = OPS[k as keyof typeof OPS];
    const y = tf.tidy(() => op.lower([tf.tensor(x, [2, 3])], {} as never, ctx).dataSync());
    assert.ok(maxAbsDiff(y, Array.from(x, f)) < 1e-5, `${k} values`);
    const w = tf.tensor(new Rng([2, k]).uniforms(6, 0.5, 1.5), [2, 3]);
    const loss = (t: Tensor) => tf.sum(tf.mul(op.lower([t], {} as never, ctx), w));
    const g = tf.tidy(() => tf.grad(loss)(tf.tensor(x, [2, 3])).dataSync());
    const fd = finiteDiff(tf, loss, x, [2, 3], 1e-3);
    assert.ok(maxAbsDiff(g, fd) < 2e-2 * Math.max(1, ...Array.from(fd, Math.abs)), `${k} gradient ${g} vs ${fd}`);
  });
}

for (const [k, f] of Object.entries(binary)) {
  test(`op ${k}: closed form, broadcasting and gradient vs central differences (cpu)`, () => {
    const a = new Rng([3, k]).uniforms(6, 0.5, 2);
    const b = new Rng([4, k]).uniforms(3, 0.6, 1.9); // broadcast [3] against [2,3]
    const op = OPS[k as keyof typeof OPS];
    const y = tf.tidy(() => op.lower([tf.tensor(a, [2, 3]), tf.tensor(b, [3])], {} as never, ctx).dataSync());
    assert.ok(maxAbsDiff(y, Array.from(a, (v, i) => f(v, b[i % 3]!))) < 1e-5);
    const loss = (t: Tensor) => tf.sum(op.lower([t, tf.tensor(b, [3])], {} as never, ctx));
    const g = tf.tidy(() => tf.grad(loss)(tf.tensor(a, [2, 3])).dataSync());
    const fd = finiteDiff(tf, loss, a, [2, 3], 1e-3);
    assert.ok(maxAbsDiff(g, fd) < 2e-2, `${k} gradient`);
  });
}

test('reductions: values and gradients', () => {
  const x = new Rng([5]).uniforms(6, -1, 1);
  for (const k of ['sum', 'mean', 'max', 'min'] as const) {
    const y = tf.tidy(() => OPS[k].lower([tf.tensor(x, [2, 3])], { axes: [1], keepDims: false }, ctx).dataSync());
    const rows = [Array.from(x.slice(0, 3)), Array.from(x.slice(3))];
    const want = rows.map((r) => (k === 'sum' ? r.reduce((s, v) => s + v) : k === 'mean' ? r.reduce((s, v) => s + v) / 3 : k === 'max' ? Math.max(...r) : Math.min(...r)));
    assert.ok(maxAbsDiff(y, want) < 1e-6, k);
    const loss = (t: Tensor) => tf.sum(tf.square(OPS[k].lower([t], { axes: [1], keepDims: true }, ctx)));
    const g = tf.tidy(() => tf.grad(loss)(tf.tensor(x, [2, 3])).dataSync());
    assert.ok(maxAbsDiff(g, finiteDiff(tf, loss, x, [2, 3], 1e-3)) < 2e-2, `${k} gradient`);
  }
});

test('matmul: value and the explicit-transpose gradient vs central differences', () => {
  const a = new Rng([6]).uniforms(6, -1, 1);
  const b = new Rng([7]).uniforms(12, -1, 1);
  const bt = tf.tensor(b, [3, 4]);
  const y = tf.tidy(() => OPS.matmul.lower([tf.tensor(a, [2, 3]), bt], {}, ctx).dataSync());
  const want = [0, 1].flatMap((i) => [0, 1, 2, 3].map((j) => [0, 1, 2].reduce((s, k) => s + a[i * 3 + k]! * b[k * 4 + j]!, 0)));
  assert.ok(maxAbsDiff(y, want) < 1e-5);
  const loss = (t: Tensor) => tf.sum(tf.square(OPS.matmul.lower([t, bt], {}, ctx)));
  const g = tf.tidy(() => tf.grad(loss)(tf.tensor(a, [2, 3])).dataSync());
  assert.ok(maxAbsDiff(g, finiteDiff(tf, loss, a, [2, 3], 1e-3)) < 2e-2);
});

test('stop_gradient passes the value and blocks the gradient', () => {
  const x = tf.tensor([1, 2, 3]);
  const g = tf.grad((t: Tensor) => tf.sum(tf.add(tf.square(t), tf.square(OPS.stop_gradient.lower([t], {}, ctx)))))(x);
  assert.deepEqual(Array.from(g.dataSync()), [2, 4, 6]);
});

test('schedules: α and σ match their closed forms', () => {
  const t = tf.tensor([0, 0.25, 0.5, 1]);
  const a = OPS.alpha.lower([t], { schedule: { kind: 'vp' } }, ctx).dataSync();
  assert.ok(maxAbsDiff(a, [0, 0.25, 0.5, 1].map((v) => Math.cos((Math.PI / 2) * v))) < 1e-6);
  const s = OPS.sigma.lower([t], { schedule: { kind: 've', sigmaMin: 0.002, sigmaMax: 80, rho: 7 } }, ctx).dataSync();
  assert.ok(Math.abs(s[0]! - 0.002) < 1e-6 && Math.abs(s[3]! - 80) < 1e-3);
});

test('where from the DSL: c ? a : b broadcast, and its gradient reaches only the branch taken', async () => {
  const { GraphBuilder } = await import('../../dsl/builder.ts');
  const { evalNodes } = await import('../helpers.ts');
  const g = new GraphBuilder('w', { B: 4 });
  const x = g.noise([g.B, 2]);
  const y = g.where(x.gt(0), x.mul(2), 0);
  const ir = g.toIR({ steps: 1, evalEvery: 0 });
  const xs = [-1, 2, 0.5, -0.25, 3, -4, 1, -2];
  const out = tf.tidy(() => evalNodes(be, ir, { [x.id]: tf.tensor(xs, [4, 2]) }, y.id).dataSync());
  assert.deepEqual(Array.from(out), xs.map((v) => (v > 0 ? 2 * v : 0)));
  const grad = tf.grad((t: Tensor) => tf.sum(evalNodes(be, ir, { [x.id]: t }, y.id)))(tf.tensor(xs, [4, 2])).dataSync();
  assert.deepEqual(Array.from(grad), xs.map((v) => (v > 0 ? 2 : 0)));
});

test('softplus and log_sigmoid stay finite and exact at the extremes (±100, ±30), values and gradients', () => {
  const xs = [-100, -30, 30, 100];
  const sp = tf.tidy(() => OPS.softplus.lower([tf.tensor(xs)], {} as never, ctx).dataSync());
  const ls = tf.tidy(() => OPS.log_sigmoid.lower([tf.tensor(xs)], {} as never, ctx).dataSync());
  // softplus(−30) = e^−30 ≈ 9.36e−14 (not 0, which log(1 + e^−30) in float32 would give); softplus(100) = 100, not Inf
  const want = xs.map((v) => (v > 0 ? v + Math.log1p(Math.exp(-v)) : Math.log1p(Math.exp(v))));
  xs.forEach((v, i) => {
    assert.ok(Math.abs(sp[i]! - want[i]!) <= 1e-6 * Math.max(1, Math.abs(want[i]!)) + 1e-30, `softplus(${v}) = ${sp[i]}`);
    assert.ok(Math.abs(sp[i]! - want[i]!) / Math.max(want[i]!, 1e-40) < 1e-3, `softplus(${v}) relative`);
    assert.ok(Math.abs(ls[i]! + (v > 0 ? Math.log1p(Math.exp(-v)) : -v + Math.log1p(Math.exp(v)))) < 1e-5 * Math.max(1, Math.abs(v)), `log_sigmoid(${v}) = ${ls[i]}`);
  });
  // d softplus = σ(x), d log σ = σ(−x): 0 and 1 at the ends, never NaN
  const g = tf.grad((t: Tensor) => tf.sum(OPS.softplus.lower([t], {} as never, ctx)))(tf.tensor(xs)).dataSync();
  const h = tf.grad((t: Tensor) => tf.sum(OPS.log_sigmoid.lower([t], {} as never, ctx)))(tf.tensor(xs)).dataSync();
  assert.deepEqual(Array.from(g, (v) => Math.round(v * 1e6) / 1e6), [0, 0, 1, 1]);
  assert.deepEqual(Array.from(h, (v) => Math.round(v * 1e6) / 1e6), [1, 1, 0, 0]);
});
