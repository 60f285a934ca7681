/** @file The source of the WebAssembly SIMD (f32x4) kernels of simd.ts. Edit here, then run
 * `npx tsx scripts/build-simd.ts` to regenerate simd-binary.ts (a test fails while the two disagree). */

import { sigmoidLocals, sigmoidLanes } from './sigmoid.wat.ts';

const splat = (v: number) => `(f32x4.splat (f32.const ${v}))`;

/** the SiLU over n elements at $a into $y, and σ into $s where `withS` */
const siluFunc = (name: string, withS: boolean) => `  (func (export "${name}") (param $a i32) (param $y i32)${withS ? ' (param $s i32)' : ''} (param $n i32)
    (local $i i32) (local $end i32) (local $x v128) ${sigmoidLocals('')}
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
      (local.set $x (v128.load (i32.add (local.get $a) (local.get $i))))
      ${sigmoidLanes('(local.get $x)', '')}${withS ? '\n      (v128.store (i32.add (local.get $s) (local.get $i)) (local.get $f))' : ''}
      (v128.store (i32.add (local.get $y) (local.get $i)) (f32x4.mul (local.get $x) (local.get $f)))
      (local.set $i (i32.add (local.get $i) (i32.const 16)))
      (br $l))))`;

/** the locals of Adam's loop (besides $i and $end) */
export const ADAM_LOCALS =
  '(local $gv v128) (local $mv v128) (local $vv v128) (local $B1 v128) (local $B2 v128) (local $A1 v128) (local $A2 v128) (local $K v128) (local $C2 v128) (local $E v128)';
/** Adam's constants in every lane, from f32 expressions */
export const adamSplats = (k: string, b1: string, b2: string, c2: string, eps: string) => `
    (local.set $B1 (f32x4.splat ${b1}))
    (local.set $B2 (f32x4.splat ${b2}))
    (local.set $A1 (f32x4.splat (f32.sub (f32.const 1) ${b1})))
    (local.set $A2 (f32x4.splat (f32.sub (f32.const 1) ${b2})))
    (local.set $K (f32x4.splat ${k}))
    (local.set $C2 (f32x4.splat ${c2}))
    (local.set $E (f32x4.splat ${eps}))`;
/** Adam's update from byte offset $i to $end of p, g, m, v into po, mo, vo; adam here and the worker pool's range
 * form (gemm.wat.ts) share it, so their bits agree */
export const adamLoop = `(block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (local.get $end)))
      (local.set $gv (v128.load (i32.add (local.get $g) (local.get $i))))
      (local.set $mv (f32x4.add (f32x4.mul (local.get $B1) (v128.load (i32.add (local.get $m) (local.get $i)))) (f32x4.mul (local.get $A1) (local.get $gv))))
      (local.set $vv (f32x4.add (f32x4.mul (local.get $B2) (v128.load (i32.add (local.get $v) (local.get $i)))) (f32x4.mul (local.get $A2) (f32x4.mul (local.get $gv) (local.get $gv)))))
      (v128.store (i32.add (local.get $mo) (local.get $i)) (local.get $mv))
      (v128.store (i32.add (local.get $vo) (local.get $i)) (local.get $vv))
      (v128.store (i32.add (local.get $po) (local.get $i))
        (f32x4.sub (v128.load (i32.add (local.get $p) (local.get $i)))
          (f32x4.div (f32x4.mul (local.get $K) (local.get $mv)) (f32x4.add (f32x4.sqrt (f32x4.div (local.get $vv) (local.get $C2))) (local.get $E)))))
      (local.set $i (i32.add (local.get $i) (i32.const 16)))
      (br $l)))`;

/** The loop both column reductions share: over a row-major [rows, cols] block in f32x4 steps ($off: the element's
 * byte offset, $c: its column's), `body` first, then `sum` (a v128 expression) added into the column sums at `out`. */
const overRowsInColumnSums = (out: string, body: string, sum: string) => String.raw`
    (local.set $rowBytes (i32.shl (local.get $cols) (i32.const 2)))
    (call $zero (local.get ${out}) (local.get $rowBytes))
    (block $done (loop $rows_
      (br_if $done (i32.ge_u (local.get $r) (local.get $rows)))
      (local.set $c (i32.const 0))
      (block $row (loop $cols_
        (br_if $row (i32.ge_u (local.get $c) (local.get $rowBytes)))${body}
        (v128.store (i32.add (local.get ${out}) (local.get $c)) (f32x4.add (v128.load (i32.add (local.get ${out}) (local.get $c))) ${sum}))
        (local.set $off (i32.add (local.get $off) (i32.const 16)))
        (local.set $c (i32.add (local.get $c) (i32.const 16)))
        (br $cols_)))
      (local.set $r (i32.add (local.get $r) (i32.const 1)))
      (br $rows_)))`;

