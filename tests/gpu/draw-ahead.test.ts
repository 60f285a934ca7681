/** Normal draws made ahead by the worker pool (gpu/kernels/draw-ahead.ts): what a source takes is, to the bit, what
 * its stream draws on the calling thread (odd counts, counts over a chunk); a draw nobody asked for, or asked for
 * with another count, or superseded by a later request, is not taken; and the training loop takes what it asked for. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { GemmPool } from '../../gpu/kernels/gemm-pool.ts';
import { Rng } from '../../ops/rng.ts';

const bits = (x: Float32Array) => Uint32Array.from(new Uint32Array(x.buffer, x.byteOffset, x.length));
/** until every draw asked for is drawn (the worker starts, then draws), or 20 s */
async function settle(draws: { settled(): boolean }): Promise<void> {
  const until = performance.now() + 20_000;
  while (!draws.settled() && performance.now() < until) await new Promise((r) => setTimeout(r, 10));
  assert.ok(draws.settled(), 'the worker drew what was asked for');
}

test('drawn ahead by the worker: the bits of the same stream drawn here; unasked, other counts and superseded requests are not taken', async () => {
  const pool = GemmPool.create(2)!;
  const draws = pool.draws!;
  try {
    const streams = [7, 1, 1024, 3001, 16384].map((n, i) => ({ rng: new Rng([5, i, 'r0']), n }));
    draws.request(streams.map(({ rng, n }) => ({ state: rng.stateWords(), n })));
    await settle(draws); // the worker starts and draws
    for (const { rng, n } of streams) {
      const state = rng.stateWords();
      const out = new Float32Array(n).fill(NaN);
      assert.ok(draws.take(state, out), `n ${n}: drawn ahead`);
      assert.deepEqual(bits(out), bits(rng.normals(n)), `n ${n}: the calling thread's bits`);
      assert.ok(!draws.take(state, new Float32Array(n)), `n ${n}: taken once`);
    }
    assert.ok(!draws.take(new Rng([5, 99, 'r0']).stateWords(), new Float32Array(8)), 'a stream nobody asked for');
    const s = new Rng([6, 0, 'r1']);
    draws.request([{ state: s.stateWords(), n: 64 }]);
    await settle(draws);
    assert.ok(!draws.take(s.stateWords(), new Float32Array(63)), 'another count');
    draws.request([{ state: s.stateWords(), n: 64 }]);
    draws.request([{ state: new Rng([6, 1, 'r1']).stateWords(), n: 64 }]);
    await settle(draws);
    assert.ok(!draws.take(s.stateWords(), new Float32Array(64)), 'superseded by a later request');
    // a draw asked for twice is made once, and taken once; more draws than the job table's slots: none is asked for
    const twice = new Rng([6, 3, 'r1']);
    draws.request([{ state: twice.stateWords(), n: 10 }, { state: twice.stateWords(), n: 10 }]);
    await settle(draws);
    assert.ok(draws.take(twice.stateWords(), new Float32Array(10)) && !draws.take(twice.stateWords(), new Float32Array(10)), 'asked twice, taken once');
    const many = Array.from({ length: 40 }, (_, i) => new Rng([6, 4, `r${i}`]));
    draws.request(many.map((r) => ({ state: r.stateWords(), n: 8 })));
    await settle(draws);
    assert.ok(!draws.take(many[0]!.stateWords(), new Float32Array(8)), 'over the slots: not drawn ahead');
    // taken at once: the worker may not have begun (then it is cancelled and not taken) or may be on it (waited for)
    const big = new Rng([6, 2, 'r1']);
    draws.request([{ state: big.stateWords(), n: 200_000 }]);
    const out = new Float32Array(200_000);
    if (draws.take(big.stateWords(), out)) assert.deepEqual(bits(out), bits(new Rng([6, 2, 'r1']).normals(200_000)), 'waited for: the same bits');
  } finally {
    pool.dispose();
  }
});

test('training on wasm with 2 threads takes the Gaussian sources\' draws made ahead, all but the first update\'s', async () => {
  const { buildIR } = await import('../../dsl/pipeline.ts');
  const { openExecutor } = await import('../../runtime/open.ts');
  const { dmdStep } = await import('../../bench/dmd-step/workload.ts');
  const { DrawAhead } = await import('../../gpu/kernels/draw-ahead.ts');
  const { loadBackend } = await import('../../gpu/backend.ts');
  const { registerHostKernels } = await import('../../gpu/kernels/host.ts');
  await loadBackend('wasm');
  await registerHostKernels('wasm', { threads: 2 });
  const exe = await openExecutor(buildIR(dmdStep, { dim: 64 }), 3, 'wasm');
  const inner = DrawAhead.prototype.take;
  const seen: boolean[] = [];
  DrawAhead.prototype.take = function (s, o) {
    const r = inner.call(this, s, o);
    seen.push(r);
    return r;
  };
  try {
    // the training loop's order: each update `ratio` times per step
    for (let step = 0; step < 2; step++) for (const u of exe.plan.updates) for (let r = 0; r < u.ratio; r++) exe.update(u);
  } finally {
    DrawAhead.prototype.take = inner;
    exe.dispose();
    await registerHostKernels('wasm');
  }
  const updates = exe.plan.updates.reduce((s, u) => s + u.ratio, 0) * 2;
  assert.equal(seen.length, 2 * updates, 'two Gaussian sources per update');
  assert.deepEqual(seen.slice(0, 2), [false, false], 'the first update was not predicted');
  // a take finds its job done, or running (waited for), or not begun (cancelled): this machine's timing decides
  // which, so the count is not asserted to be all; most are taken when the worker keeps up
  assert.ok(seen.filter(Boolean).length >= updates, `taken ${seen.filter(Boolean).length} of ${seen.length - 2}`);
});
