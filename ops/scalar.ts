/** @file Scalar expressions: how an elementwise op computes one element. The planner composes them into one
 * expression per fused group; gpu/ emits it as a JS loop (cpu, wasm) or a WGSL program (webgpu). */

export type ScalarFn = 'add' | 'sub' | 'mul' | 'div' | 'neg' | 'abs' | 'square' | 'sqrt' | 'exp' | 'log' | 'sin' | 'cos' | 'tanh' | 'sigmoid' | 'max' | 'min' | 'nan0';
export type Expr = { k: 'in'; i: number } | { k: 'c'; v: number } | { k: 'f'; f: ScalarFn; a: Expr[] };

export const input = (i: number): Expr => ({ k: 'in', i });
export const constant = (v: number): Expr => ({ k: 'c', v });
export const call = (f: ScalarFn, ...a: Expr[]): Expr => ({ k: 'f', f, a });

/** `e` with input `i` read as the expression `by` */
export const withInput = (e: Expr, i: number, by: Expr): Expr =>
  e.k === 'in' ? (e.i === i ? by : e) : e.k === 'c' ? e : call(e.f, ...e.a.map((x) => withInput(x, i, by)));

/** float32's largest finite value: nan_to_num's clamp */
export const F32_MAX = 3.4028234663852886e38;

/** JavaScript for `e` over `x0…` (every operation rounded to float32, as tfjs computes it op by op) */
export function toJs(e: Expr): string {
  if (e.k === 'in') return `x${e.i}`;
  if (e.k === 'c') return `(${Math.fround(e.v)})`; // parenthesised: `-(-1)`, not the syntax error `--1`
  const [a, b] = e.a.map(toJs);
  const r = (s: string) => `f(${s})`;
  switch (e.f) {
    case 'add':
      return r(`${a} + ${b}`);
    case 'sub':
      return r(`${a} - ${b}`);
    case 'mul':
      return r(`${a} * ${b}`);
    case 'div':
      return r(`${a} / ${b}`);
    case 'neg':
      return `(-${a})`;
    case 'square':
      return r(`${a} * ${a}`);
    case 'max':
      return r(`Math.max(${a}, ${b})`);
    case 'min':
      return r(`Math.min(${a}, ${b})`);
    case 'sigmoid':
      return r(`1 / (1 + Math.exp(-${a}))`);
    case 'nan0':
      return `nan0(${a})`;
    default:
      return r(`Math.${e.f}(${a})`);
  }
}

/** WGSL for `e` over `v0…` (f32 values) */
export function toWgsl(e: Expr): string {
  if (e.k === 'in') return `v${e.i}`;
  if (e.k === 'c') return `f32(${e.v === Infinity ? 'uniforms.INFINITY' : e.v === -Infinity ? '-uniforms.INFINITY' : Number.isNaN(e.v) ? 'uniforms.NAN' : fmt(e.v)})`;
  const [a, b] = e.a.map(toWgsl);
  switch (e.f) {
    case 'add':
      return `(${a} + ${b})`;
    case 'sub':
      return `(${a} - ${b})`;
    case 'mul':
      return `(${a} * ${b})`;
    case 'div':
      return `(${a} / ${b})`;
    case 'neg':
      return `(-${a})`;
    case 'square':
      return `(${a} * ${a})`;
    case 'sigmoid':
      return `(1.0 / (1.0 + exp(-${a})))`;
    case 'nan0':
      return `nan0(${a})`;
    default:
      return `${e.f}(${a}${b === undefined ? '' : `, ${b}`})`;
  }
}

/** a WGSL float literal that round-trips (abstract float, converted by f32()) */
const fmt = (v: number) => (Number.isInteger(v) && Math.abs(v) < 1e15 ? `${v}.0` : v.toExponential(17));
