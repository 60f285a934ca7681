/** The committed SIMD module (gpu/kernels/simd-binary.ts) is exactly what wabt makes of the WAT (simd.wat.ts), so a WAT
 * edit without `npx tsx scripts/build-simd.ts` fails here; and the committed bytes instantiate and compute. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { simdBytes, simdKernels } from '../../gpu/kernels/simd.ts';
import { BINARY_FILE, compileGemm, compileSimd, GEMM_BINARY_FILE, renderBinary, renderGemmBinary } from '../../scripts/build-simd.ts';
import { gemmBytes, gemmSharedBytes } from '../../gpu/kernels/gemm.ts';

test('simd-binary.ts holds the bytes wabt compiles from simd.wat.ts', async () => {
  const fresh = await compileSimd();
  assert.deepEqual(simdBytes(), Uint8Array.from(fresh.plain), 'stale: run `npx tsx scripts/build-simd.ts`');
  assert.deepEqual(simdBytes(true), Uint8Array.from(fresh.shared), 'stale: run `npx tsx scripts/build-simd.ts`');
  assert.equal(fs.readFileSync(BINARY_FILE, 'utf8'), renderBinary(fresh), 'simd-binary.ts was edited by hand');
});

test('gemm-binary.ts holds the bytes wabt compiles from gemm.wat.ts', async () => {
  const fresh = await compileGemm();
  assert.deepEqual(gemmBytes(), Uint8Array.from(fresh.plain), 'stale: run `npx tsx scripts/build-simd.ts`');
  assert.deepEqual(gemmSharedBytes(), Uint8Array.from(fresh.shared), 'stale: run `npx tsx scripts/build-simd.ts`');
  assert.equal(fs.readFileSync(GEMM_BINARY_FILE, 'utf8'), renderGemmBinary(fresh), 'gemm-binary.ts was edited by hand');
});

test('the committed module instantiates on a memory and runs (column sums, sum of squares)', async () => {
  const memory = new WebAssembly.Memory({ initial: 1 });
  const k = await simdKernels(memory);
  assert.ok(k, 'this Node has WebAssembly SIMD');
  const f = new Float32Array(memory.buffer);
  const [rows, cols] = [3, 8];
  const x = Array.from({ length: rows * cols }, (_, i) => (i % 7) - 2.5);
  f.set(x, 0);
  k.column_sum(0, rows * cols * 4, rows, cols);
  const sums = Array.from({ length: cols }, (_, c) => x[c]! + x[cols + c]! + x[2 * cols + c]!);
  assert.deepEqual(Array.from(f.subarray(rows * cols, rows * cols + cols)), sums);
  assert.equal(k.sum_squares(0, 8), x.slice(0, 8).reduce((a, v) => a + v * v, 0));
});
