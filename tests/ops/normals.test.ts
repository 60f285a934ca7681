/** The Rng's normals in WebAssembly (ops/normals.wat.ts) are the bits of the JS loop through `Math` (fdlibm in Node 20's
 * V8): on millions of draws, across the module's chunk boundary, and on the edge arguments of log, cos and sin where
 * fdlibm branches. And the committed module is what wabt makes of the WAT. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { Rng } from '../../ops/rng.ts';
import { normalsBytes, normalsKernel } from '../../ops/normals.ts';
import { OUT } from '../../ops/normals.wat.ts';
import { compileNormals, NORMALS_BINARY_FILE, renderNormalsBinary } from '../../scripts/build-simd.ts';

test('normals-binary.ts holds the bytes wabt compiles from normals.wat.ts', async () => {
  const fresh = await compileNormals();
  assert.deepEqual(normalsBytes(), Uint8Array.from(fresh), 'stale: run `npx tsx scripts/build-simd.ts`');
  assert.equal(fs.readFileSync(NORMALS_BINARY_FILE, 'utf8'), renderNormalsBinary(fresh), 'normals-binary.ts was edited by hand');
});

/** index of the first element that differs (Object.is: −0 and NaN count), or −1 */
function firstDifference(a: Float32Array | Float64Array, b: Float32Array | Float64Array): number {
  assert.equal(a.length, b.length);
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return i;
  return -1;
}

test('the WebAssembly normals are the Math loop’s, bit for bit, and leave the same state', () => {
  assert.ok(normalsKernel(), 'this Node instantiates the module (WebAssembly SIMD)');
  const sizes = [1, 2, 3, 4, 5, 7, 8, 9, 255, 16384, 16387, 2 * (1 << 18) + 3];
  let drawn = 0;
  for (let seed = 0; seed < 24; seed++) {
    for (const n of sizes.slice(0, seed < 2 ? sizes.length : sizes.length - 1)) {
      const a = new Rng([seed, 'normals', n]);
      const b = new Rng([seed, 'normals', n]);
      const wasm = a.normals(n);
      const math = b.normalsWithMath(new Float32Array(n));
      const at = firstDifference(wasm, math);
      assert.equal(at, -1, `seed ${seed}, n ${n}: element ${at} is ${wasm[at]} in WebAssembly, ${math[at]} through Math`);
      assert.equal(a.u32(), b.u32(), `seed ${seed}, n ${n}: the states differ afterwards`);
      drawn += n;
    }
  }
  assert.ok(drawn > 1.5e6);
});

/** doubles next to v: v itself, ±1…3 ulps, and the two ends of v's high word (low word 0 and 0xffffffff) */
function around(v: number): number[] {
  const view = new DataView(new ArrayBuffer(8));
  const withBits = (hi: number, lo: number) => {
    view.setUint32(0, hi);
    view.setUint32(4, lo);
    return view.getFloat64(0);
  };
  view.setFloat64(0, v);
  const hi = view.getUint32(0);
  const bits = view.getBigUint64(0);
  const out = [withBits(hi, 0), withBits(hi, 0xffffffff)];
  for (let d = -3n; d <= 3n; d++) {
    view.setBigUint64(0, bits + d);
    out.push(view.getFloat64(0));
  }
  return out;
}

test('log, cos and sin agree with Math at fdlibm’s edges, in both lanes and in the scalar loop', () => {
  const k = normalsKernel()!;
  const logs = [1, 1 - 2 ** -32, 2 ** -32, 0.5, 0.75, Math.SQRT1_2, 1 - 2 ** -21, 1 - 2 ** -20, 1 - 2 ** -19, 0.5 + 2 ** -22, 0.25 + 2 ** -23]
    // high words whose mantissa bits are where fdlibm's tails switch (0x6147a, 0x6b851) or x is halved (0x6a09e), for x in (0, 1]
    .concat([0x6147a, 0x6b851, 0x6a09e].flatMap((m) => [2, 4, 8].map((e) => (1 + m / 2 ** 20) / e)))
    .flatMap(around)
    .filter((x) => x > 0 && x <= 1);
  const twoPi = 2 * Math.PI;
  const angles = [0, twoPi * 2 ** -32, 2 ** -27, 0.3, 0.78125, Math.PI / 4, (3 * Math.PI) / 4, Math.PI / 2, Math.PI, (3 * Math.PI) / 2, twoPi * (1 - 2 ** -32)]
    .concat([1, 2, 3, 4].map((n) => (n * Math.PI) / 2 + 0.3), [1, 2, 3].map((n) => (n * Math.PI) / 2 + 0.78))
    .flatMap(around)
    .filter((t) => t >= 0 && t < twoPi);
  const rng = new Rng(['edges']);
  for (let i = 0; i < 2000; i++) {
    logs.push(1 - rng.uniform());
    angles.push(twoPi * rng.uniform());
    // f within 2⁻²⁰ of 0 (fdlibm's own branch), and θ within a relative 2⁻²⁰ of nπ/2 (more steps of the reduction)
    logs.push((1 + (rng.uniform() - 0.5) * 2 ** -19) / 2 ** (1 + (i % 3)));
    angles.push((((i % 4) + 1) * Math.PI) / 2 * (1 + (rng.uniform() - 0.5) * 2 ** -19 * rng.uniform() ** 8));
  }
  const got = new Float64Array(k.memory.buffer, OUT, 12);
  const n = Math.max(logs.length, angles.length);
  for (let i = 0; i < n; i++) {
    const [x0, x1] = [logs[i % logs.length]!, logs[(i + 1) % logs.length]!];
    const [t0, t1] = [angles[i % angles.length]!, angles[(i + 1) % angles.length]!];
    k.check(x0, x1, t0, t1);
    const want = [Math.log(x0), Math.log(x1), Math.cos(t0), Math.cos(t1), Math.sin(t0), Math.sin(t1)];
    const where = ['log (vector, lane 0)', 'log (vector, lane 1)', 'cos (vector, lane 0)', 'cos (vector, lane 1)', 'sin (vector, lane 0)', 'sin (vector, lane 1)'];
    for (let j = 0; j < 12; j++) {
      const arg = [x0, x1, t0, t1][(j % 6 < 2 ? 0 : 2) + (j % 2)];
      const name = j < 6 ? where[j] : where[j - 6]!.replace('vector', 'scalar').replace(/, lane \d/, '');
      assert.ok(Object.is(got[j], want[j % 6]), `${name} of ${arg}: ${got[j]}, Math gives ${want[j % 6]}`);
    }
  }
});
