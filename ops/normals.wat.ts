/**
 * @file The source of ops/normals-binary.ts: the Rng's normal draws (xoshiro128** then Box–Muller) as one WebAssembly
 * loop. Edit here, then run `npx tsx scripts/build-simd.ts` (a test fails while the two disagree).
 *
 * The draws must stay the bits that `Math.log`, `Math.cos` and `Math.sin` give in Node 20, whose V8 computes them with
 * fdlibm. So log, the reduction by π/2 and the two kernel polynomials below are fdlibm's algorithms, with its constants
 * and its order of operations, restricted to the arguments Box–Muller makes: log of 1 − u in [2⁻³², 1] and sin, cos of
 * 2πu in [0, 2π). wasm has no fused multiply-add and rounds every f64 operation as C does on x86-64, so each result is
 * the same double; tests/ops/normals.test.ts compares them with `Math` on millions of draws and on edge values.
 */

/** a double as an exact hexadecimal float literal (WAT parses decimal literals too, but this leaves no doubt) */
function hex(v: number): string {
  if (v === 0) return Object.is(v, -0) ? '-0x0p+0' : '0x0p+0';
  const bits = new DataView(new ArrayBuffer(8));
  bits.setFloat64(0, v);
  const hi = bits.getUint32(0);
  const lo = bits.getUint32(4);
  const sign = hi >>> 31 ? '-' : '';
  const exp = (hi >>> 20) & 0x7ff;
  if (exp === 0 || exp === 0x7ff) throw new Error(`normals.wat: constant ${v} is not a normal double`);
  const mantissa = ((hi & 0xfffff).toString(16).padStart(5, '0') + lo.toString(16).padStart(8, '0')).replace(/0+$/, '');
  return `${sign}0x1${mantissa ? '.' + mantissa : ''}p${exp - 1023 >= 0 ? '+' : ''}${exp - 1023}`;
}
const f = (v: number) => `(f64.const ${hex(v)})`;

// fdlibm's constants, as written there (decimal, to 21 digits)
const LN2_HI = 6.93147180369123816490e-1;
const LN2_LO = 1.90821492927058770002e-10;
const LG = [6.666666666666735130e-1, 3.999999999940941908e-1, 2.857142874366239149e-1, 2.222219843214978396e-1, 1.818357216161805012e-1, 1.531383769920937332e-1, 1.479819860511658591e-1];
const C = [4.16666666666666019037e-2, -1.38888888888741095749e-3, 2.48015872894767294178e-5, -2.75573143513906633035e-7, 2.08757232129817482790e-9, -1.13596475577881948265e-11];
const S = [-1.66666666666666324348e-1, 8.33333333332248946124e-3, -1.98412698298579493134e-4, 2.75573137070700676789e-6, -2.50507602534068634195e-8, 1.58969099521155010221e-10];
const INVPIO2 = 6.36619772367581382433e-1;
const PIO2_1 = 1.57079632673412561417;
const PIO2_1T = 6.07710050650619224932e-11;
const PIO2_2 = 6.07710050630396597660e-11;
const PIO2_2T = 2.02226624879595063154e-21;
const PIO2_3 = 2.02226624871116645580e-21;
const PIO2_3T = 8.47842766036889956997e-32;
/** high words of n·π/2, n = 1 … 32: where the reduction's first step may cancel */
const NPIO2_HW = [
  0x3ff921fb, 0x400921fb, 0x4012d97c, 0x401921fb, 0x401f6a7a, 0x4022d97c, 0x4025fdbb, 0x402921fb, 0x402c463a, 0x402f6a7a, 0x4031475c,
  0x4032d97c, 0x40346b9c, 0x4035fdbb, 0x40378fdb, 0x403921fb, 0x403ab41b, 0x403c463a, 0x403dd85a, 0x403f6a7a, 0x40407e4c, 0x4041475c,
  0x4042106c, 0x4042d97c, 0x4043a28c, 0x40446b9c, 0x404534ac, 0x4045fdbb, 0x4046c6cb, 0x40478fdb, 0x404858eb, 0x404921fb,
];

/** the module's memory: the xoshiro128** state (4 words) at STATE, the table above at TABLE, the output (f32) from OUT on */
export const STATE = 0;
const TABLE = 16;
export const OUT = 256;
/** Horner's rule as fdlibm writes it: c[0] + z·(c[1] + z·(… + z·c[last])) */
const horner = (z: string, cs: number[]): string =>
  cs.length === 1 ? f(cs[0]!) : `(f64.add ${f(cs[0]!)} (f64.mul ${z} ${horner(z, cs.slice(1))}))`;

