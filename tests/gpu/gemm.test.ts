/** distillery's matrix products (gpu/kernels/gemm.ts, gemm-pool.ts): the worker pool gives bit-identical results for
 * any thread count and either row split (the calling thread in place or in the pool), in every layout and at awkward
 * sizes; the registered kernel agrees bit for bit with 1 and 2 threads; and many products leave tensors, bytes and the
 * pool's thread count unchanged. (Agreement with tf.matMul: tests/gpu/cases.ts.) */
import { test } from 'node:test';

process.env.DISTILLERY_SHARED_HEAP = '1'; // the in-place pool (the default), whatever the environment says
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as tf from '@tensorflow/tfjs';
import { loadBackend } from '../../gpu/backend.ts';
import { gemm, gemmSilu, gemmSiluOut, siluForward } from '../../gpu/fused.ts';
import { registerHostKernels } from '../../gpu/kernels/host.ts';
import { callRows, gemmCall, gemmHost, gemmKernels, gemmRows, PACK_BYTES, PACK_MIN_N, type GemmShape } from '../../gpu/kernels/gemm.ts';
import { defaultThreads, GemmPool, gemmPool, rowRange } from '../../gpu/kernels/gemm-pool.ts';
import { Rng } from '../../ops/rng.ts';

// n % 4 = 1, 2, 3 (the last columns in lanes), k = 1 (A's rows adjacent untransposed), m % 4 ≠ 0 (the row tail);
// n ≥ PACK_MIN_N: Aᵀ packed (with a row tail, and with n % 4 ≠ 0)
const SHAPES = [[1, 1, 1], [3, 5, 7], [9, 3, 2], [9, 5, 1], [9, 5, 3], [37, 9, 33], [256, 18, 256], [256, 256, 2], [18, 256, 256], [256, 2, 256], [64, 64, 64], [38, 130, 20], [17, 256, 5], [38, 3, 37], [13, 1, 20]] as const;
const LAYOUTS = [[false, false], [false, true], [true, false], [true, true]] as const;
const bits = (x: Float32Array) => new Uint32Array(x.buffer, x.byteOffset, x.length);

