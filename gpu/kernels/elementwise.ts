/** @file The generated elementwise kernel: one fused group's scalar expression (ops/scalar.ts) over broadcast inputs,
 * compiled once per (expression, input layouts) — to a JS loop for the cpu and wasm backends (generated source, or
 * closures where a Content-Security-Policy refuses `new Function`), to WGSL for webgpu. */
import { toJs, toWgsl, F32_MAX, type Expr } from '../../ops/scalar.ts';
import { KERNELS } from './defs.ts';

export type Mode = 'full' | 'row' | 'col' | 'scalar';

/** how input `s` is read at the elements of output `out` (shapes resolved; the planner only fuses readable ones) */
export function modeOf(s: readonly number[], out: readonly number[]): Mode {
  const size = (x: readonly number[]) => x.reduce((a, b) => a * b, 1);
  if (s.length === out.length && s.every((d, i) => d === out[i])) return 'full';
  if (size(s) === 1) return 'scalar';
  const cols = out[out.length - 1]!;
  if (out.length === 2 && s.length === 2 && s[1] === 1 && s[0] === out[0]) return 'row';
  if (out.length === 2 && size(s) === cols && s[s.length - 1] === cols) return 'col';
  throw new Error(`${KERNELS.elementwise}: an input of shape [${s}] does not broadcast to [${out}]`);
}

export type HostFn = (ins: Float32Array[], out: Float32Array, cols: number) => void;

/** One expression over inputs read in `modes`: its JS loop and its WGSL, each built on first use. */
export interface CompiledElementwise {
  /** a short stable key (FNV-1a of the expression and modes): the WebGPU shader cache key */
  key: string;
  host(): HostFn;
  wgsl(): { helpers: string; body: string };
}

const compiled = new Map<string, CompiledElementwise>();

/** `exprJson` is the kernel's attribute (JSON of the Expr): parsed only the first time it is seen with these modes */
export function compileElementwise(exprJson: string, modes: Mode[]): CompiledElementwise {
  const id = `${exprJson}|${modes.join(',')}`;
  let c = compiled.get(id);
  if (!c) {
    const expr = JSON.parse(exprJson) as Expr;
    let host: HostFn | undefined;
    let wgsl: { helpers: string; body: string } | undefined;
    c = {
      key: fnv1a(id),
      host: () => (host ??= hostLoop(expr, modes)),
      wgsl: () => (wgsl ??= wgslBody(expr, modes)),
    };
    compiled.set(id, c);
  }
  return c;
}

function fnv1a(s: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return (h >>> 0).toString(16);
}

const hostIndex = (m: Mode) => (m === 'full' ? 'i' : m === 'scalar' ? '0' : m === 'row' ? '((i / cols) | 0)' : '(i % cols)');

/** Test switch: build every host loop as closures, as where a Content-Security-Policy forbids `new Function`. */
export const hostLoopOptions = { forceClosures: false };

let functionAllowed = true;

/** the expression's host loop: generated JS (fast), or closures over the expression where `new Function` is refused */
function hostLoop(expr: Expr, modes: Mode[]): HostFn {
  if (functionAllowed && !hostLoopOptions.forceClosures) {
    try {
      return hostLoopFunction(expr, modes);
    } catch (e) {
      if (!(e instanceof EvalError)) throw e;
      functionAllowed = false; // a CSP without 'unsafe-eval': refused once, refused always
    }
  }
  return hostLoopClosure(expr, modes);
}

const nan0 = (v: number) => (v !== v ? 0 : v > F32_MAX ? F32_MAX : v < -F32_MAX ? -F32_MAX : v);

/** the loop as JS source, compiled with `new Function` */
export function hostLoopFunction(expr: Expr, modes: Mode[]): HostFn {
  const reads = modes.map((m, k) => `const x${k} = in${k}[${hostIndex(m)}];`).join(' ');
  const body = `
      const f = Math.fround;
      const nan0 = (v) => (v !== v ? 0 : v > ${F32_MAX} ? ${F32_MAX} : v < -${F32_MAX} ? -${F32_MAX} : v);
      const [${modes.map((_, k) => `in${k}`).join(', ')}] = ins;
      for (let i = 0; i < out.length; i++) { ${reads} out[i] = ${toJs(expr)}; }`;
  return new Function('ins', 'out', 'cols', body) as HostFn;
}

type Eval = (x: Float64Array) => number;

const MATH: Record<'abs' | 'sqrt' | 'exp' | 'log' | 'sin' | 'cos' | 'tanh', (v: number) => number> = {
  abs: Math.abs,
  sqrt: Math.sqrt,
  exp: Math.exp,
  log: Math.log,
  sin: Math.sin,
  cos: Math.cos,
  tanh: Math.tanh,
};

/** `e` as nested closures over the element's input values, rounding exactly where toJs's source does */
function closureOf(e: Expr): Eval {
  const f = Math.fround;
  if (e.k === 'in') {
    const i = e.i;
    return (x) => x[i]!;
  }
  if (e.k === 'c') {
    const c = Math.fround(e.v);
    const v = c === 0 ? 0 : c; // toJs prints -0 as 0
    return () => v;
  }
  const [a, b] = e.a.map(closureOf) as [Eval, Eval];
  switch (e.f) {
    case 'add':
      return (x) => f(a(x) + b(x));
    case 'sub':
      return (x) => f(a(x) - b(x));
    case 'mul':
      return (x) => f(a(x) * b(x));
    case 'div':
      return (x) => f(a(x) / b(x));
    case 'neg':
      return (x) => -a(x);
    case 'square':
      return (x) => {
        const v = a(x);
        return f(v * v);
      };
    case 'max':
      return (x) => f(Math.max(a(x), b(x)));
    case 'min':
      return (x) => f(Math.min(a(x), b(x)));
    case 'sigmoid':
      return (x) => f(1 / (1 + Math.exp(-a(x))));
    case 'nan0':
      return (x) => nan0(a(x));
    default: {
      const m = MATH[e.f];
      return (x) => f(m(a(x)));
    }
  }
}

/** the loop without generated code (slower): the same reads, the expression as closures */
export function hostLoopClosure(expr: Expr, modes: Mode[]): HostFn {
  const ev = closureOf(expr);
  return (ins, out, cols) => {
    const x = new Float64Array(modes.length);
    for (let i = 0; i < out.length; i++) {
      for (let k = 0; k < modes.length; k++) {
        const m = modes[k];
        x[k] = ins[k]![m === 'full' ? i : m === 'scalar' ? 0 : m === 'row' ? (i / cols) | 0 : i % cols]!;
      }
      out[i] = ev(x);
    }
  };
}

const wgslIndex = (m: Mode) => (m === 'full' ? 'i' : m === 'scalar' ? '0' : m === 'row' ? 'i / uniforms.cols' : 'i % uniforms.cols');

/** the WGSL body (inside the flat elementwise program of webgpu.ts: `i` the output index, `out` the value) */
function wgslBody(expr: Expr, modes: Mode[]): { helpers: string; body: string } {
  const reads = modes.map((m, k) => `let v${k} = x${k}[${wgslIndex(m)}];`).join(' ');
  const helpers = `
      fn nan0(x : f32) -> f32 {
        if ((bitcast<u32>(x) & 0x7fffffffu) > 0x7f800000u) { return 0.0; }
        return clamp(x, -3.4028234663852886e38, 3.4028234663852886e38);
      }`;
  return { helpers, body: `${reads} out = ${toWgsl(expr)};` };
}
