/** A decaying learning rate: the factor's closed forms; an update at main step s applies lr·factor(s) bit for bit as
 * an undecayed optimizer with that rate would; warm-ups run at the base rate; verify refuses a bad decay with file:line;
 * the IR and plan text show it (the deferred loop with a decay: tests/runtime/deferred.test.ts). */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildIR, pipeline } from '../../dsl/pipeline.ts';
import { adam } from '../../dsl/builder.ts';
import { mlp, toy } from '../../dsl/models.ts';
import { GraphError } from '../../dsl/errors.ts';
import { compile, printPlan } from '../../dsl/compile/index.ts';
import { printIR } from '../../dsl/ir/print.ts';
import { loadBackend } from '../../gpu/backend.ts';
import { Executor } from '../../runtime/executor.ts';
import { initialWeights } from '../../runtime/init.ts';
import { lrFactor, type LrDecay } from '../../ops/lr-decay.ts';
import { PIPELINES } from '../../pipelines/index.ts';
import type { HostTensor } from '../../ops/models/index.ts';

test('lrFactor: 1 up to start, the cosine or the line down to final at end, final after it', () => {
  const cos: LrDecay = { kind: 'cosine', start: 100, end: 300, final: 0.1 };
  assert.equal(lrFactor(undefined, 250), 1);
  assert.equal(lrFactor(cos, 0), 1);
  assert.equal(lrFactor(cos, 100), 1);
  assert.ok(Math.abs(lrFactor(cos, 200) - 0.55) < 1e-15, 'halfway: (1 + final) / 2');
  assert.ok(Math.abs(lrFactor(cos, 150) - (0.1 + 0.9 * 0.5 * (1 + Math.SQRT1_2))) < 1e-15, 'a quarter: cos(π/4)');
  assert.equal(lrFactor(cos, 300), 0.1);
  assert.equal(lrFactor(cos, 10_000), 0.1);
  const lin: LrDecay = { kind: 'linear', start: 0, end: 4, final: 0 };
  assert.deepEqual([0, 1, 2, 3, 4, 5].map((s) => lrFactor(lin, s)), [1, 0.75, 0.5, 0.25, 0, 0]);
  // strictly falling in between
  const xs = Array.from({ length: 199 }, (_, i) => lrFactor(cos, 101 + i));
  assert.ok(xs.every((x, i) => i === 0 || x < xs[i - 1]!));
});

const small = (decay?: LrDecay, lr = 1e-2) =>
  pipeline('decay-small', { batch: 16, steps: 4, evalEvery: 0 }, (g) => {
    const s = g.trainable('student', mlp({ in: 2, out: 2, hidden: 8 }));
    const x = s(g.noise([g.B, 2]));
    g.minimize(s, x.sub(g.data(toy.ring())).square().mean(), { optimizer: adam(lr, decay ? { decay } : {}) });
    g.evaluate({ samples: x, target: toy.ring() });
  });

async function trainedWeights(ir: ReturnType<typeof buildIR>, steps: number[]): Promise<number[][]> {
  const be = await loadBackend('cpu');
  const plan = compile(ir);
  const exe = new Executor(be, plan, 5, initialWeights(plan.ir, 5, () => ({})));
  try {
    for (const s of steps) exe.update(plan.updates[0]!, s);
    const w: Record<string, HostTensor> = exe.hostWeights('student');
    return Object.keys(w).sort().map((k) => Array.from(w[k]!.data));
  } finally {
    exe.dispose();
  }
}

test('an update at main step s applies lr·factor(s), bit for bit as Adam at that constant rate', async () => {
  const decay: LrDecay = { kind: 'linear', start: 0, end: 4, final: 0 };
  // one update at step 2 (factor 0.5) against an undecayed optimizer at half the rate
  assert.deepEqual(await trainedWeights(buildIR(small(decay)), [2]), await trainedWeights(buildIR(small(undefined, 0.5e-2)), [0]));
  // warm-ups (step 0) run at the base rate
  assert.deepEqual(await trainedWeights(buildIR(small(decay)), [0]), await trainedWeights(buildIR(small()), [0]));
  // the factor changes the result (the comparison can fail)
  assert.notDeepEqual(await trainedWeights(buildIR(small(decay)), [1]), await trainedWeights(buildIR(small()), [1]));
  // past the end (final 0) the weights stand still
  const [a, b] = [await trainedWeights(buildIR(small(decay)), [1]), await trainedWeights(buildIR(small(decay)), [1, 4, 5])];
  assert.deepEqual(a, b);
});

test('verify refuses a decay that ends before it starts or a final factor outside [0, 1], naming file:line', () => {
  for (const bad of [{ kind: 'cosine', start: 10, end: 10, final: 0.1 }, { kind: 'linear', start: 0, end: 5, final: 1.5 }, { kind: 'cosine', start: -1, end: 5, final: 0 }] as LrDecay[])
    assert.throws(() => compile(buildIR(small(bad))), (e: unknown) => {
      assert.ok(e instanceof GraphError, String(e));
      assert.match(e.message, /^bad_params at 'student' \(tests\/runtime\/lr-decay\.test\.ts:\d+\): decay: a cosine or linear decay from an integer step start/);
      return true;
    });
});

test('the IR and plan text show the decay; dmd2 decays every role’s rate from lrDecayStart·steps to the end', () => {
  const plan = compile(buildIR(small({ kind: 'cosine', start: 1, end: 4, final: 0.1 })));
  assert.match(printPlan(plan), /apply adam\(lr=0\.01, cosine 1→4 to 0\.1, b1=0\.9/);
  assert.match(printIR(plan.ir), /adam\(lr=0\.01, cosine 1→4 to 0\.1\)/);
  const ir = buildIR(PIPELINES['dmd2-ring']!, { steps: 1000, lrDecay: 'linear', lrDecayStart: 0.25, lrFinal: 0.2 });
  for (const u of ir.updates) assert.deepEqual(u.optimizer.decay, { kind: 'linear', start: 250, end: 1000, final: 0.2 }, u.role);
  for (const u of buildIR(PIPELINES['dmd2-ring']!).updates) assert.deepEqual(u.optimizer.decay, { kind: 'cosine', start: 5000, end: 10000, final: 0.1 }, 'the default');
  for (const u of buildIR(PIPELINES['dmd2-ring']!, { lrDecay: 'none' }).updates) assert.equal(u.optimizer.decay, undefined, 'none: constant');
});

test("mmd-ring decays the generator's and the auxiliary's main updates from half its steps, not their pre-fit; lrDecay none: constant", () => {
  const ups = buildIR(PIPELINES['mmd-ring']!).updates;
  const main = ups.filter((u) => u.warmup === 0);
  assert.deepEqual(main.map((u) => u.role).sort(), ['aux', 'student']);
  for (const u of main) assert.deepEqual(u.optimizer.decay, { kind: 'cosine', start: 300, end: 600, final: 0.1 }, `${u.role}: the default`);
  for (const u of ups.filter((x) => x.warmup > 0)) assert.equal(u.optimizer.decay, undefined, `${u.role} pre-fit`);
  for (const u of buildIR(PIPELINES['mmd-ring']!, { lrDecay: 'none' }).updates) assert.equal(u.optimizer.decay, undefined, `${u.role}: none`);
});
