/** @file σ on four f32 lanes as WAT statements, in the steps and order of tfjs-wasm's own sigmoid (defs.ts
 * `sigmoidWasm`, XNNPACK's p5-div polynomial), for the kernels that compute a SiLU: simd.wat.ts's `silu_forward` and
 * the matrix products' SiLU epilogue (gemm.wat.ts). */
import { SIGMOID_WASM as SIG } from './defs.ts';

const splat = (v: number) => `(f32x4.splat (f32.const ${v}))`;

/** the v128 locals `sigmoidLanes` uses, named with `p` (so that several uses in one function can keep theirs apart) */
export const sigmoidLocals = (p: string) => ['z', 'k', 'two', 't', 'q', 'e', 'f'].map((n) => `(local $${p}${n} v128)`).join(' ');

/** statements that leave σ(x) in $`p`f, for the v128 expression `x` (read twice: pass a local.get):
 * e = e^−|x| = 2^k·q(t), f = e/(1 + e) (0 past the cutoff), σ = f for x ≤ 0 and 1 − f for x > 0 */
export function sigmoidLanes(x: string, p: string): string {
  const l = (n: string) => `(local.get $${p}${n})`;
  const set = (n: string, v: string) => `(local.set $${p}${n} ${v})`;
  return [
    set('z', `(f32x4.abs ${x})`),
    set('k', `(f32x4.add (f32x4.mul ${l('z')} ${splat(SIG.minusLog2e)}) ${splat(SIG.magic)})`),
    set('two', `(i32x4.shl ${l('k')} (i32.const 23))`),
    set('k', `(f32x4.sub ${l('k')} ${splat(SIG.magic)})`),
    set('t', `(f32x4.add (f32x4.mul ${l('k')} ${splat(SIG.ln2hi)}) ${l('z')})`),
    set('t', `(f32x4.add (f32x4.mul ${l('k')} ${splat(SIG.ln2lo)}) ${l('t')})`),
    set('q', `(f32x4.add (f32x4.mul ${l('t')} ${splat(SIG.c[4]!)}) ${splat(SIG.c[3]!)})`),
    set('q', `(f32x4.add (f32x4.mul ${l('t')} ${l('q')}) ${splat(SIG.c[2]!)})`),
    set('q', `(f32x4.add (f32x4.mul ${l('t')} ${l('q')}) ${splat(SIG.c[1]!)})`),
    set('q', `(f32x4.add (f32x4.mul ${l('t')} ${l('q')}) ${splat(SIG.c[0]!)})`),
    set('t', `(f32x4.mul ${l('t')} ${l('two')})`),
    set('e', `(f32x4.add (f32x4.mul ${l('t')} ${l('q')}) ${l('two')})`),
    set('f', `(f32x4.div ${l('e')} (f32x4.add ${l('e')} ${splat(1)}))`),
    set('f', `(v128.andnot ${l('f')} (f32x4.gt ${l('z')} ${splat(SIG.cutoff)}))`),
    set('f', `(v128.bitselect (f32x4.sub ${splat(1)} ${l('f')}) ${l('f')} (f32x4.gt ${x} ${splat(0)}))`),
  ].join('\n      ');
}