test('the pool computes bit-identical products with 2 and 3 threads, split in the pool or with the caller in place; Aᵀ packed or not, the same bits', async () => {
  const rng = new Rng(['gemm-pool']);
  const mem = new WebAssembly.Memory({ initial: 64 });
  // the packing scratch: past every operand (the largest shape's take under 3 MiB)
  const PACK_AT = 48 * 65536;
  const one = (await gemmKernels(mem))!;
  assert.ok(one, 'this Node has WebAssembly SIMD');
  const pools = [GemmPool.create(2)!, GemmPool.create(3)!];
  assert.ok(pools.every(Boolean), 'Node has worker threads and shared memory');
  try {
    for (const [m, n, k] of SHAPES)
      for (const [ta, tb] of LAYOUTS) {
        const s: GemmShape = { m, n, k, ta, tb };
        const [a, b, bias] = [rng.normals(m * k), rng.normals(k * n), rng.normals(n)];
        // one thread, in place on a plain memory: the reference
        const f = new Float32Array(mem.buffer);
        const [pa, pb, pbias, pc] = [64, 64 + 4 * m * k, 128 + 4 * (m * k + k * n), 192 + 4 * (m * k + k * n + n)];
        f.set(a, pa / 4);
        f.set(b, pb / 4);
        f.set(bias, pbias / 4);
        gemmRows(one, s, { a: pa, b: pb, c: pc, bias: pbias }, 0, m);
        const want = f.slice(pc / 4, pc / 4 + m * n);
        const host = new Float32Array(m * n);
        gemmHost(a, b, host, bias, s);
        const what = `${m}×${n}×${k} ${ta ? 'T' : 'N'}${tb ? 'T' : 'N'}`;
        // the rows, gathered and transposed-A forms sum in the host loop's order exactly; the dot form in f32x4 lanes
        if (!tb || ta || k < 8) {
          assert.deepEqual(bits(want), bits(host), `${what}: the kernel sums as the host loop does`);
          // Aᵀ packed into a scratch first (where it pays: n ≥ PACK_MIN_N), read in place otherwise
          const packs = ta && !tb && n >= PACK_MIN_N;
          assert.equal(gemmCall(s, { a: pa, b: pb, c: pc, bias: pbias, pack: PACK_AT }).fn === 5, packs, `${what}: packs Aᵀ`);
          f.fill(NaN, pc / 4, pc / 4 + m * n);
          gemmRows(one, s, { a: pa, b: pb, c: pc, bias: pbias, pack: PACK_AT }, 0, m);
          assert.deepEqual(bits(f.slice(pc / 4, pc / 4 + m * n)), bits(host), `${what}, with a packing scratch: the kernel sums as the host loop does`);
          gemmRows(one, s, { a: pa, b: pb, c: pc, bias: 0 }, 0, m);
          gemmHost(a, b, host, undefined, s);
          assert.deepEqual(bits(f.slice(pc / 4, pc / 4 + m * n)), bits(host), `${what}, no bias: the kernel sums as the host loop does`);
        }
        for (const pool of pools) {
          const c = new Float32Array(m * n);
          assert.ok(pool.run(s, a, b, bias, c));
          assert.deepEqual(bits(c), bits(want), `${what}, ${pool.threads} threads in the pool`);
          // the caller's rows in place (here: on the plain memory), the workers' through the pool
          const c2 = new Float32Array(m * n).fill(NaN);
          new Float32Array(mem.buffer).fill(NaN, pc / 4, pc / 4 + m * n);
          assert.ok(pool.run(s, a, b, bias, c2, (m0, m1) => gemmRows(one, s, { a: pa, b: pb, c: pc, bias: pbias }, m0, m1)));
          const [, r0] = rowRange(m, 0, pool.threads);
          c2.set(new Float32Array(mem.buffer, pc, r0 * n));
          assert.deepEqual(bits(c2), bits(want), `${what}, ${pool.threads} threads, the caller's rows in place`);
        }
      }
  } finally {
    pools.forEach((p) => p.dispose());
  }
});

test('in place, each thread packs Aᵀ into its own scratch: the worker writes its slot, the caller keeps to its own', async () => {
  const mem = new WebAssembly.Memory({ initial: 64, maximum: 1024, shared: true });
  const one = (await gemmKernels(mem))!;
  const pool = GemmPool.create(2, mem)!;
  try {
    const [m, n, k] = [64, 128, 24];
    const s: GemmShape = { m, n, k, ta: true, tb: false };
    const rng = new Rng(['gemm-pack-slots']);
    const [a, b] = [rng.normals(m * k), rng.normals(k * n)];
    const f = new Float32Array(mem.buffer);
    const [pa, pb, pc, pack] = [64, 64 + 4 * m * k, 128 + 4 * (m * k + k * n), 2 * 65536];
    f.set(a, pa / 4);
    f.set(b, pb / 4);
    const ptrs = { a: pa, b: pb, c: pc, bias: 0, pack };
    const call = gemmCall(s, ptrs);
    assert.equal(call.fn, 5, 'the packed kernel');
    const written = (slot: number) => f.subarray((pack + slot * PACK_BYTES) / 4, (pack + slot * PACK_BYTES) / 4 + 4 * k).every((v) => !Number.isNaN(v));
    // the calling thread dawdles after each of its blocks, so the worker takes some, once it has started (a new
    // worker thread may take longer than the product on a loaded machine: then the product is run again)
    for (let attempt = 0; attempt === 0 || (attempt < 20 && !written(1)); attempt++) {
      f.fill(NaN, pack / 4, (pack + 2 * PACK_BYTES) / 4);
      pool.runInPlace(s, ptrs, (m0, m1) => {
        callRows(one, call, m0, m1);
        const until = performance.now() + 5;
        while (performance.now() < until);
      });
    }
    const host = new Float32Array(m * n);
    gemmHost(a, b, host, undefined, s);
    assert.deepEqual(bits(f.slice(pc / 4, pc / 4 + m * n)), bits(host), 'the host loop\'s bits');
    assert.ok(written(0), "the caller's slot holds its last block of Aᵀ");
    assert.ok(written(1), "the worker's slot (PACK_BYTES further) holds its last block of Aᵀ");
    assert.ok(f.subarray((pack + 4 * 4 * k) / 4, (pack + PACK_BYTES) / 4).every(Number.isNaN), "nothing past a block's 16·k bytes in the caller's slot");
  } finally {
    pool.dispose();
  }
});