const hi = (x: string) => `(i32.wrap_i64 (i64.shr_u (i64.reinterpret_f64 ${x}) (i64.const 32)))`;

// f64x2 helpers for the loop that computes two pairs at once
const vf = (v: number) => `(v128.const f64x2 ${hex(v)} ${hex(v)})`;
const vi = (v: number) => `(v128.const i64x2 ${v} ${v})`;
/** Horner's rule on both lanes */
const vhorner = (z: string, cs: number[]): string =>
  cs.length === 1 ? vf(cs[0]!) : `(f64x2.add ${vf(cs[0]!)} (f64x2.mul ${z} ${vhorner(z, cs.slice(1))}))`;
/** both lanes' high words, as i64 lanes */
const vhi = (x: string) => `(i64x2.shr_u ${x} (i32.const 32))`;
/** i32 lanes 0 and 2 (the low words of two i64 lanes) moved to lanes 0 and 1 */
const low32 = (x: string) => `(i8x16.shuffle 0 1 2 3 8 9 10 11 0 1 2 3 0 1 2 3 ${x} ${x})`;
/** an i64-lane mask from the i32-lane mask of lanes 0 and 1 */
const wide = (m: string) => `(i64x2.extend_low_i32x4_s ${m})`;
/** where lane `lane` of `mask` is set, `fix` (a statement using lane `lane`) */
const perLane = (mask: string, fix: (lane: number) => string) =>
  [0, 1].map((lane) => `(if (i64.ne (i64x2.extract_lane ${lane} ${mask}) (i64.const 0)) (then ${fix(lane)}))`).join('\n      ');

/** one xoshiro128** step: `dst` = rotl(s1·5, 7)·9, then the state moves on */
const draw = (dst: string) => `
      (local.set ${dst} (i32.mul (i32.rotl (i32.mul (local.get $s1) (i32.const 5)) (i32.const 7)) (i32.const 9)))
      (local.set $t (i32.shl (local.get $s1) (i32.const 9)))
      (local.set $s2 (i32.xor (local.get $s2) (local.get $s0)))
      (local.set $s3 (i32.xor (local.get $s3) (local.get $s1)))
      (local.set $s1 (i32.xor (local.get $s1) (local.get $s2)))
      (local.set $s0 (i32.xor (local.get $s0) (local.get $s3)))
      (local.set $s2 (i32.xor (local.get $s2) (local.get $t)))
      (local.set $s3 (i32.rotl (local.get $s3) (i32.const 11)))`;
/** a uint32 draw as a uniform in [0, 1): u/2³² (exact) */
const uniform = (u: string) => `(f64.mul (f64.convert_i32_u (local.get ${u})) ${f(2 ** -32)})`;
const vuniform = (a: string, b: string) =>
  `(f64x2.mul (f64x2.convert_low_i32x4_u (i32x4.replace_lane 1 (i32x4.splat (local.get ${a})) (local.get ${b}))) ${vf(2 ** -32)})`;

/** the scalar loop's cos and sin of $th into $c and $s (fdlibm's cos and sin, one reduction for both) */
const sincos = String.raw`
      (if (i32.le_s (i32.wrap_i64 (i64.shr_u (i64.reinterpret_f64 (local.get $th)) (i64.const 32))) (i32.const 0x3fe921fb))
        (then
          (local.set $c (call $kcos (local.get $th) (f64.const 0)))
          (local.set $s (call $ksin (local.get $th) (f64.const 0) (i32.const 0))))
        (else
          (local.set $q (i32.and (call $rem_pio2 (local.get $th)) (i32.const 3)))
          (local.set $c (call $kcos (global.get $y0) (global.get $y1)))
          (local.set $s (call $ksin (global.get $y0) (global.get $y1) (i32.const 1)))
          ;; cos and sin of x = nπ/2 + y from those of y
          (if (i32.eq (local.get $q) (i32.const 1)) (then
            (local.set $th (local.get $c))
            (local.set $c (f64.neg (local.get $s)))
            (local.set $s (local.get $th))))
          (if (i32.eq (local.get $q) (i32.const 2)) (then
            (local.set $c (f64.neg (local.get $c)))
            (local.set $s (f64.neg (local.get $s)))))
          (if (i32.eq (local.get $q) (i32.const 3)) (then
            (local.set $th (local.get $c))
            (local.set $c (local.get $s))
            (local.set $s (f64.neg (local.get $th)))))))`;

