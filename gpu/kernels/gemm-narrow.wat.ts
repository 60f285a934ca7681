/** @file The narrow products of gemm.wat.ts (C with n < 4 columns: a first or last layer at D = 1..3), as WAT text;
 * compiled with the rest of the module by `npx tsx scripts/build-simd.ts`. */
import { add, get, mul, range } from './wat-text.ts';

/** C = op(A)·B for a narrow C (n = `nj` < 4 columns, B with contiguous rows), as gemm_rows's arguments: the f32x4
 * lanes hold 4 rows of C rather than 4 columns (the scalar-column path used one lane). Each element is still summed
 * over k in order, a multiply then an add, from +0 (the bias last): the same bits as gemm_rows. A's column for the 4
 * rows is one load where A is stored transposed (sai = 4), else (sak = 4) 4 rows × 4 k are loaded and transposed in
 * registers; the rows after the blocks of 4 are summed one element at a time. */
export function narrowFunc(nj: number): string {
  const js = range(nj);
  const bSplat = (q: number, j: number) => `(v128.load32_splat offset=${4 * j} ${q ? add(get('pb'), mul(get('sbk'), `(i32.const ${q})`)) : get('pb')})`;
  const accumulate = (col: string, q: number) => js.map((j) => `(local.set $acc${j} (f32x4.add ${get(`acc${j}`)} (f32x4.mul ${col} ${bSplat(q, j)})))`).join('\n          ');
  const lane = (q: number) => `(f32.load ${add(get('pa'), mul(get('sai'), `(i32.const ${q})`))})`;
  const gathered = `(f32x4.replace_lane 3 (f32x4.replace_lane 2 (f32x4.replace_lane 1 (f32x4.splat ${lane(0)}) ${lane(1)}) ${lane(2)}) ${lane(3)})`;
  const shuffle = (lo: number[], x: string, y: string) => `(i8x16.shuffle ${lo.flatMap((l) => [4 * l, 4 * l + 1, 4 * l + 2, 4 * l + 3]).join(' ')} ${get(x)} ${get(y)})`;
  return `
  ;; C[i, j] = Σ_k A[i·sai + k·sak]·B[k·sbk + j·4] (+ bias[j]) for rows m0 ≤ i < m1 and j < ${nj}; sai = 4 or sak = 4
  (func (export "gemm_narrow${nj}") (param $a i32) (param $sai i32) (param $sak i32) (param $b i32) (param $sbk i32) (param $sbj i32)
        (param $c i32) (param $bias i32) (param $m0 i32) (param $m1 i32) (param $n i32) (param $k i32)
    (local $i i32) (local $kk i32) (local $k4 i32) (local $pa i32) (local $pb i32) (local $pc i32) (local $ldc i32) (local $s f32)
    ${js.map((j) => `(local $acc${j} v128)`).join(' ')} (local $col v128)
    (local $r0 v128) (local $r1 v128) (local $r2 v128) (local $r3 v128) (local $t0 v128) (local $t1 v128) (local $t2 v128) (local $t3 v128)
    (local.set $ldc (i32.shl ${get('n')} (i32.const 2)))
    (local.set $k4 (i32.and ${get('k')} (i32.const -4)))
    (local.set $i ${get('m0')})
    (block $rd (loop $rl
      (br_if $rd (i32.gt_u (i32.add ${get('i')} (i32.const 4)) ${get('m1')}))
      ${js.map((j) => `(local.set $acc${j} (v128.const i32x4 0 0 0 0))`).join(' ')}
      (local.set $pa (i32.add ${get('a')} (i32.mul ${get('i')} ${get('sai')})))
      (local.set $pb ${get('b')})
      (local.set $kk (i32.const 0))
      (if (i32.eq ${get('sai')} (i32.const 4))
        (then
          (block $ad (loop $al
            (br_if $ad (i32.ge_u ${get('kk')} ${get('k')}))
            (local.set $col (v128.load ${get('pa')}))
            ${accumulate(get('col'), 0)}
            (local.set $pa (i32.add ${get('pa')} ${get('sak')}))
            (local.set $pb (i32.add ${get('pb')} ${get('sbk')}))
            (local.set $kk (i32.add ${get('kk')} (i32.const 1)))
            (br $al))))
        (else
          (block $bd (loop $bl
            (br_if $bd (i32.ge_u ${get('kk')} ${get('k4')}))
            ${range(4).map((q) => `(local.set $r${q} (v128.load ${add(get('pa'), mul(get('sai'), `(i32.const ${q})`))}))`).join(' ')}
            (local.set $t0 ${shuffle([0, 4, 1, 5], 'r0', 'r1')})
            (local.set $t1 ${shuffle([2, 6, 3, 7], 'r0', 'r1')})
            (local.set $t2 ${shuffle([0, 4, 1, 5], 'r2', 'r3')})
            (local.set $t3 ${shuffle([2, 6, 3, 7], 'r2', 'r3')})
            ${[
              [0, 't0', 't2', [0, 1, 4, 5]],
              [1, 't0', 't2', [2, 3, 6, 7]],
              [2, 't1', 't3', [0, 1, 4, 5]],
              [3, 't1', 't3', [2, 3, 6, 7]],
            ]
              .map(([q, x, y, lo]) => `(local.set $col ${shuffle(lo as number[], x as string, y as string)})\n          ${accumulate(get('col'), q as number)}`)
              .join('\n          ')}
            (local.set $pa (i32.add ${get('pa')} (i32.const 16)))
            (local.set $pb (i32.add ${get('pb')} (i32.shl ${get('sbk')} (i32.const 2))))
            (local.set $kk (i32.add ${get('kk')} (i32.const 4)))
            (br $bl)))
          (block $gd (loop $gl
            (br_if $gd (i32.ge_u ${get('kk')} ${get('k')}))
            (local.set $col ${gathered})
            ${accumulate(get('col'), 0)}
            (local.set $pa (i32.add ${get('pa')} ${get('sak')}))
            (local.set $pb (i32.add ${get('pb')} ${get('sbk')}))
            (local.set $kk (i32.add ${get('kk')} (i32.const 1)))
            (br $gl)))))
      (local.set $pc (i32.add ${get('c')} (i32.mul ${get('i')} ${get('ldc')})))
      ${js
        .map(
          (j) => `(if ${get('bias')} (then (local.set $acc${j} (f32x4.add ${get(`acc${j}`)} (v128.load32_splat offset=${4 * j} ${get('bias')})))))
      ${range(4)
        .map((l) => `(f32.store offset=${4 * j} ${add(get('pc'), mul(get('ldc'), `(i32.const ${l})`))} (f32x4.extract_lane ${l} ${get(`acc${j}`)}))`)
        .join(' ')}`,
        )
        .join('\n      ')}
      (local.set $i (i32.add ${get('i')} (i32.const 4)))
      (br $rl)))
    (block $td (loop $tl
      (br_if $td (i32.ge_u ${get('i')} ${get('m1')}))
      ${js
        .map(
          (j) => `(local.set $s (f32.const 0))
      (local.set $pa (i32.add ${get('a')} (i32.mul ${get('i')} ${get('sai')})))
      (local.set $pb (i32.add ${get('b')} (i32.const ${4 * j})))
      (local.set $kk (i32.const 0))
      (block $sd${j} (loop $sl${j}
        (br_if $sd${j} (i32.ge_u ${get('kk')} ${get('k')}))
        (local.set $s (f32.add ${get('s')} (f32.mul (f32.load ${get('pa')}) (f32.load ${get('pb')}))))
        (local.set $pa (i32.add ${get('pa')} ${get('sak')}))
        (local.set $pb (i32.add ${get('pb')} ${get('sbk')}))
        (local.set $kk (i32.add ${get('kk')} (i32.const 1)))
        (br $sl${j})))
      (if ${get('bias')} (then (local.set $s (f32.add ${get('s')} (f32.load offset=${4 * j} ${get('bias')})))))
      (f32.store offset=${4 * j} (i32.add ${get('c')} (i32.mul ${get('i')} ${get('ldc')})) ${get('s')})`,
        )
        .join('\n      ')}
      (local.set $i (i32.add ${get('i')} (i32.const 1)))
      (br $tl))))`;
}