/** tfjs-wasm's heap, which loadBackend makes shared in Node when the products have more than one thread */
const wasmHeap = () => (tf.findBackend('wasm') as unknown as { wasm: { asm: { memory: WebAssembly.Memory } } }).wasm.asm.memory;

test('DistilleryMatMul on wasm: 1 and 2 threads bit-identical; 300 products leave tensors, bytes and threads flat', async () => {
  await loadBackend('wasm', { threads: 2 });
  assert.ok(wasmHeap().buffer instanceof SharedArrayBuffer, "loadBackend made tfjs's heap shared");
  const rng = new Rng(['gemm-threads']);
  const results = new Map<string, Uint32Array>();
  try {
    for (const threads of [1, 2]) {
      await registerHostKernels('wasm', { threads });
      if (threads === 2) assert.equal(gemmPool(2, wasmHeap())?.heap, wasmHeap(), 'the pool computes in place on the heap');
      // 256³ went to the copying pool (≥ 2²⁴); in place, the smaller ones go too (≥ 2¹⁸)
      for (const [m, n, k] of [[256, 256, 256], ...SHAPES])
        for (const [ta, tb] of LAYOUTS) {
          const r = new Rng(['gemm-threads', String(m), String(n), String(k), String(ta), String(tb)]);
          const [ha, hb, hbias] = [r.normals(m * k), r.normals(k * n), r.normals(n)];
          const a = tf.tensor(ha, ta ? [k, m] : [m, k]);
          const b = tf.tensor(hb, tb ? [n, k] : [k, n]);
          const bias = tf.tensor(hbias, [n]);
          const c = gemm(a, b, { transposeA: ta, transposeB: tb, bias });
          const got = Uint32Array.from(bits((await c.data()) as Float32Array));
          tf.dispose([a, b, c, bias]);
          const key = `${m}×${n}×${k} ${ta}${tb}`;
          if (!tb || ta || k < 8) {
            // every form but the dot products along k (A·Bᵀ, k ≥ 8) sums in order over k: the host loop's bits. Among
            // them Aᵀ·B packed on tfjs's heap where n ≥ PACK_MIN_N, the narrow products (n < 4, 4 rows per f32x4), and
            // a short or strided Bᵀ, read transposed into the packing scratch
            const host = new Float32Array(m * n);
            gemmHost(ha, hb, host, hbias, { m, n, k, ta, tb });
            assert.deepEqual(got, bits(host), `${key}, ${threads} thread(s): the host loop's bits`);
          }
          if (threads === 1) results.set(key, got);
          else assert.deepEqual(got, results.get(key), `${key}: 2 threads differ from 1`);
        }
    }
    const pool = gemmPool(2, wasmHeap());
    assert.ok(pool && pool.workerCount === 1, 'two threads: the caller and one worker');
    const [x, w, bias] = [tf.tensor(rng.normals(256 * 256), [256, 256]), tf.tensor(rng.normals(256 * 256), [256, 256]), tf.tensor(rng.normals(256), [256])];
    const step = () => tf.tidy(() => gemm(gemm(x, w, { bias }), w, { transposeB: true }).sum().dataSync());
    step();
    const before = tf.memory();
    for (let i = 0; i < 300; i++) step();
    const after = tf.memory();
    assert.equal(after.numTensors, before.numTensors, 'tensors');
    assert.equal(after.numBytes, before.numBytes, 'bytes');
    assert.equal(gemmPool(2, wasmHeap()), pool, 'the same pool');
    assert.equal(pool.workerCount, 1, 'no thread added');
    tf.dispose([x, w, bias]);
  } finally {
    await registerHostKernels('wasm');
  }
});

