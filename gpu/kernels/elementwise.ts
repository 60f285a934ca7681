/** @file The generated elementwise kernel: one fused group's scalar expression (ops/scalar.ts) over broadcast inputs,
 * compiled once per expression — to a JS loop for the cpu and wasm backends, to a WGSL program for webgpu. */
import { toJs, toWgsl, F32_MAX, type Expr } from '../../ops/scalar.ts';

import { KERNELS } from './defs.ts';

const ELEMENTWISE = KERNELS.elementwise;

export type Mode = 'full' | 'row' | 'col' | 'scalar';

/** how input `s` is read at the elements of output `out` (shapes resolved; the planner only fuses readable ones) */
export function modeOf(s: readonly number[], out: readonly number[]): Mode {
  const size = (x: readonly number[]) => x.reduce((a, b) => a * b, 1);
  if (size(s) === size(out) && s.length === out.length && s.every((d, i) => d === out[i])) return 'full';
  if (size(s) === 1) return 'scalar';
  const cols = out[out.length - 1]!;
  if (out.length === 2 && s.length === 2 && s[1] === 1 && s[0] === out[0]) return 'row';
  if (out.length === 2 && size(s) === cols && s[s.length - 1] === cols) return 'col';
  throw new Error(`${ELEMENTWISE}: an input of shape [${s}] does not broadcast to [${out}]`);
}

const index = (m: Mode, i: string, cols: string) => (m === 'full' ? i : m === 'scalar' ? '0' : m === 'row' ? `((${i} / ${cols}) | 0)` : `(${i} % ${cols})`);

type HostFn = (ins: Float32Array[], out: Float32Array, cols: number) => void;
const hostCache = new Map<string, HostFn>();

/** the expression as a loop over the output's elements, compiled once per (expression, input modes) */
export function hostKernel(expr: Expr, modes: Mode[]): HostFn {
  const key = JSON.stringify([expr, modes]);
  let fn = hostCache.get(key);
  if (!fn) {
    const reads = modes.map((m, k) => `const x${k} = in${k}[${index(m, 'i', 'cols')}];`).join(' ');
    const body = `
      const f = Math.fround;
      const nan0 = (v) => (v !== v ? 0 : v > ${F32_MAX} ? ${F32_MAX} : v < -${F32_MAX} ? -${F32_MAX} : v);
      const [${modes.map((_, k) => `in${k}`).join(', ')}] = ins;
      for (let i = 0; i < out.length; i++) { ${reads} out[i] = ${toJs(expr)}; }`;
    fn = new Function('ins', 'out', 'cols', body) as HostFn;
    hostCache.set(key, fn);
  }
  return fn;
}

const wgslIndex = (m: Mode) => (m === 'full' ? 'i' : m === 'scalar' ? '0' : m === 'row' ? 'i / uniforms.cols' : 'i % uniforms.cols');

/** the WGSL body (inside the flat elementwise program of webgpu.ts: `i` the output index, `out` the value) */
export function wgslBody(expr: Expr, modes: Mode[]): { helpers: string; body: string } {
  const reads = modes.map((m, k) => `let v${k} = x${k}[${wgslIndex(m)}];`).join(' ');
  const helpers = `
      fn nan0(x : f32) -> f32 {
        if ((bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u) { return 0.0; }
        return clamp(x, -3.4028234663852886e38, 3.4028234663852886e38);
      }`;
  return { helpers, body: `${reads} out = ${toWgsl(expr)};` };
}