export const normalsWat = () => String.raw`
(module
  (memory (export "memory") 1)
  (data (i32.const ${TABLE}) "${NPIO2_HW.map((w) => [0, 8, 16, 24].map((s) => '\\' + ((w >>> s) & 0xff).toString(16).padStart(2, '0')).join('')).join('')}")
  (global $y0 (mut f64) (f64.const 0))
  (global $y1 (mut f64) (f64.const 0))
  (global $vsin (mut v128) (v128.const i64x2 0 0))

  ;; fdlibm's log for a normal, positive, finite x
  (func $log (param $x f64) (result f64)
    (local $hx i32) (local $k i32) (local $i i32) (local $j i32)
    (local $f f64) (local $s f64) (local $z f64) (local $w f64) (local $R f64) (local $dk f64) (local $hfsq f64) (local $t1 f64) (local $t2 f64)
    (local.set $hx ${hi('(local.get $x)')})
    (if (i32.or (i32.lt_s (local.get $hx) (i32.const 0x00100000)) (i32.ge_s (local.get $hx) (i32.const 0x7ff00000))) (then (unreachable)))
    (local.set $k (i32.sub (i32.shr_s (local.get $hx) (i32.const 20)) (i32.const 1023)))
    (local.set $hx (i32.and (local.get $hx) (i32.const 0x000fffff)))
    (local.set $i (i32.and (i32.add (local.get $hx) (i32.const 0x95f64)) (i32.const 0x100000)))
    ;; normalise x or x/2: its high word becomes hx | (i ^ 0x3ff00000)
    (local.set $x (f64.reinterpret_i64 (i64.or
      (i64.and (i64.reinterpret_f64 (local.get $x)) (i64.const 0xffffffff))
      (i64.shl (i64.extend_i32_u (i32.or (local.get $hx) (i32.xor (local.get $i) (i32.const 0x3ff00000)))) (i64.const 32)))))
    (local.set $k (i32.add (local.get $k) (i32.shr_s (local.get $i) (i32.const 20))))
    (local.set $f (f64.sub (local.get $x) (f64.const 1)))
    (if (i32.lt_s (i32.and (i32.const 0x000fffff) (i32.add (i32.const 2) (local.get $hx))) (i32.const 3)) (then
      ;; −2⁻²⁰ ≤ f < 2⁻²⁰
      (if (f64.eq (local.get $f) (f64.const 0)) (then
        (if (i32.eqz (local.get $k)) (then (return (f64.const 0))))
        (local.set $dk (f64.convert_i32_s (local.get $k)))
        (return (f64.add (f64.mul (local.get $dk) ${f(LN2_HI)}) (f64.mul (local.get $dk) ${f(LN2_LO)})))))
      (local.set $R (f64.mul (f64.mul (local.get $f) (local.get $f)) (f64.sub ${f(0.5)} (f64.mul ${f(0.33333333333333333)} (local.get $f)))))
      (if (i32.eqz (local.get $k)) (then (return (f64.sub (local.get $f) (local.get $R)))))
      (local.set $dk (f64.convert_i32_s (local.get $k)))
      (return (f64.sub (f64.mul (local.get $dk) ${f(LN2_HI)}) (f64.sub (f64.sub (local.get $R) (f64.mul (local.get $dk) ${f(LN2_LO)})) (local.get $f))))))
    (local.set $s (f64.div (local.get $f) (f64.add (f64.const 2) (local.get $f))))
    (local.set $dk (f64.convert_i32_s (local.get $k)))
    (local.set $z (f64.mul (local.get $s) (local.get $s)))
    (local.set $i (i32.sub (local.get $hx) (i32.const 0x6147a)))
    (local.set $w (f64.mul (local.get $z) (local.get $z)))
    (local.set $j (i32.sub (i32.const 0x6b851) (local.get $hx)))
    (local.set $t1 (f64.mul (local.get $w) ${horner('(local.get $w)', [LG[1]!, LG[3]!, LG[5]!])}))
    (local.set $t2 (f64.mul (local.get $z) ${horner('(local.get $w)', [LG[0]!, LG[2]!, LG[4]!, LG[6]!])}))
    (local.set $i (i32.or (local.get $i) (local.get $j)))
    (local.set $R (f64.add (local.get $t2) (local.get $t1)))
    (if (i32.gt_s (local.get $i) (i32.const 0)) (then
      (local.set $hfsq (f64.mul (f64.mul (f64.const 0.5) (local.get $f)) (local.get $f)))
      (if (i32.eqz (local.get $k)) (then
        (return (f64.sub (local.get $f) (f64.sub (local.get $hfsq) (f64.mul (local.get $s) (f64.add (local.get $hfsq) (local.get $R))))))))
      (return (f64.sub (f64.mul (local.get $dk) ${f(LN2_HI)})
        (f64.sub (f64.sub (local.get $hfsq) (f64.add (f64.mul (local.get $s) (f64.add (local.get $hfsq) (local.get $R))) (f64.mul (local.get $dk) ${f(LN2_LO)}))) (local.get $f))))))
    (if (i32.eqz (local.get $k)) (then
      (return (f64.sub (local.get $f) (f64.mul (local.get $s) (f64.sub (local.get $f) (local.get $R)))))))
    (f64.sub (f64.mul (local.get $dk) ${f(LN2_HI)})
      (f64.sub (f64.sub (f64.mul (local.get $s) (f64.sub (local.get $f) (local.get $R))) (f64.mul (local.get $dk) ${f(LN2_LO)})) (local.get $f))))

  ;; fdlibm's cos kernel on [−π/4, π/4]: x + y, y the tail of x
  (func $kcos (param $x f64) (param $y f64) (result f64)
    (local $ix i32) (local $z f64) (local $r f64) (local $qx f64)
    (local.set $ix (i32.and ${hi('(local.get $x)')} (i32.const 0x7fffffff)))
    (if (i32.lt_s (local.get $ix) (i32.const 0x3e400000)) (then (return (f64.const 1))))
    (local.set $z (f64.mul (local.get $x) (local.get $x)))
    (local.set $r (f64.mul (local.get $z) ${horner('(local.get $z)', C)}))
    (if (i32.lt_s (local.get $ix) (i32.const 0x3fd33333)) (then
      (return (f64.sub (f64.const 1) (f64.sub (f64.mul (f64.const 0.5) (local.get $z)) (f64.sub (f64.mul (local.get $z) (local.get $r)) (f64.mul (local.get $x) (local.get $y))))))))
    (local.set $qx (if (result f64) (i32.gt_s (local.get $ix) (i32.const 0x3fe90000))
      (then ${f(0.28125)})
      (else (f64.reinterpret_i64 (i64.shl (i64.extend_i32_u (i32.sub (local.get $ix) (i32.const 0x00200000))) (i64.const 32))))))
    (f64.sub (f64.sub (f64.const 1) (local.get $qx))
      (f64.sub (f64.sub (f64.mul (f64.const 0.5) (local.get $z)) (local.get $qx)) (f64.sub (f64.mul (local.get $z) (local.get $r)) (f64.mul (local.get $x) (local.get $y))))))

  ;; fdlibm's sin kernel on [−π/4, π/4]; $iy = 0: the tail y is 0
  (func $ksin (param $x f64) (param $y f64) (param $iy i32) (result f64)
    (local $z f64) (local $v f64) (local $r f64)
    (if (i32.lt_s (i32.and ${hi('(local.get $x)')} (i32.const 0x7fffffff)) (i32.const 0x3e400000)) (then (return (local.get $x))))
    (local.set $z (f64.mul (local.get $x) (local.get $x)))
    (local.set $v (f64.mul (local.get $z) (local.get $x)))
    (local.set $r ${horner('(local.get $z)', S.slice(1))})
    (if (i32.eqz (local.get $iy)) (then
      (return (f64.add (local.get $x) (f64.mul (local.get $v) (f64.add ${f(S[0]!)} (f64.mul (local.get $z) (local.get $r))))))))
    (f64.sub (local.get $x)
      (f64.sub (f64.sub (f64.mul (local.get $z) (f64.sub (f64.mul (f64.const 0.5) (local.get $y)) (f64.mul (local.get $v) (local.get $r)))) (local.get $y))
        (f64.mul (local.get $v) ${f(S[0]!)}))))

  ;; fdlibm's x rem π/2 for π/4 < x ≤ 2¹⁹·π/2: returns n, leaves the remainder in $y0 + $y1
  (func $rem_pio2 (param $x f64) (result i32)
    (local $ix i32) (local $n i32) (local $j i32) (local $i i32)
    (local $z f64) (local $t f64) (local $fn f64) (local $r f64) (local $w f64)
    (local.set $ix ${hi('(local.get $x)')})
    (if (i32.or (i32.le_s (local.get $ix) (i32.const 0x3fe921fb)) (i32.gt_s (local.get $ix) (i32.const 0x413921fb))) (then (unreachable)))
    (if (i32.lt_s (local.get $ix) (i32.const 0x4002d97c)) (then
      ;; x < 3π/4: n = 1
      (local.set $z (f64.sub (local.get $x) ${f(PIO2_1)}))
      (if (i32.ne (local.get $ix) (i32.const 0x3ff921fb))
        (then
          (global.set $y0 (f64.sub (local.get $z) ${f(PIO2_1T)}))
          (global.set $y1 (f64.sub (f64.sub (local.get $z) (global.get $y0)) ${f(PIO2_1T)})))
        (else
          (local.set $z (f64.sub (local.get $z) ${f(PIO2_2)}))
          (global.set $y0 (f64.sub (local.get $z) ${f(PIO2_2T)}))
          (global.set $y1 (f64.sub (f64.sub (local.get $z) (global.get $y0)) ${f(PIO2_2T)}))))
      (return (i32.const 1))))
    (local.set $t (local.get $x))
    (local.set $n (i32.trunc_f64_s (f64.add (f64.mul (local.get $t) ${f(INVPIO2)}) (f64.const 0.5))))
    (local.set $fn (f64.convert_i32_s (local.get $n)))
    (local.set $r (f64.sub (local.get $t) (f64.mul (local.get $fn) ${f(PIO2_1)})))
    (local.set $w (f64.mul (local.get $fn) ${f(PIO2_1T)}))
    (global.set $y0 (f64.sub (local.get $r) (local.get $w)))
    (block $quick
      ;; the table's index is masked so that its load stays in this module's first bytes when n ≥ 32 (the test is false then)
      (br_if $quick (i32.and (i32.lt_s (local.get $n) (i32.const 32))
        (i32.ne (local.get $ix) (i32.load (i32.add (i32.const ${TABLE - 4}) (i32.shl (i32.and (local.get $n) (i32.const 31)) (i32.const 2)))))))
        ;; x is near a multiple of π/2: more bits of π/2 where the first step cancelled
        (local.set $j (i32.shr_s (local.get $ix) (i32.const 20)))
        (local.set $i (i32.sub (local.get $j) (i32.and (i32.shr_u ${hi('(global.get $y0)')} (i32.const 20)) (i32.const 0x7ff))))
        (if (i32.gt_s (local.get $i) (i32.const 16)) (then
          (local.set $t (local.get $r))
          (local.set $w (f64.mul (local.get $fn) ${f(PIO2_2)}))
          (local.set $r (f64.sub (local.get $t) (local.get $w)))
          (local.set $w (f64.sub (f64.mul (local.get $fn) ${f(PIO2_2T)}) (f64.sub (f64.sub (local.get $t) (local.get $r)) (local.get $w))))
          (global.set $y0 (f64.sub (local.get $r) (local.get $w)))
          (local.set $i (i32.sub (local.get $j) (i32.and (i32.shr_u ${hi('(global.get $y0)')} (i32.const 20)) (i32.const 0x7ff))))
          (if (i32.gt_s (local.get $i) (i32.const 49)) (then
            (local.set $t (local.get $r))
            (local.set $w (f64.mul (local.get $fn) ${f(PIO2_3)}))
            (local.set $r (f64.sub (local.get $t) (local.get $w)))
            (local.set $w (f64.sub (f64.mul (local.get $fn) ${f(PIO2_3T)}) (f64.sub (f64.sub (local.get $t) (local.get $r)) (local.get $w))))
            (global.set $y0 (f64.sub (local.get $r) (local.get $w))))))))
    (global.set $y1 (f64.sub (f64.sub (local.get $r) (global.get $y0)) (local.get $w)))
    (local.get $n))

  ;; $log on both lanes, without branches; the rare lanes (−2⁻²⁰ ≤ f < 2⁻²⁰, where fdlibm branches) through $log
  (func $vlog (param $x0 v128) (result v128)
    (local $x v128) (local $hx v128) (local $k v128) (local $i v128) (local $f v128) (local $s v128) (local $z v128)
    (local $w v128) (local $R v128) (local $dk v128) (local $hfsq v128) (local $lg v128) (local $rare v128)
    (local.set $hx ${vhi('(local.get $x0)')})
    (local.set $k (i64x2.sub (i64x2.shr_u (local.get $hx) (i32.const 20)) ${vi(1023)}))
    (local.set $hx (v128.and (local.get $hx) ${vi(0xfffff)}))
    (local.set $i (v128.and (i64x2.add (local.get $hx) ${vi(0x95f64)}) ${vi(0x100000)}))
    (local.set $x (v128.or (v128.and (local.get $x0) ${vi(0xffffffff)})
      (i64x2.shl (v128.or (local.get $hx) (v128.xor (local.get $i) ${vi(0x3ff00000)})) (i32.const 32))))
    (local.set $k (i64x2.add (local.get $k) (i64x2.shr_u (local.get $i) (i32.const 20))))
    (local.set $f (f64x2.sub (local.get $x) ${vf(1)}))
    (local.set $s (f64x2.div (local.get $f) (f64x2.add ${vf(2)} (local.get $f))))
    (local.set $dk (f64x2.convert_low_i32x4_s ${low32('(local.get $k)')}))
    (local.set $z (f64x2.mul (local.get $s) (local.get $s)))
    (local.set $w (f64x2.mul (local.get $z) (local.get $z)))
    (local.set $R (f64x2.add (f64x2.mul (local.get $z) ${vhorner('(local.get $w)', [LG[0]!, LG[2]!, LG[4]!, LG[6]!])})
      (f64x2.mul (local.get $w) ${vhorner('(local.get $w)', [LG[1]!, LG[3]!, LG[5]!])})))
    (local.set $hfsq (f64x2.mul (f64x2.mul ${vf(0.5)} (local.get $f)) (local.get $f)))
    ;; fdlibm's two tails (k = 0 is the same expression with dk = 0: 0·c = 0 and 0 − v = −v, f − a = −(a − f))
    (local.set $lg (v128.bitselect
      (f64x2.sub (f64x2.mul (local.get $dk) ${vf(LN2_HI)})
        (f64x2.sub (f64x2.sub (local.get $hfsq) (f64x2.add (f64x2.mul (local.get $s) (f64x2.add (local.get $hfsq) (local.get $R))) (f64x2.mul (local.get $dk) ${vf(LN2_LO)}))) (local.get $f)))
      (f64x2.sub (f64x2.mul (local.get $dk) ${vf(LN2_HI)})
        (f64x2.sub (f64x2.sub (f64x2.mul (local.get $s) (f64x2.sub (local.get $f) (local.get $R))) (f64x2.mul (local.get $dk) ${vf(LN2_LO)})) (local.get $f)))
      (i64x2.gt_s (v128.or (i64x2.sub (local.get $hx) ${vi(0x6147a)}) (i64x2.sub ${vi(0x6b851)} (local.get $hx))) ${vi(0)})))
    (local.set $rare (i64x2.lt_s (v128.and (i64x2.add (local.get $hx) ${vi(2)}) ${vi(0xfffff)}) ${vi(3)}))
    (if (v128.any_true (local.get $rare)) (then
      ${perLane('(local.get $rare)', (l) => `(local.set $lg (f64x2.replace_lane ${l} (local.get $lg) (call $log (f64x2.extract_lane ${l} (local.get $x0)))))`)}))
    (local.get $lg))

  ;; cos and sin of both lanes of θ ∈ [0, 2π) without branches: cos returned, sin left in $vsin; the lanes whose high
  ;; word is that of a multiple of π/2 (where fdlibm's reduction takes more steps) reduced by $rem_pio2
  (func $vsincos (param $th v128) (result v128)
    (local $ix v128) (local $small v128) (local $n v128) (local $fn v128) (local $r v128) (local $w v128) (local $y0 v128) (local $y1 v128)
    (local $rare v128) (local $iy v128) (local $z v128) (local $rc v128) (local $qx v128) (local $kc v128) (local $v v128) (local $rs v128)
    (local $ks v128) (local $swap v128) (local $c v128) (local $s v128)
    (local.set $ix ${vhi('(local.get $th)')})
    (local.set $small (i64x2.le_s (local.get $ix) ${vi(0x3fe921fb)}))
    (local.set $n (i32x4.trunc_sat_f64x2_s_zero (f64x2.add (f64x2.mul (local.get $th) ${vf(INVPIO2)}) ${vf(0.5)})))
    (local.set $fn (f64x2.convert_low_i32x4_s (local.get $n)))
    (local.set $r (f64x2.sub (local.get $th) (f64x2.mul (local.get $fn) ${vf(PIO2_1)})))
    (local.set $w (f64x2.mul (local.get $fn) ${vf(PIO2_1T)}))
    (local.set $y0 (f64x2.sub (local.get $r) (local.get $w)))
    (local.set $y1 (f64x2.sub (f64x2.sub (local.get $r) (local.get $y0)) (local.get $w)))
    ;; |θ| ≤ π/4: no reduction (n = 0, y = θ)
    (local.set $y0 (v128.bitselect (local.get $th) (local.get $y0) (local.get $small)))
    (local.set $y1 (v128.andnot (local.get $y1) (local.get $small)))
    (local.set $n (v128.andnot (local.get $n) ${low32('(local.get $small)')}))
    (local.set $rare (v128.andnot
      (v128.or (v128.or (i64x2.eq (local.get $ix) ${vi(NPIO2_HW[0]!)}) (i64x2.eq (local.get $ix) ${vi(NPIO2_HW[1]!)}))
        (v128.or (i64x2.eq (local.get $ix) ${vi(NPIO2_HW[2]!)}) (i64x2.eq (local.get $ix) ${vi(NPIO2_HW[3]!)})))
      (local.get $small)))
    (if (v128.any_true (local.get $rare)) (then
      ${perLane(
        '(local.get $rare)',
        (l) => `(local.set $n (i32x4.replace_lane ${l} (local.get $n) (call $rem_pio2 (f64x2.extract_lane ${l} (local.get $th)))))
        (local.set $y0 (f64x2.replace_lane ${l} (local.get $y0) (global.get $y0)))
        (local.set $y1 (f64x2.replace_lane ${l} (local.get $y1) (global.get $y1)))`,
      )}))
    ;; the kernels ($kcos, $ksin) on both lanes
    (local.set $iy (v128.and ${vhi('(local.get $y0)')} ${vi(0x7fffffff)}))
    (local.set $z (f64x2.mul (local.get $y0) (local.get $y0)))
    (local.set $rc (f64x2.mul (local.get $z) ${vhorner('(local.get $z)', C)}))
    ;; qx = 0 where |y| < 0.3 makes $kcos's other expression
    (local.set $qx (v128.andnot
      (v128.bitselect ${vf(0.28125)} (i64x2.shl (i64x2.sub (local.get $iy) ${vi(0x200000)}) (i32.const 32)) (i64x2.gt_s (local.get $iy) ${vi(0x3fe90000)}))
      (i64x2.lt_s (local.get $iy) ${vi(0x3fd33333)})))
    (local.set $kc (f64x2.sub (f64x2.sub ${vf(1)} (local.get $qx))
      (f64x2.sub (f64x2.sub (f64x2.mul ${vf(0.5)} (local.get $z)) (local.get $qx)) (f64x2.sub (f64x2.mul (local.get $z) (local.get $rc)) (f64x2.mul (local.get $y0) (local.get $y1))))))
    (local.set $v (f64x2.mul (local.get $z) (local.get $y0)))
    (local.set $rs ${vhorner('(local.get $z)', S.slice(1))})
    (local.set $ks (v128.bitselect
      (f64x2.add (local.get $y0) (f64x2.mul (local.get $v) (f64x2.add ${vf(S[0]!)} (f64x2.mul (local.get $z) (local.get $rs)))))
      (f64x2.sub (local.get $y0)
        (f64x2.sub (f64x2.sub (f64x2.mul (local.get $z) (f64x2.sub (f64x2.mul ${vf(0.5)} (local.get $y1)) (f64x2.mul (local.get $v) (local.get $rs)))) (local.get $y1))
          (f64x2.mul (local.get $v) ${vf(S[0]!)})))
      (local.get $small)))
    ;; |y| < 2⁻²⁷: cos 1, sin y
    (local.set $kc (v128.bitselect ${vf(1)} (local.get $kc) (i64x2.lt_s (local.get $iy) ${vi(0x3e400000)})))
    (local.set $ks (v128.bitselect (local.get $y0) (local.get $ks) (i64x2.lt_s (local.get $iy) ${vi(0x3e400000)})))
    ;; quadrant n mod 4: odd swaps cos and sin; cos negated for 1, 2; sin for 2, 3
    (local.set $swap ${wide('(i32x4.ne (v128.and (local.get $n) (v128.const i32x4 1 1 1 1)) (v128.const i32x4 0 0 0 0))')})
    (local.set $c (v128.bitselect (local.get $ks) (local.get $kc) (local.get $swap)))
    (local.set $s (v128.bitselect (local.get $kc) (local.get $ks) (local.get $swap)))
    (local.set $c (v128.bitselect (f64x2.neg (local.get $c)) (local.get $c)
      ${wide('(i32x4.ne (v128.and (i32x4.add (local.get $n) (v128.const i32x4 1 1 1 1)) (v128.const i32x4 2 2 2 2)) (v128.const i32x4 0 0 0 0))')}))
    (global.set $vsin (v128.bitselect (f64x2.neg (local.get $s)) (local.get $s)
      ${wide('(i32x4.ne (v128.and (local.get $n) (v128.const i32x4 2 2 2 2)) (v128.const i32x4 0 0 0 0))')}))
    (local.get $c))

  ;; for the tests: log, cos and sin of two lanes each, vector and scalar, as f64 at OUT: vlog ×2, cos ×2, sin ×2, then
  ;; the scalar loop's log ×2, cos ×2, sin ×2
  (func (export "check") (param $x0 f64) (param $x1 f64) (param $t0 f64) (param $t1 f64)
    (local $i i32) (local $q i32) (local $th f64) (local $c f64) (local $s f64)
    (v128.store (i32.const ${OUT}) (call $vlog (f64x2.replace_lane 1 (f64x2.splat (local.get $x0)) (local.get $x1))))
    (v128.store (i32.const ${OUT + 16}) (call $vsincos (f64x2.replace_lane 1 (f64x2.splat (local.get $t0)) (local.get $t1))))
    (v128.store (i32.const ${OUT + 32}) (global.get $vsin))
    (f64.store (i32.const ${OUT + 48}) (call $log (local.get $x0)))
    (f64.store (i32.const ${OUT + 56}) (call $log (local.get $x1)))
    (block $done (loop $two
      (br_if $done (i32.eq (local.get $i) (i32.const 2)))
      (local.set $th (select (local.get $t1) (local.get $t0) (local.get $i)))
      ${sincos}
      (f64.store (i32.add (i32.const ${OUT + 64}) (i32.shl (local.get $i) (i32.const 3))) (local.get $c))
      (f64.store (i32.add (i32.const ${OUT + 80}) (i32.shl (local.get $i) (i32.const 3))) (local.get $s))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $two))))

  ;; n normals into OUT as f32 (n odd: the last pair's sine is dropped), the xoshiro128** state at STATE advanced;
  ;; per pair: r = √(−2·log(1 − u₁)), θ = 2π·u₂, then r·cos θ and r·sin θ, as ops/rng.ts's JS loop computes them.
  ;; Two pairs at a time (f64x2), then the rest one pair at a time.
  (func (export "normals") (param $n i32)
    (local $s0 i32) (local $s1 i32) (local $s2 i32) (local $s3 i32) (local $t i32) (local $u i32) (local $u1a i32) (local $u2a i32) (local $u1b i32)
    (local $i i32) (local $q i32) (local $rad f64) (local $th f64) (local $c f64) (local $s f64) (local $vrad v128) (local $vc v128)
    (local.set $s0 (i32.load (i32.const ${STATE})))
    (local.set $s1 (i32.load (i32.const ${STATE + 4})))
    (local.set $s2 (i32.load (i32.const ${STATE + 8})))
    (local.set $s3 (i32.load (i32.const ${STATE + 12})))
    (block $vdone (loop $quads
      (br_if $vdone (i32.gt_u (i32.add (local.get $i) (i32.const 4)) (local.get $n)))
      ${draw('$u1a')}
      ${draw('$u2a')}
      ${draw('$u1b')}
      ${draw('$u')}
      (local.set $vrad (f64x2.sqrt (f64x2.mul ${vf(-2)} (call $vlog (f64x2.sub ${vf(1)} ${vuniform('$u1a', '$u1b')})))))
      (local.set $vc (f64x2.mul (local.get $vrad) (call $vsincos (f64x2.mul ${vf(2 * Math.PI)} ${vuniform('$u2a', '$u')}))))
      ;; [r·cos, r·sin] of pair a, then of pair b
      (v128.store (i32.add (i32.const ${OUT}) (i32.shl (local.get $i) (i32.const 2)))
        (i8x16.shuffle 0 1 2 3 16 17 18 19 4 5 6 7 20 21 22 23
          (f32x4.demote_f64x2_zero (local.get $vc)) (f32x4.demote_f64x2_zero (f64x2.mul (local.get $vrad) (global.get $vsin)))))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br $quads)))
    (block $done (loop $pairs
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      ${draw('$u')}
      (local.set $rad (f64.sqrt (f64.mul (f64.const -2) (call $log (f64.sub (f64.const 1) ${uniform('$u')})))))
      ${draw('$u')}
      (local.set $th (f64.mul ${f(2 * Math.PI)} ${uniform('$u')}))
      ${sincos}
      (f32.store (i32.add (i32.const ${OUT}) (i32.shl (local.get $i) (i32.const 2))) (f32.demote_f64 (f64.mul (local.get $rad) (local.get $c))))
      (if (i32.lt_u (i32.add (local.get $i) (i32.const 1)) (local.get $n)) (then
        (f32.store (i32.add (i32.const ${OUT + 4}) (i32.shl (local.get $i) (i32.const 2))) (f32.demote_f64 (f64.mul (local.get $rad) (local.get $s))))))
      (local.set $i (i32.add (local.get $i) (i32.const 2)))
      (br $pairs)))
    (i32.store (i32.const ${STATE}) (local.get $s0))
    (i32.store (i32.const ${STATE + 4}) (local.get $s1))
    (i32.store (i32.const ${STATE + 8}) (local.get $s2))
    (i32.store (i32.const ${STATE + 12}) (local.get $s3))))
`;
