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
import type * as tfns from '@tensorflow/tfjs';
import type { HostTensor } from '../../ops/models/model.ts';

const noLoad = () => {
  throw new Error('no weights to load');
};

type Weights = Map<string, Record<string, HostTensor>>;
interface Contestant {
  fakeStep(): number;
  generatorStep(): number;
  dispose(): void;
}

/** 3 iterations (18 updates) of the compiled pipeline beside `make`'s contestant, given the compiled run's initial
 * weights and, one by one, the draws it made; every loss within 1e-4 relative. Returns the worst difference. */
async function agree(D: number, seed: number, name: string, make: (tf: typeof tfns, w: Weights, draw: (what: string, shape: [number, number]) => Float32Array) => Contestant): Promise<number> {
  const draws: Float32Array[] = [];
  const ir = buildIR(dmdStep, { dim: D });
  const exe = await openExecutor(ir, seed, 'wasm', { onDraw: (_n, v) => draws.push(Float32Array.from(v.dataSync())) });
  let next = 0;
  const theirs = make(exe.backend.tf, initialWeights(ir, seed, noLoad), (what, shape) => {
    const d = draws[next++];
    assert.ok(d && d.length === shape[0] * shape[1], `draw ${next} (${what}) has ${d?.length} values, ${name} wants [${shape}]`);
    return d;
  });
  let worst = 0;
  try {
    const fake = exe.plan.updates.find((u) => u.role === 'fake')!;
    const student = exe.plan.updates.find((u) => u.role === 'student')!;
    for (let it = 0; it < 3; it++)
      for (const [u, step] of [...Array(5).fill([fake, theirs.fakeStep]), [student, theirs.generatorStep]] as [typeof fake, () => number][]) {
        const compiled = exe.update(u).loss;
        const other = step();
        const rel = Math.abs(compiled - other) / Math.abs(other);
        if (process.env.SHOW) console.log(it, u.role, compiled, other, rel);
        worst = Math.max(worst, rel);
        assert.ok(rel < 1e-4, `iteration ${it + 1}, ${u.role} update: compiled ${compiled} vs ${name} ${other} (relative ${rel.toExponential(2)})`);
      }
    assert.equal(next, draws.length, `${name} consumed every draw`);
    assert.equal(draws.length, 3 * 6 * 3);
  } finally {
    theirs.dispose();
    exe.dispose();
  }
  console.log(`D=${D}: worst relative loss difference (${name}) over 18 updates ${worst.toExponential(2)}`);
  return worst;
}

const nets = (w: Weights) => ({ student: w.get('student')!, teacher: w.get('teacher')!, fake: w.get('fake')! });

for (const D of [2, 64])
  test(`dmd-step D=${D}: compiled and hand-written eager losses agree for 3 iterations (18 updates), same weights and draws`, async () => {
    await agree(D, 11, 'eager tfjs', (tf, w, draw) => eagerDmdStep(tf, { D, weights: nets(w), draw: (what, shape) => tf.tensor(draw(what, shape), shape) }));
  });

// the jax-js contestant (an optional devDependency) against the compiled pipeline, the same way
const jax = await loadJaxJs();
for (const D of [2, 64])
  test(`dmd-step D=${D}: jax-js and compiled losses agree for 3 iterations (18 updates), same weights and draws`, { skip: typeof jax === 'string' ? jax : false }, async () => {
    if (typeof jax === 'string') return;
    await agree(D, 12, 'jax-js', (_tf, w, draw) => jaxDmdStep(jax, { D, weights: nets(w), draw }));
  });
