/** @file Counter-based seeded randomness on the host (plain JS, the normals in WebAssembly), so every backend sees the same
 * draws. */
import { drawNormals } from './normals.ts';

function mix(h: number, v: number): number {
  h = Math.imul(h ^ v, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** Hash any list of integers (seed, step counter, node index …) into a 32-bit key. */
function hashKey(parts: readonly number[]): number {
  let h = 0x9e3779b9;
  for (const p of parts) h = mix(h, p >>> 0);
  return mix(h, parts.length);
}

const hashString = (s: string): number => {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return h >>> 0;
};

/** xoshiro128** seeded through the hash above. */
export class Rng {
  private s: Uint32Array;
  constructor(parts: readonly (number | string)[]) {
    const key = parts.map((p) => (typeof p === 'string' ? hashString(p) : p));
    this.s = new Uint32Array([hashKey([...key, 1]), hashKey([...key, 2]), hashKey([...key, 3]), hashKey([...key, 4])]);
    if (this.s.every((v) => v === 0)) this.s[0] = 1;
  }

  /** the state, as it is now (a copy): the stream's start before any draw */
  stateWords(): Uint32Array {
    return this.s.slice();
  }

  /** uniform uint32 */
  u32(): number {
    const s = this.s;
    const r = Math.imul(rotl(Math.imul(s[1]!, 5), 7), 9) >>> 0;
    const t = s[1]! << 9;
    s[2]! ^= s[0]!;
    s[3]! ^= s[1]!;
    s[1]! ^= s[2]!;
    s[0]! ^= s[3]!;
    s[2]! ^= t;
    s[3] = rotl(s[3]!, 11);
    return r;
  }

  /** uniform in [0, 1) with 32 bits */
  uniform(): number {
    return this.u32() / 4294967296;
  }

  uniforms(n: number, low = 0, high = 1): Float32Array {
    const out = new Float32Array(n);
    for (let i = 0; i < n; i++) out[i] = low + (high - low) * this.uniform();
    return out;
  }

  /** standard normals by Box–Muller, through the WebAssembly loop (normals.ts) where it loads */
  normals(n: number): Float32Array {
    return this.normalsInto(new Float32Array(n));
  }

  /** `out.length` normals into `out` (a fresh 64 KiB Float32Array costs about as much as drawing into it) */
  normalsInto(out: Float32Array): Float32Array {
    return drawNormals(this.s, out) ? out : this.normalsWithMath(out);
  }

  /** the same draws through the engine's `Math` (fdlibm in Node 20's V8, whose bits the WebAssembly loop reproduces):
   * the reference of tests/ops/normals.test.ts, and the path where WebAssembly SIMD is missing */
  normalsWithMath(out: Float32Array): Float32Array {
    for (let i = 0; i < out.length; i += 2) {
      // Box–Muller; 1 - u keeps log away from 0
      const r = Math.sqrt(-2 * Math.log(1 - this.uniform()));
      const th = 2 * Math.PI * this.uniform();
      out[i] = r * Math.cos(th);
      if (i + 1 < out.length) out[i + 1] = r * Math.sin(th);
    }
    return out;
  }

  /** index drawn with the given (unnormalised) weights; `at`/`size` pick a row out of a flat array */
  categorical(weights: ArrayLike<number>, total: number, at = 0, size = weights.length - at): number {
    let u = this.uniform() * total;
    for (let k = 0; k < size; k++) {
      u -= weights[at + k]!;
      if (u < 0) return k;
    }
    return size - 1;
  }
}

const rotl = (x: number, k: number): number => ((x << k) | (x >>> (32 - k))) >>> 0;