/** the module's WAT; `shared`: it imports a shared memory (tfjs-wasm's heap made shared in Node: shared-heap.ts), else
 * a plain one */
export const simdWat = (shared: boolean) => String.raw`
(module
  (import "env" "memory" (memory ${shared ? '1 65536 shared' : '0'}))

  ;; da = dy·s·(1 + a·(1 − s)); db[c] = Σ_r da[r, c]   (cols % 4 = 0)
  (func (export "silu_grad_bias") (param $dy i32) (param $a i32) (param $s i32) (param $da i32) (param $db i32) (param $rows i32) (param $cols i32)
    (local $r i32) (local $c i32) (local $off i32) (local $rowBytes i32) (local $d v128) (local $sv v128) (local $one v128)
    (local.set $one (f32x4.splat (f32.const 1)))
    ${overRowsInColumnSums('$db', `
        (local.set $sv (v128.load (i32.add (local.get $s) (local.get $off))))
        (local.set $d
          (f32x4.mul
            (f32x4.mul (v128.load (i32.add (local.get $dy) (local.get $off))) (local.get $sv))
            (f32x4.add (local.get $one) (f32x4.mul (v128.load (i32.add (local.get $a) (local.get $off))) (f32x4.sub (local.get $one) (local.get $sv))))))
        (v128.store (i32.add (local.get $da) (local.get $off)) (local.get $d))`, '(local.get $d)')})

  ;; out[c] = Σ_r x[r, c]   (cols % 4 = 0)
  (func (export "column_sum") (param $x i32) (param $out i32) (param $rows i32) (param $cols i32)
    (local $r i32) (local $c i32) (local $off i32) (local $rowBytes i32)
    ${overRowsInColumnSums('$out', '', '(v128.load (i32.add (local.get $x) (local.get $off)))')})

  ;; out[c, r] = x[r, c], in 16×16 blocks (any sizes)
  (func (export "transpose") (param $x i32) (param $out i32) (param $rows i32) (param $cols i32)
    (local $r0 i32) (local $c0 i32) (local $r i32) (local $c i32) (local $r1 i32) (local $c1 i32)
    (block $done (loop $rb
      (br_if $done (i32.ge_u (local.get $r0) (local.get $rows)))
      (local.set $r1 (select (local.get $rows) (i32.add (local.get $r0) (i32.const 16)) (i32.lt_u (local.get $rows) (i32.add (local.get $r0) (i32.const 16)))))
      (local.set $c0 (i32.const 0))
      (block $rowdone (loop $cb
        (br_if $rowdone (i32.ge_u (local.get $c0) (local.get $cols)))
        (local.set $c1 (select (local.get $cols) (i32.add (local.get $c0) (i32.const 16)) (i32.lt_u (local.get $cols) (i32.add (local.get $c0) (i32.const 16)))))
        (local.set $r (local.get $r0))
        (block $bd (loop $rl
          (br_if $bd (i32.ge_u (local.get $r) (local.get $r1)))
          (local.set $c (local.get $c0))
          (block $cd (loop $cl
            (br_if $cd (i32.ge_u (local.get $c) (local.get $c1)))
            (i32.store
              (i32.add (local.get $out) (i32.shl (i32.add (i32.mul (local.get $c) (local.get $rows)) (local.get $r)) (i32.const 2)))
              (i32.load (i32.add (local.get $x) (i32.shl (i32.add (i32.mul (local.get $r) (local.get $cols)) (local.get $c)) (i32.const 2)))))
            (local.set $c (i32.add (local.get $c) (i32.const 1)))
            (br $cl)))
          (local.set $r (i32.add (local.get $r) (i32.const 1)))
          (br $rl)))
        (local.set $c0 (local.get $c1))
        (br $cb)))
      (local.set $r0 (local.get $r1))
      (br $rb))))

  ;; out[c, r] = x[r, c] in 4×4 register blocks (rows % 4 = 0, cols % 4 = 0): four row loads, eight shuffles, four
  ;; column stores
  (func (export "transpose4") (param $x i32) (param $out i32) (param $rows i32) (param $cols i32)
    (local $r i32) (local $c i32) (local $src i32) (local $dst i32) (local $rowBytes i32) (local $colBytes i32)
    (local $r0 v128) (local $r1 v128) (local $r2 v128) (local $r3 v128) (local $t0 v128) (local $t1 v128) (local $t2 v128) (local $t3 v128)
    (local.set $rowBytes (i32.shl (local.get $cols) (i32.const 2)))
    (local.set $colBytes (i32.shl (local.get $rows) (i32.const 2)))
    (block $done (loop $rl
      (br_if $done (i32.ge_u (local.get $r) (local.get $rows)))
      (local.set $c (i32.const 0))
      (block $row (loop $cl
        (br_if $row (i32.ge_u (local.get $c) (local.get $cols)))
        (local.set $src (i32.add (local.get $x) (i32.shl (i32.add (i32.mul (local.get $r) (local.get $cols)) (local.get $c)) (i32.const 2))))
        (local.set $r0 (v128.load (local.get $src)))
        (local.set $r1 (v128.load (i32.add (local.get $src) (local.get $rowBytes))))
        (local.set $r2 (v128.load (i32.add (local.get $src) (i32.shl (local.get $rowBytes) (i32.const 1)))))
        (local.set $r3 (v128.load (i32.add (local.get $src) (i32.mul (local.get $rowBytes) (i32.const 3)))))
        (local.set $t0 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $r0) (local.get $r1)))
        (local.set $t1 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $r0) (local.get $r1)))
        (local.set $t2 (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23 (local.get $r2) (local.get $r3)))
        (local.set $t3 (i8x16.shuffle 8 9 10 11 24 25 26 27 12 13 14 15 28 29 30 31 (local.get $r2) (local.get $r3)))
        (local.set $dst (i32.add (local.get $out) (i32.shl (i32.add (i32.mul (local.get $c) (local.get $rows)) (local.get $r)) (i32.const 2))))
        (v128.store (local.get $dst) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t0) (local.get $t2)))
        (v128.store (i32.add (local.get $dst) (local.get $colBytes)) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t0) (local.get $t2)))
        (v128.store (i32.add (local.get $dst) (i32.shl (local.get $colBytes) (i32.const 1))) (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $t1) (local.get $t3)))
        (v128.store (i32.add (local.get $dst) (i32.mul (local.get $colBytes) (i32.const 3))) (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $t1) (local.get $t3)))
        (local.set $c (i32.add (local.get $c) (i32.const 4)))
        (br $cl)))
      (local.set $r (i32.add (local.get $r) (i32.const 4)))
      (br $rl))))

  ;; s = σ(a), y = a·s over n elements (n % 4 = 0), σ as tfjs-wasm's XNNPACK computes it (defs.ts sigmoidWasm):
  ;; e = e^−|a| = 2^k·p(t), f = e/(1 + e) (0 past the cutoff), s = f for a ≤ 0 and 1 − f for a > 0
${siluFunc('silu_forward', true)}

  ;; y = a·σ(a) alone, σ as in silu_forward (the same bits as its y); y may be a (in place)
${siluFunc('silu_out', false)}

  ;; Σ x[i]² over n elements (n % 4 = 0)
  (func (export "sum_squares") (param $x i32) (param $n i32) (result f32)
    (local $end i32) (local $acc v128) (local $v v128)
    (local.set $end (i32.add (local.get $x) (i32.shl (local.get $n) (i32.const 2))))
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $x) (local.get $end)))
      (local.set $v (v128.load (local.get $x)))
      (local.set $acc (f32x4.add (local.get $acc) (f32x4.mul (local.get $v) (local.get $v))))
      (local.set $x (i32.add (local.get $x) (i32.const 16)))
      (br $l)))
    (f32.add
      (f32.add (f32x4.extract_lane 0 (local.get $acc)) (f32x4.extract_lane 1 (local.get $acc)))
      (f32.add (f32x4.extract_lane 2 (local.get $acc)) (f32x4.extract_lane 3 (local.get $acc)))))

  ;; Adam over n elements (n % 4 = 0): m' = β1·m + (1−β1)·g, v' = β2·v + (1−β2)·g², p' = p − k·m' / (√(v'/c2) + ε)
  (func (export "adam") (param $p i32) (param $g i32) (param $m i32) (param $v i32) (param $po i32) (param $mo i32) (param $vo i32) (param $n i32)
        (param $k f32) (param $b1 f32) (param $b2 f32) (param $c2 f32) (param $eps f32)
    (local $i i32) (local $end i32) ${ADAM_LOCALS}
    ${adamSplats('(local.get $k)', '(local.get $b1)', '(local.get $b2)', '(local.get $c2)', '(local.get $eps)')}
    (local.set $end (i32.shl (local.get $n) (i32.const 2)))
    ${adamLoop})

  (func $zero (param $p i32) (param $bytes i32)
    (local $i i32)
    (block $done (loop $l
      (br_if $done (i32.ge_u (local.get $i) (local.get $bytes)))
      (v128.store (i32.add (local.get $p) (local.get $i)) (v128.const i32x4 0 0 0 0))
      (local.set $i (i32.add (local.get $i) (i32.const 16)))
      (br $l))))
)`;
