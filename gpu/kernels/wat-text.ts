/** @file Small builders of WAT text shared by the matrix products' generators (gemm.wat.ts, gemm-narrow.wat.ts). */

export const get = (n: string) => `(local.get $${n})`;
export const add = (a: string, b: string) => `(i32.add ${a} ${b})`;
export const mul = (a: string, b: string) => `(i32.mul ${a} ${b})`;
export const range = (n: number) => Array.from({ length: n }, (_, i) => i);