test('DistilleryMatMulSilu on wasm is DistilleryMatMul then DistillerySiluForward to the bit, and DistilleryMatMulSiluOut its y: epilogue on 1 and 2 threads, and the unfused fallbacks', async () => {
  await loadBackend('wasm', { threads: 2 });
  // n % 4 = 0 takes the epilogue (256³, 64·256·18 and 256·256·2 — split for the epilogue's work — on the pool, 37×12×33
  // and 5×4×3 on one thread); n = 9, 2 the fallback
  const shapes = [[256, 256, 256], [256, 256, 18], [64, 256, 18], [256, 256, 2], [37, 12, 33], [5, 4, 3], [7, 9, 5], [256, 2, 256]] as const;
  const pool = gemmPool(2, wasmHeap())!;
  const firstLayer = { m: 256, n: 256, k: 2, ta: false, tb: false };
  assert.ok(pool.takes(firstLayer, true) && !pool.takes(firstLayer), '256×256×2 goes to the pool for its epilogue only');
  try {
    for (const [threads, simd] of [[1, true], [2, true], [1, false]] as const) {
      await registerHostKernels('wasm', { threads, simd });
      for (const [m, n, k] of shapes) {
        const r = new Rng(['gemm-silu', String(m), String(n), String(k)]);
        // pre-activations spread over σ's whole range, the cutoff included
        const [x, w, bias] = [tf.tensor(r.normals(m * k).map((v) => 4 * v), [m, k]), tf.tensor(r.normals(k * n), [k, n]), tf.tensor(r.normals(n), [n])];
        const fused = gemmSilu(x, w, bias);
        assert.ok(fused, 'registered on wasm');
        const a = gemm(x, w, { bias });
        const [y, sg] = siluForward(a);
        const what = `${m}×${n}×${k}, ${threads} thread(s), ${simd ? 'SIMD' : 'host loops'}`;
        for (const [i, name, want] of [[0, 'a', a], [1, 'y', y], [2, 's', sg]] as const)
          assert.deepEqual(bits((await fused[i].data()) as Float32Array), bits((await want.data()) as Float32Array), `${what}: ${name}`);
        // y alone: only where the epilogue fits (n % 4 = 0); the caller takes the full form elsewhere
        const out = gemmSiluOut(x, w, bias);
        assert.equal(out === undefined, n % 4 !== 0, `${what}: y alone offered`);
        if (out) assert.deepEqual(bits((await out.data()) as Float32Array), bits((await y.data()) as Float32Array), `${what}: y alone`);
        tf.dispose([x, w, bias, a, y, sg, ...fused, ...(out ? [out] : [])]);
      }
    }
  } finally {
    await registerHostKernels('wasm');
  }
});

test('DistilleryMatMulSilu and DistilleryMatMulSiluOut with the copying pool (DISTILLERY_SHARED_HEAP=0): the product on the pool, then the SiLU, the same bits', () => {
  // a child process: this file keeps tfjs's heap shared
  const script = `
    import * as tf from '@tensorflow/tfjs';
    import { loadBackend } from './gpu/backend.ts';
    import { gemm, gemmSilu, gemmSiluOut, siluForward } from './gpu/fused.ts';
    import { gemmPool } from './gpu/kernels/gemm-pool.ts';
    import { Rng } from './ops/rng.ts';
    await loadBackend('wasm', { threads: 2 });
    const heap = tf.findBackend('wasm').wasm.asm.memory;
    const pool = gemmPool(2, heap);
    if (!pool || pool.heap) throw new Error('expected the copying pool');
    const r = new Rng(['gemm-silu-copying']);
    const [x, w, b] = [tf.tensor(r.normals(256 * 256).map((v) => 4 * v), [256, 256]), tf.tensor(r.normals(256 * 256), [256, 256]), tf.tensor(r.normals(256), [256])];
    const fused = gemmSilu(x, w, b);
    const a = gemm(x, w, { bias: b });
    const [y, s] = siluForward(a);
    const same = (p, q) => { const [u, v] = [new Uint32Array(p.dataSync().buffer), new Uint32Array(q.dataSync().buffer)]; return u.length === v.length && u.every((e, i) => e === v[i]); };
    // y alone: on one thread below the copying pool's size, else the product on the pool and the SiLU in place
    const outs = [[256, 256], [64, 256]].map(([m, k]) => {
      const [xs, ws] = [tf.slice(x, [0, 0], [m, k]), tf.slice(w, [0, 0], [k, 256])];
      const yo = gemmSiluOut(xs, ws, b);
      const ao = gemm(xs, ws, { bias: b });
      return same(yo, siluForward(ao)[0]);
    });
    console.log(same(fused[0], a) && same(fused[1], y) && same(fused[2], s) && outs.every(Boolean) ? 'same' : 'differ');
    process.exit(0);`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', cwd: new URL('../..', import.meta.url), env: { ...process.env, DISTILLERY_SHARED_HEAP: '0', DISTILLERY_THREADS: '2' } });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'same');
});

