/** A mean over an elementwise chain on the gradient tape (a loss ‖a − b‖²) runs as one fused step whose gradient is
 * generated from the ops' rules (ops/scalar-grad.ts): the same bits as tfjs's own chain and gradients, for every rule
 * and broadcast, on wasm and cpu; chains it cannot match to the bit are left to the tape; and training with it
 * gives bit-identical weights. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '@tensorflow/tfjs';
import { loadBackend } from '../../gpu/backend.ts';
import { evaluate, meanOfElementwise } from '../../gpu/fused.ts';
import { call, constant, input, type Expr } from '../../ops/scalar.ts';
import { inputGradients } from '../../ops/scalar-grad.ts';
import { Rng } from '../../ops/rng.ts';
import { buildIR } from '../../dsl/pipeline.ts';
import { compile } from '../../dsl/compile/index.ts';
import type { Plan, PlanStep } from '../../dsl/compile/plan.ts';
import { Executor } from '../../runtime/executor.ts';
import { initialWeights } from '../../runtime/init.ts';
import { PIPELINES } from '../../pipelines/index.ts';

const [x0, x1, x2] = [input(0), input(1), input(2)];
const SHAPE = [37, 6];
// [name, expression, input shapes]: every rule, inputs read full, by row ([37, 1]), by column ([6]) and as scalars
const CASES: [string, Expr, number[][]][] = [
  ['(a − b)²', call('square', call('sub', x0, x1)), [SHAPE, SHAPE]],
  ['(a − b)², b by row', call('square', call('sub', x0, x1)), [SHAPE, [37, 1]]],
  ['(a − b)², a by column', call('square', call('sub', x0, x1)), [[6], SHAPE]],
  ['(a + b)·c, c scalar', call('mul', call('add', x0, x1), x2), [SHAPE, SHAPE, []]],
  ['(a·b)·0.5 − c, b by row', call('sub', call('mul', call('mul', x0, x1), constant(0.5)), x2), [SHAPE, [37, 1], SHAPE]],
  ['−a / b', call('div', call('neg', x0), x1), [SHAPE, SHAPE]],
  ['(a / b)², a by column', call('square', call('div', x0, x1)), [[1, 6], SHAPE]],
];

const bits = (t: tf.Tensor) => Array.from(new Uint32Array(new Float32Array(t.dataSync()).buffer));

for (const backend of ['wasm', 'cpu'])
  test(`on ${backend}, the fused mean and its generated gradients equal tfjs's chain and its gradients to the bit`, async () => {
    await loadBackend(backend);
    for (const [name, e, shapes] of CASES) {
      const rng = new Rng(['fused-mean', name]);
      // divisors kept away from 0
      const xs = shapes.map((s, i) => tf.tensor(rng.normals(s.reduce((a, b) => a * b, 1)).map((v) => (i === 1 && name.includes('/') ? 2 + Math.abs(v) : v)), s));
      const grads = inputGradients(e, xs.length, shapes.map((s) => s.length !== 2 || s[0] !== SHAPE[0] || s[1] !== SHAPE[1]))!;
      assert.ok(grads, `${name}: differentiable`);
      const before = tf.memory().numTensors;
      const fused = tf.grads((...ins: tf.Tensor[]) => meanOfElementwise(e, grads, ins, SHAPE, []))(xs);
      const fusedValue = meanOfElementwise(e, grads, xs, SHAPE, []);
      const chain = tf.grads((...ins: tf.Tensor[]) => tf.mean(tf.broadcastTo(evaluate(e, ins), SHAPE)))(xs);
      const chainValue = tf.tidy(() => tf.mean(tf.broadcastTo(evaluate(e, xs), SHAPE)));
      assert.deepEqual(bits(fusedValue), bits(chainValue), `${name}: the mean`);
      fused.forEach((g, i) => {
        assert.deepEqual(g.shape, xs[i]!.shape, `${name}: d/dx${i} has x${i}'s shape`);
        assert.deepEqual(bits(g), bits(chain[i]!), `${name}: d/dx${i}`);
      });
      tf.dispose([...fused, ...chain, fusedValue, chainValue]);
      assert.equal(tf.memory().numTensors, before, `${name}: nothing left behind`);
      tf.dispose(xs);
    }
  });

test('chains that cannot be differentiated to the bit are refused (left to the tape)', () => {
  assert.equal(inputGradients(call('mul', x0, x0), 1, [false]), undefined, 'an input read twice');
  assert.equal(inputGradients(call('exp', x0), 1, [false]), undefined, 'a function without a rule');
  assert.equal(inputGradients(call('div', x0, x1), 2, [false, true]), undefined, 'a broadcast divisor');
  assert.ok(inputGradients(call('div', x0, x1), 2, [true, false]), 'a broadcast dividend is fine');
});

/** the plan with every fused mean on a tape put back as its ops, one step each */
function unfuseTapes(plan: Plan): Plan {
  const unfuse = (steps: PlanStep[]) => steps.flatMap((s): PlanStep[] => (s.kind === 'fusedMean' ? s.members.map((node) => ({ kind: 'run', node })) : [s]));
  return { ...plan, updates: plan.updates.map((u) => ({ ...u, tape: unfuse(u.tape) })) };
}

test('dmd2-ring trains to bit-identical weights with its losses fused on the tape and as tfjs ops (wasm)', async () => {
  const ir = buildIR(PIPELINES['dmd2-ring']!, { batch: 64 });
  const plan = compile(ir);
  const fusedMeans = plan.updates.map((u) => u.tape.filter((s) => s.kind === 'fusedMean').length);
  assert.ok(
    fusedMeans.every((n) => n >= 1),
    `every update's loss is a fused mean on its tape (${fusedMeans.join(', ')})`,
  );
  const weights: Float32Array[][] = [];
  for (const p of [plan, unfuseTapes(plan)]) {
    const exe = new Executor(await loadBackend('wasm'), p, 3, initialWeights(p.ir, 3, () => undefined as never));
    for (let i = 0; i < 3; i++) for (const u of exe.plan.updates) for (let r = 0; r < u.ratio; r++) exe.update(u);
    weights.push(['student', 'fake'].flatMap((role) => Object.values(exe.hostWeights(role)).map((h) => Float32Array.from(h.data))));
    exe.dispose();
  }
  weights[0]!.forEach((w, i) => assert.deepEqual(new Uint32Array(w.buffer), new Uint32Array(weights[1]![i]!.buffer), `weight tensor ${i}`));
});
