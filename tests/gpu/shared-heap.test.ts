/** tfjs-wasm's heap made shared (gpu/kernels/shared-heap.ts): the memory-section patch itself, and tfjs on the patched
 * heap — ops, reads and heap growth as before; with one thread of products the heap stays plain. The products' threads
 * on it: tests/gpu/gemm.test.ts. */
import { test } from 'node:test';

process.env.DISTILLERY_SHARED_HEAP = '1'; // the in-place pool (the default), whatever the environment says
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as tf from '@tensorflow/tfjs';
import wabtInit from 'wabt';
import { shareDefinedMemory } from '../../gpu/kernels/shared-heap.ts';
import { loadBackend } from '../../gpu/backend.ts';
import { spinMs } from '../../gpu/kernels/gemm-pool.ts';

async function wasm(wat: string): Promise<Uint8Array> {
  const wabt = await wabtInit();
  const m = wabt.parseWat('t.wat', wat, { threads: true });
  try {
    return Uint8Array.from(m.toBinary({}).buffer);
  } finally {
    m.destroy();
  }
}

const heapOf = () => (tf.findBackend('wasm') as unknown as { wasm: { asm: { memory: WebAssembly.Memory } } }).wasm.asm.memory;

test('shareDefinedMemory marks a defined memory with a maximum shared, and leaves every other module alone', async () => {
  const own = await wasm('(module (memory (export "memory") 2 100) (func (export "f") (result i32) (i32.load (i32.const 0))))');
  const patched = shareDefinedMemory(own)!;
  assert.ok(patched, 'patched');
  assert.notEqual(patched, own, 'a copy: the caller’s bytes are untouched');
  assert.equal(patched.length, own.length, 'one flag bit, no size change');
  assert.equal(patched.filter((b, i) => b !== own[i]).length, 1, 'exactly one byte differs');
  const { instance } = await WebAssembly.instantiate(patched);
  const memory = instance.exports.memory as WebAssembly.Memory;
  const bytes = () => (memory.buffer as ArrayBufferLike).byteLength;
  assert.ok(memory.buffer instanceof SharedArrayBuffer, 'the instance’s memory is shared');
  assert.equal(bytes(), 2 * 65536, 'same initial size');
  memory.grow(3);
  assert.equal(bytes(), 5 * 65536, 'it grows');
  assert.equal(shareDefinedMemory(await wasm('(module (memory 1))')), undefined, 'no maximum: a shared memory needs one');
  assert.equal(shareDefinedMemory(await wasm('(module (import "env" "memory" (memory 1 10)))')), undefined, 'an imported memory is the importer’s');
  assert.equal(shareDefinedMemory(await wasm('(module (func))')), undefined, 'no memory');
  assert.equal(shareDefinedMemory(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8])), undefined, 'not WebAssembly');
});

test('tfjs-wasm on the shared heap: ops, reads and growth work as on a plain one', async () => {
  await loadBackend('wasm', { threads: 2 });
  const heap = heapOf();
  const bytes = () => (heap.buffer as ArrayBufferLike).byteLength;
  assert.ok(heap.buffer instanceof SharedArrayBuffer, 'the heap is shared');
  const before = bytes();
  const a = tf.tensor2d([1, 2, 3, 4], [2, 2]);
  const b = tf.tensor2d([5, 6, 7, 8], [2, 2]);
  assert.deepEqual(Array.from(tf.matMul(a, b).dataSync()), [19, 22, 43, 50]);
  // 64 MiB more than the heap had: it grows, and tensors made before still read right
  const big = tf.ones([16 * 1024 * 1024]);
  assert.ok(bytes() > before, 'the heap grew');
  assert.equal(tf.sum(big).dataSync()[0], 16 * 1024 * 1024);
  const read = a.dataSync();
  assert.ok(read.buffer instanceof ArrayBuffer && !(read.buffer instanceof SharedArrayBuffer), 'reads are plain copies');
  assert.deepEqual(Array.from(read), [1, 2, 3, 4]);
  assert.deepEqual(Array.from(await tf.add(a, b).data()), [6, 8, 10, 12]);
  tf.dispose([a, b, big]);
});

/** loads the wasm backend in a child process with `threads` and `env`; its heap's kind and a product, or its error */
function heapInChild(threads: number, env: Record<string, string>) {
  const script = `
    const tf = await import('@tensorflow/tfjs');
    const { loadBackend } = await import('./gpu/backend.ts');
    await loadBackend('wasm', { threads: ${threads} });
    const heap = tf.findBackend('wasm').wasm.asm.memory;
    console.log(heap.buffer instanceof SharedArrayBuffer ? 'shared' : 'plain', tf.matMul(tf.ones([2, 2]), tf.ones([2, 2])).dataSync()[0]);`;
  return spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', cwd: new URL('../..', import.meta.url), env: { ...process.env, DISTILLERY_THREADS: '', ...env } });
}

test('with one thread of products, or DISTILLERY_SHARED_HEAP=0, the heap stays plain; a bad value is one clear error', () => {
  for (const [threads, env, want] of [[1, { DISTILLERY_SHARED_HEAP: '' }, 'plain 2'], [2, { DISTILLERY_SHARED_HEAP: '0' }, 'plain 2'], [2, { DISTILLERY_SHARED_HEAP: '' }, 'shared 2']] as const) {
    const r = heapInChild(threads, env);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim(), want, `${threads} threads, ${JSON.stringify(env)}`);
  }
  const bad = heapInChild(2, { DISTILLERY_SHARED_HEAP: 'yes' });
  assert.notEqual(bad.status, 0);
  assert.match(bad.stderr, /DISTILLERY_SHARED_HEAP must be 0 or 1, got 'yes'/);
});

test('DISTILLERY_SPIN_MS sets how long a worker polls; a bad value is one clear error', () => {
  const before = process.env.DISTILLERY_SPIN_MS;
  try {
    process.env.DISTILLERY_SPIN_MS = '0.5';
    assert.equal(spinMs(), 0.5);
    delete process.env.DISTILLERY_SPIN_MS;
    assert.equal(spinMs(), 5);
    for (const bad of ['abc', '-1']) {
      process.env.DISTILLERY_SPIN_MS = bad;
      assert.throws(spinMs, new RegExp(`DISTILLERY_SPIN_MS must be a number of milliseconds ≥ 0, got '${bad}'`));
    }
  } finally {
    if (before === undefined) delete process.env.DISTILLERY_SPIN_MS;
    else process.env.DISTILLERY_SPIN_MS = before;
  }
});
