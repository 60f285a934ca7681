/** The benchmark's contestants compute the same thing: with the same initial weights and the same draws, the
 * compiled pipeline (fused kernels, wasm), the hand-written tfjs eager code and the jax-js version give the same
 * losses, update by update. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildIR } from '../../dsl/pipeline.ts';
import { openExecutor } from '../../runtime/open.ts';
import { initialWeights } from '../../runtime/init.ts';
import { dmdStep } from '../../bench/dmd-step/workload.ts';
import { eagerDmdStep } from '../../bench/dmd-step/eager.ts';
import { jaxDmdStep } from '../../bench/dmd-step/jaxjs.ts';
import { loadJaxJs } from '../../bench/dmd-step/gemm.ts';

const noLoad = () => {
  throw new Error('no weights to load');
};

for (const D of [2, 64])
  test(`dmd-step D=${D}: compiled and hand-written eager losses agree for 3 iterations (18 updates), same weights and draws`, async () => {
    const ir = buildIR(dmdStep, { dim: D });
    const seed = 11;
    const draws: Float32Array[] = [];
    const exe = await openExecutor(ir, seed, 'wasm', { onDraw: (_n, v) => draws.push(Float32Array.from(v.dataSync())) });
    const { tf } = exe.backend;
    const w = initialWeights(ir, seed, noLoad);
    let next = 0;
    const eager = eagerDmdStep(tf, {
      D,
      weights: { student: w.get('student')!, teacher: w.get('teacher')!, fake: w.get('fake')! },
      draw: (what, shape) => {
        const d = draws[next++];
        assert.ok(d && d.length === shape[0] * shape[1], `draw ${next} (${what}) has ${d?.length} values, the eager step wants [${shape}]`);
        return tf.tensor(d, shape);
      },
    });
    const fake = exe.plan.updates.find((u) => u.role === 'fake')!;
    const student = exe.plan.updates.find((u) => u.role === 'student')!;
    let worst = 0;
    for (let it = 0; it < 3; it++)
      for (const [u, step] of [...Array(5).fill([fake, eager.fakeStep]), [student, eager.generatorStep]] as [typeof fake, () => number][]) {
        const compiled = exe.update(u).loss;
        const hand = step();
        const rel = Math.abs(compiled - hand) / Math.abs(hand);
        if (process.env.SHOW) console.log(it, u.role, compiled, hand, rel);
        worst = Math.max(worst, rel);
        assert.ok(rel < 1e-4, `iteration ${it + 1}, ${u.role} update: compiled ${compiled} vs eager ${hand} (relative ${rel.toExponential(2)})`);
      }
    assert.equal(next, draws.length, 'the eager code consumed every draw');
    assert.equal(draws.length, 3 * 6 * 3);
    console.log(`D=${D}: worst relative loss difference over 18 updates ${worst.toExponential(2)}`);
    eager.dispose();
    exe.dispose();
  });

// the jax-js contestant (an optional devDependency) against the compiled pipeline, the same way
const jax = await loadJaxJs();
for (const D of [2, 64])
  test(`dmd-step D=${D}: jax-js and compiled losses agree for 3 iterations (18 updates), same weights and draws`, { skip: typeof jax === 'string' ? jax : false }, async () => {
    if (typeof jax === 'string') return;
    const ir = buildIR(dmdStep, { dim: D });
    const seed = 12;
    const draws: Float32Array[] = [];
    const exe = await openExecutor(ir, seed, 'wasm', { onDraw: (_n, v) => draws.push(Float32Array.from(v.dataSync())) });
    const w = initialWeights(ir, seed, noLoad);
    let next = 0;
    const js = jaxDmdStep(jax, {
      D,
      weights: { student: w.get('student')!, teacher: w.get('teacher')!, fake: w.get('fake')! },
      draw: (what, shape) => {
        const d = draws[next++];
        assert.ok(d && d.length === shape[0] * shape[1], `draw ${next} (${what}) has ${d?.length} values, jax-js wants [${shape}]`);
        return d;
      },
    });
    const fake = exe.plan.updates.find((u) => u.role === 'fake')!;
    const student = exe.plan.updates.find((u) => u.role === 'student')!;
    let worst = 0;
    try {
    for (let it = 0; it < 3; it++)
      for (const [u, step] of [...Array(5).fill([fake, js.fakeStep]), [student, js.generatorStep]] as [typeof fake, () => number][]) {
        const compiled = exe.update(u).loss;
        const theirs = step();
        const rel = Math.abs(compiled - theirs) / Math.abs(theirs);
        if (process.env.SHOW) console.log(it, u.role, compiled, theirs, rel);
        worst = Math.max(worst, rel);
        assert.ok(rel < 1e-4, `iteration ${it + 1}, ${u.role} update: compiled ${compiled} vs jax-js ${theirs} (relative ${rel.toExponential(2)})`);
      }
    assert.equal(next, draws.length, 'jax-js consumed every draw');
    console.log(`D=${D}: worst relative loss difference (jax-js) over 18 updates ${worst.toExponential(2)}`);
    } finally {
    js.dispose();
    exe.dispose();
    }
  });