test('the dmd-step workload (B = H = 256) trains to bit-identical weights and losses with 1 and 2 threads', async () => {
  const { buildIR } = await import('../../dsl/pipeline.ts');
  const { openExecutor } = await import('../../runtime/open.ts');
  const { dmdStep } = await import('../../bench/dmd-step/workload.ts');
  const runs: { weights: Uint32Array[]; losses: number[] }[] = [];
  try {
    for (const threads of [1, 2]) {
      await loadBackend('wasm');
      await registerHostKernels('wasm', { threads });
      const exe = await openExecutor(buildIR(dmdStep, { dim: 64 }), 7, 'wasm');
      const losses: number[] = [];
      for (let i = 0; i < 2; i++) for (const u of exe.plan.updates) {
          const r = exe.update(u);
          losses.push(r.loss, r.gradNorm);
        }
      const weights = ['student', 'fake'].flatMap((role) => Object.values(exe.hostWeights(role)).map((t) => Uint32Array.from(new Uint32Array(Float32Array.from(t.data).buffer))));
      exe.dispose();
      runs.push({ weights, losses });
    }
  } finally {
    await registerHostKernels('wasm');
  }
  assert.ok(runs[0]!.weights.length >= 12);
  assert.deepEqual(runs[1]!.losses, runs[0]!.losses, 'losses');
  runs[0]!.weights.forEach((w, i) => assert.deepEqual(runs[1]!.weights[i], w, `weight tensor ${i}`));
});

test('DISTILLERY_THREADS sets the thread count; a bad value is one clear error', () => {
  const before = process.env.DISTILLERY_THREADS;
  try {
    process.env.DISTILLERY_THREADS = '3';
    assert.equal(defaultThreads(), 3);
    for (const bad of ['abc', '0', '1.5']) {
      process.env.DISTILLERY_THREADS = bad;
      assert.throws(defaultThreads, new RegExp(`DISTILLERY_THREADS must be an integer ≥ 1, got '${bad.replace('.', '\\.')}'`));
    }
  } finally {
    if (before === undefined) delete process.env.DISTILLERY_THREADS;
    else process.env.DISTILLERY_THREADS = before;
  }
});

test('a worker that fails surfaces at once on the calling thread, with its message, and every later product says so', () => {
  // a shared memory of 2 pages and a C beyond its end: every block traps; the calling thread's own share does nothing
  // but wait, so the worker claims blocks and fails
  const heap = new WebAssembly.Memory({ initial: 2, maximum: 4, shared: true });
  const pool = GemmPool.create(2, heap)!;
  try {
    const s: GemmShape = { m: 256, n: 64, k: 64, ta: false, tb: false };
    const ptrs = { a: 64, b: 64 + 256 * 64 * 4, c: 3 * 65536, bias: 0 };
    const idle = () => {
      for (const t0 = performance.now(); performance.now() - t0 < 20; );
    };
    const t0 = performance.now();
    assert.throws(() => pool.runInPlace(s, ptrs, idle), /a matrix-product worker thread failed: memory access out of bounds \(kernel 0, rows \d+–\d+ of 256/);
    assert.ok(performance.now() - t0 < 10_000, 'not after the 30 s deadline');
    assert.throws(() => pool.runInPlace(s, ptrs, idle), /a matrix-product worker thread failed/);
  } finally {
    pool.dispose();
  }
});
