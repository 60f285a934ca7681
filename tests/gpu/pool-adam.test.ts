/** Adam on the worker pool (gemm.wat.ts's adam_rows): split among 2 and 3 threads, with the workers taking blocks, it
 * gives the bits of simd.ts's one-thread adam, at sizes whose ranges end in partial blocks. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { adamCall, callRows, gemmKernels, type GemmCall } from '../../gpu/kernels/gemm.ts';
import { GemmPool } from '../../gpu/kernels/gemm-pool.ts';
import { simdKernels } from '../../gpu/kernels/simd.ts';
import { Rng } from '../../ops/rng.ts';

const bits = (x: Float32Array) => Uint32Array.from(new Uint32Array(x.buffer, x.byteOffset, x.length));

/** `call` over [0, m) on `threads` threads; after its first block the calling thread waits (up to 10 s) until
 * `lastDone()` says the last block is written: the workers, started or not when the call came, took the rest */
async function onPool(mem: WebAssembly.Memory, threads: number, call: GemmCall, m: number, lastDone: () => boolean): Promise<void> {
  const one = (await gemmKernels(mem))!;
  const pool = GemmPool.create(threads, mem)!;
  let first = true;
  try {
    pool.callInPlace(call, m, (q0, q1) => {
      callRows(one, call, q0, q1);
      const until = performance.now() + 10_000;
      while (first && !lastDone() && performance.now() < until);
      first = false;
    });
  } finally {
    pool.dispose();
  }
  assert.ok(lastDone(), 'a worker wrote the last block');
}

test('Adam on the pool (2 and 3 threads): the bits of the one-thread kernel, the workers taking blocks', async () => {
  for (const threads of [2, 3])
    for (const n of [4 * 4099, 65536 + 12]) {
      const mem = new WebAssembly.Memory({ initial: 64, maximum: 1024, shared: true });
      const simd = (await simdKernels(mem))!;
      const rng = new Rng(['pool-adam', String(n)]);
      const [p, g, m] = [rng.normals(n), rng.normals(n), rng.normals(n)];
      const v = rng.uniforms(n, 0, 2);
      const f = new Float32Array(mem.buffer);
      const at = (i: number) => 1024 + i * 4 * n;
      [p, g, m, v].forEach((x, i) => f.set(x, at(i) / 4));
      const outs = (first: number) => [first, first + 1, first + 2].map((i) => at(i));
      const consts = [1e-3 / 0.1, 0.9, 0.999, 1 - 0.999 ** 3, 1e-8] as const;
      simd.adam(at(0), at(1), at(2), at(3), ...(outs(4) as [number, number, number]), n, ...consts);
      const call = adamCall([at(0), at(1), at(2), at(3), ...(outs(7) as [number, number, number])], ...consts);
      f.fill(NaN, at(7) / 4, at(10) / 4);
      await onPool(mem, threads, call, n / 4, () => !Number.isNaN(f[at(8) / 4 - 1]!));
      for (const [i, name] of ['p', 'm', 'v'].entries())
        assert.deepEqual(bits(f.subarray(at(7 + i) / 4, at(7 + i) / 4 + n)), bits(f.subarray(at(4 + i) / 4, at(4 + i) / 4 + n)), `${threads} threads, n ${n}: ${name}'`);
    }
});
