/** @file The source of the WebAssembly SIMD (f32x4) matrix products of gemm.ts, generated as WAT text. Edit here,
 * then run `npx tsx scripts/build-simd.ts` to regenerate gemm-binary.ts (a test fails while the two disagree).
 *
 * Every product is C[i, j] = Σ_k A(i, k)·B(k, j) (+ bias[j]) over row-major operands read in place: A through two
 * byte strides (so A and Aᵀ are the same code), B either with contiguous rows (v128 loads) or gathered through two
 * strides (Bᵀ with few rows). Blocks of MR rows × 4·NV columns keep their accumulators in locals (V8 maps them onto
 * xmm registers). The sum of each element runs over k = 0, 1, … in order, a multiply then an add in f32 (wasm SIMD
 * has no FMA), whichever block, remainder path or thread computes it: results never depend on the partition.
 * `gemm_dot` is the Bᵀ form for long k: lanes accumulate k ≡ 0..3 (mod 4), summed (l0 + l1) + (l2 + l3), then
 * the k % 4 tail in order — also a fixed order per element. */

import { sigmoidLanes, sigmoidLocals } from './sigmoid.wat.ts';
import { ADAM_LOCALS, adamLoop, adamSplats } from './simd.wat.ts';
import { narrowFunc } from './gemm-narrow.wat.ts';
import { add, get, mul, range } from './wat-text.ts';

type BMode = 'rows' | 'gather';

/** what a product does with each element after its sum (and bias): store it (`none`), or store it as a SiLU's
 * pre-activation a and also s = σ(a), y = a·s (`silu`, at the same offsets from $ps and $py as from $c), or store only
 * y = a·σ(a) in its place (`siluOut`: a layer whose backward pass never runs). The SiLU forms take whole f32x4 columns
 * only: their scalar-column path traps, the caller sends only n % 4 = 0 */
type Epilogue = 'none' | 'silu' | 'siluOut';

/** the k loop of the block at (i, j): A's and B's pointers from the block's first row and column, `body` once per k;
 * `label` names its block and loop */
const overK = (label: string, body: string) => `
        (local.set $pa (i32.add ${get('a')} (i32.mul ${get('i')} ${get('sai')})))
        (local.set $pb (i32.add ${get('b')} (i32.mul ${get('j')} ${get('sbj')})))
        (local.set $kk (i32.const 0))
        (block $${label}d (loop $${label}l
          (br_if $${label}d (i32.ge_u ${get('kk')} ${get('k')}))
          ${body}
          (local.set $pa (i32.add ${get('pa')} ${get('sak')}))
          (local.set $pb (i32.add ${get('pb')} ${get('sbk')}))
          (local.set $kk (i32.add ${get('kk')} (i32.const 1)))
          (br $${label}l)))`;

/** C's address at (i, j) in $pc, then `store(true)` with $pbias at the bias's column j, or `store(false)` without one */
const atC = (store: (withBias: boolean) => string) => `
        (local.set $pc (i32.add ${get('c')} (i32.add (i32.mul ${get('i')} ${get('ldc')}) (i32.shl ${get('j')} (i32.const 2)))))
        (if ${get('bias')}
          (then
            (local.set $pbias (i32.add ${get('bias')} (i32.shl ${get('j')} (i32.const 2))))
          ${store(true)})
          (else
          ${store(false)}))`;

/** one block of `mr` rows × `nv` f32x4 columns at (i, j), or `nv = 0`: one scalar column; k from 0 to $k */
function block(mr: number, nv: number, b: BMode, epi: Epilogue = 'none'): Block {
  const scalar = nv === 0;
  const cols = scalar ? [0] : range(nv);
  const acc = (r: number, q: number) => `acc${r}_${q}`;
  const ty = scalar ? 'f32' : 'v128';
  const locals = [
    ...range(mr).flatMap((r) => cols.map((q) => `(local $${acc(r, q)} ${ty})`)),
    ...cols.map((q) => `(local $bv${q} ${ty})`),
    `(local $av ${ty})`,
  ];
  const zero = scalar ? '(f32.const 0)' : '(v128.const i32x4 0 0 0 0)';
  // B(k, j + 4q + l): contiguous rows load a v128; gathered ones build it lane by lane
  const bLoad = (q: number) => {
    if (scalar) return `(f32.load ${get('pb')})`;
    if (b === 'rows') return `(v128.load offset=${16 * q} ${get('pb')})`;
    let v = `(f32x4.splat (f32.load ${add(get('pb'), mul(get('sbj'), `(i32.const ${4 * q})`))}))`;
    for (let l = 1; l < 4; l++) v = `(f32x4.replace_lane ${l} ${v} (f32.load ${add(get('pb'), mul(get('sbj'), `(i32.const ${4 * q + l})`))}))`;
    return v;
  };
  const aLoad = (r: number) => `(${scalar ? 'f32.load' : 'v128.load32_splat'} ${add(get('pa'), mul(get('sai'), `(i32.const ${r})`))})`;
  const op = (o: string) => (scalar ? `f32.${o}` : `f32x4.${o}`);
  const body = [
    ...cols.map((q) => `(local.set $bv${q} ${bLoad(q)})`),
    ...range(mr).flatMap((r) => [`(local.set $av ${aLoad(r)})`, ...cols.map((q) => `(local.set $${acc(r, q)} (${op('add')} ${get(acc(r, q))} (${op('mul')} ${get('av')} ${get(`bv${q}`)})))`)]),
  ];
  // C(i + r, j + 4q) = acc (+ bias)
  const cAddr = (r: number, q: number) => `(i32.add ${get('pc')} (i32.add (i32.mul ${get('ldc')} (i32.const ${r})) (i32.const ${16 * q})))`;
  const value = (withBias: boolean, r: number, q: number) =>
    withBias ? `(${op('add')} ${get(acc(r, q))} (${scalar ? 'f32.load' : 'v128.load'} offset=${16 * q} ${get('pbias')}))` : get(acc(r, q));
  const cells = range(mr).flatMap((r) => cols.map((q) => [r, q] as const));
  const store = (withBias: boolean) => {
    if (epi === 'none') return cells.map(([r, q]) => `(${scalar ? 'f32.store' : 'v128.store'} ${cAddr(r, q)} ${value(withBias, r, q)})`).join('\n          ');
    // the SiLU epilogue: a, then s = σ(a) and y = a·s at the same offsets in S and Y. Every a of the block first,
    // then σ cell by cell: with C's, S's and Y's stores between one σ and the next (the earlier order) the σ chains
    // ran one after another, ~20 % slower (256 × 256 × 18: 141 vs 180 µs on one thread); same operations, same bits
    // (siluOut stores y alone: writing a and s to memory not yet in cache cost as much as σ, one thread: 256 × 256 × 2
    // 195 → 122 µs)
    const at = (base: string, r: number, q: number) => cAddr(r, q).replace(get('pc'), `(i32.add ${get(base)} (i32.sub ${get('pc')} ${get('c')}))`);
    const ea = (r: number, q: number) => `(local.get $ea${r}_${q})`;
    const y = (r: number, q: number) => `(f32x4.mul ${ea(r, q)} (local.get $ef))`;
    return [
      ...cells.flatMap(([r, q]) => [`(local.set $ea${r}_${q} ${value(withBias, r, q)})`, ...(epi === 'silu' ? [`(v128.store ${cAddr(r, q)} ${ea(r, q)})`] : [])]),
      ...cells.flatMap(([r, q]) => [
        sigmoidLanes(ea(r, q), 'e'),
        ...(epi === 'silu' ? [`(v128.store ${at('ps', r, q)} (local.get $ef))`, `(v128.store ${at('py', r, q)} ${y(r, q)})`] : [`(v128.store ${cAddr(r, q)} ${y(r, q)})`]),
      ]),
    ].join('\n          ');
  };
  if (scalar && epi !== 'none') return { locals: [], code: '(unreachable)' };
  const code = `
        ${range(mr).flatMap((r) => cols.map((q) => `(local.set $${acc(r, q)} ${zero})`)).join(' ')}${overK('k', body.join('\n          '))}${atC(store)}`;
  return { locals, code };
}

interface Block {
  locals: string[];
  code: string;
}

/** the last n % 4 columns of a block of 4 rows, without an epilogue: the rows in f32x4 lanes and every remaining column
 * in one pass over k, so A is read once (an output layer with n = 2 spent 13 scalar operations per 4 multiply-adds,
 * reading A once per column). Each lane does the scalar path's operations in its order: the same bits. A's four rows
 * (an f32x4's four lanes) are one load where they are adjacent (sai = 4: A stored transposed, or k = 1), else four. */
function laneColumns(): Block {
  const locals = ['(local $la v128)', ...range(3).map((c) => `(local $lacc${c} v128)`)];
  const bAt = (c: number) => (c === 0 ? get('pb') : add(get('pb'), mul(get('sbj'), `(i32.const ${c})`)));
  const aLanes = (adjacent: boolean) =>
    adjacent
      ? `(v128.load ${get('pa')})`
      : [1, 2, 3].reduce((v, l) => `(f32x4.replace_lane ${l} ${v} (f32.load ${add(get('pa'), mul(get('sai'), `(i32.const ${l})`))}))`, `(f32x4.splat (f32.load ${get('pa')}))`);
  const variant = (cols: number, adjacent: boolean) => {
    const tag = `${cols}${+adjacent}`;
    const store = (withBias: boolean) =>
      range(cols)
        .flatMap((c) =>
          range(4).map((l) => {
            const v = `(f32x4.extract_lane ${l} (local.get $lacc${c}))`;
            const addr = add(get('pc'), add(mul(get('ldc'), `(i32.const ${l})`), `(i32.const ${4 * c})`));
            return `(f32.store ${addr} ${withBias ? `(f32.add ${v} (f32.load offset=${4 * c} ${get('pbias')}))` : v})`;
          }),
        )
        .join('\n          ');
    const body = [
      `(local.set $la ${aLanes(adjacent)})`,
      ...range(cols).map((c) => `(local.set $lacc${c} (f32x4.add (local.get $lacc${c}) (f32x4.mul (local.get $la) (v128.load32_splat ${bAt(c)}))))`),
    ];
    return `
        ${range(cols).map((c) => `(local.set $lacc${c} (v128.const i32x4 0 0 0 0))`).join(' ')}${overK(`lk${tag}`, body.join('\n          '))}${atC(store)}`;
  };
  const rem = `(i32.sub ${get('n')} ${get('j')})`;
  const byCount = (adjacent: boolean) =>
    `(if (i32.eq ${rem} (i32.const 3)) (then ${variant(3, adjacent)}) (else (if (i32.eq ${rem} (i32.const 2)) (then ${variant(2, adjacent)}) (else ${variant(1, adjacent)}))))`;
  const code = `
      (if (i32.lt_u ${get('j')} ${get('n')})
        (then
          (if (i32.eq ${get('sai')} (i32.const 4)) (then ${byCount(true)}) (else ${byCount(false)}))
          (local.set $j ${get('n')})))`;
  return { locals, code };
}

/** the column loop of one row block: NV-wide blocks, then single vectors, then the last n % 4 columns (as laneColumns
 * for 4 rows without an epilogue, else one scalar column at a time) */
function rowBlock(mr: number, nv: number, b: BMode, tag: string, epi: Epilogue = 'none'): Block {
  const lanes = mr === 4 && epi === 'none';
  const parts = [nv, ...(nv > 1 ? [1] : []), ...(lanes ? [] : [0])].map((w) => ({ w, blk: block(mr, w, b, epi) }));
  // locals are per width; names collide across widths of the same row count, so rename with the width
  const locals: string[] = [];
  const code = parts
    .map(({ w, blk }) => {
      const rename = (s: string) => s.replace(/\$(acc\d+_\d+|bv\d+|av)\b/g, `$$$1_${tag}${w}`);
      locals.push(...blk.locals.map(rename));
      const width = w === 0 ? 1 : 4 * w;
      return `
      (block $d${tag}${w} (loop $l${tag}${w}
        (br_if $d${tag}${w} (i32.gt_u (i32.add ${get('j')} (i32.const ${width})) ${get('n')}))
        ${rename(blk.code)}
        (local.set $j (i32.add ${get('j')} (i32.const ${width})))
        (br $l${tag}${w})))`;
    })
    .join('');
  if (!lanes) return { locals, code };
  const last = laneColumns();
  return { locals: [...locals, ...last.locals], code: code + last.code };
}

/** rows [m0, m1) in blocks of `mr` (each running `block` over the columns from j = 0, after `before`), then the
 * remaining rows one by one (`tail`, after `between`) */
const overRows = (mr: number, block: string, tail: string, before = '', between = '') => `
    (local.set $i ${get('m0')})
    (block $rd (loop $rl
      (br_if $rd (i32.gt_u (i32.add ${get('i')} (i32.const ${mr})) ${get('m1')}))${before}
      (local.set $j (i32.const 0))${block}
      (local.set $i (i32.add ${get('i')} (i32.const ${mr})))
      (br $rl)))${between}
    (block $td (loop $tl
      (br_if $td (i32.ge_u ${get('i')} ${get('m1')}))
      (local.set $j (i32.const 0))${tail}
      (local.set $i (i32.add ${get('i')} (i32.const 1)))
      (br $tl)))`;

/** Aᵀ's packing (A stored [k, m], sai = 4): before each block of 4 rows, A(i..i+3, k) for every k is copied to $pack,
 * 16 bytes per k, and the block reads it there (sak = 16). Stored transposed, the block's A is 16 bytes of each of k
 * rows 4·m bytes apart: at m = 256, all in 4 of L1's 64 sets, where they evict B's rows; packed, it is one stream.
 * The same values in the same order: the same bits. The single rows after the blocks read A in place. */
const packA = {
  locals: '(local $a0 i32) (local $sak0 i32) (local $pk i32) (local $pkEnd i32)',
  init: `
    (local.set $a0 ${get('a')})
    (local.set $sak0 ${get('sak')})
    (local.set $pkEnd (i32.add ${get('pack')} (i32.shl ${get('k')} (i32.const 4))))`,
  before: `
      (local.set $pa (i32.add ${get('a0')} (i32.shl ${get('i')} (i32.const 2))))
      (local.set $pk ${get('pack')})
      (block $pkd (loop $pkl
        (br_if $pkd (i32.ge_u ${get('pk')} ${get('pkEnd')}))
        (v128.store ${get('pk')} (v128.load ${get('pa')}))
        (local.set $pa (i32.add ${get('pa')} ${get('sak0')}))
        (local.set $pk (i32.add ${get('pk')} (i32.const 16)))
        (br $pkl)))
      (local.set $a (i32.sub ${get('pack')} (i32.shl ${get('i')} (i32.const 2))))
      (local.set $sak (i32.const 16))`,
  between: `
    (local.set $a ${get('a0')})
    (local.set $sak ${get('sak0')})`,
};

function gemmFunc(name: string, b: BMode, mr: number, nv: number, epi: Epilogue = 'none', pack = false): string {
  const main = rowBlock(mr, nv, b, 'm', epi);
  const tail = rowBlock(1, nv, b, 't', epi);
  const params = `${epi === 'silu' ? ' (param $ps i32) (param $py i32)' : ''}${pack ? ' (param $pack i32)' : ''}`;
  return `
  ;; C[i, j] = Σ_k A[i·sai + k·sak]·B[k·sbk + j·sbj] (+ bias[j]) for rows m0 ≤ i < m1; strides in bytes; ldc = n·4${epi === 'silu' ? '\n  ;; then S = σ(C) and Y = C·S (n % 4 = 0)' : epi === 'siluOut' ? '\n  ;; stored as C·σ(C) (n % 4 = 0)' : ''}${pack ? '\n  ;; A stored transposed (sai = 4), each block of rows packed at $pack (k·16 bytes) first' : ''}
  (func (export "${name}") (param $a i32) (param $sai i32) (param $sak i32) (param $b i32) (param $sbk i32) (param $sbj i32)
        (param $c i32) (param $bias i32) (param $m0 i32) (param $m1 i32) (param $n i32) (param $k i32)${params}
    (local $i i32) (local $j i32) (local $kk i32) (local $pa i32) (local $pb i32) (local $pc i32) (local $pbias i32) (local $ldc i32)
    ${[...main.locals, ...tail.locals].join(' ')}${epi !== 'none' ? `${range(mr * nv).map((c) => ` (local $ea${Math.floor(c / nv)}_${c % nv} v128)`).join('')} ${sigmoidLocals('e')}` : ''}${pack ? ` ${packA.locals}` : ''}
    (local.set $ldc (i32.shl ${get('n')} (i32.const 2)))${pack ? packA.init : ''}
    ${overRows(mr, main.code, tail.code, pack ? packA.before : '', pack ? packA.between : '')})`;
}

/** C = A·Wᵀ, A [m, k] and W [n, k] row-major, for rows [m0, m1): dot products along k in f32x4 lanes */
function dotFunc(mr: number, nr: number): string {
  const blk = (rows: number, cols: number, tag: string) => {
    const acc = (r: number, q: number) => `$d${tag}${r}_${q}`;
    const locals = [...range(rows).flatMap((r) => range(cols).map((q) => `(local ${acc(r, q)} v128)`)), ...range(rows).map((r) => `(local $da${tag}${r} v128)`)];
    const aRow = (r: number) => add(get('pa'), mul(get('lda'), `(i32.const ${r})`));
    const wRow = (q: number) => add(get('pw'), mul(get('ldw'), `(i32.const ${q})`));
    const body = [
      ...range(rows).map((r) => `(local.set $da${tag}${r} (v128.load ${add(aRow(r), get('kb'))}))`),
      ...range(cols).flatMap((q) => [
        `(local.set $wv (v128.load ${add(wRow(q), get('kb'))}))`,
        ...range(rows).map((r) => `(local.set ${acc(r, q)} (f32x4.add (local.get ${acc(r, q)}) (f32x4.mul (local.get $da${tag}${r}) ${get('wv')})))`),
      ]),
    ];
    // horizontal sum, the k % 4 tail in order, the bias; one element at a time
    const finish = range(rows).flatMap((r) =>
      range(cols).map(
        (q) => `
          (local.set $s (f32.add
            (f32.add (f32x4.extract_lane 0 (local.get ${acc(r, q)})) (f32x4.extract_lane 1 (local.get ${acc(r, q)})))
            (f32.add (f32x4.extract_lane 2 (local.get ${acc(r, q)})) (f32x4.extract_lane 3 (local.get ${acc(r, q)})))))
          (local.set $kb ${get('k4')})
          (block $fd (loop $fl
            (br_if $fd (i32.ge_u ${get('kb')} ${get('kbytes')}))
            (local.set $s (f32.add ${get('s')} (f32.mul (f32.load ${add(aRow(r), get('kb'))}) (f32.load ${add(wRow(q), get('kb'))}))))
            (local.set $kb (i32.add ${get('kb')} (i32.const 4)))
            (br $fl)))
          (if ${get('bias')} (then (local.set $s (f32.add ${get('s')} (f32.load offset=${4 * q} (i32.add ${get('bias')} (i32.shl ${get('j')} (i32.const 2))))))))
          (f32.store ${add(get('c'), `(i32.shl (i32.add (i32.mul (i32.add ${get('i')} (i32.const ${r})) ${get('n')}) (i32.add ${get('j')} (i32.const ${q}))) (i32.const 2))`)} ${get('s')})`,
      ),
    );
    const code = `
        ${range(rows).flatMap((r) => range(cols).map((q) => `(local.set ${acc(r, q)} (v128.const i32x4 0 0 0 0))`)).join(' ')}
        (local.set $pa (i32.add ${get('a')} (i32.mul ${get('i')} ${get('lda')})))
        (local.set $pw (i32.add ${get('w')} (i32.mul ${get('j')} ${get('ldw')})))
        (local.set $kb (i32.const 0))
        (block $kd (loop $kl
          (br_if $kd (i32.ge_u ${get('kb')} ${get('k4')}))
          ${body.join('\n          ')}
          (local.set $kb (i32.add ${get('kb')} (i32.const 16)))
          (br $kl)))${finish.join('')}`;
    return { locals, code };
  };
  const loopCols = (rows: number, tag: string) => {
    const parts = [nr, 1].map((w) => ({ w, b: blk(rows, w, `${tag}${w}`) }));
    return {
      locals: parts.flatMap((p) => p.b.locals),
      code: parts
        .map(
          ({ w, b }) => `
      (block $cd${tag}${w} (loop $cl${tag}${w}
        (br_if $cd${tag}${w} (i32.gt_u (i32.add ${get('j')} (i32.const ${w})) ${get('n')}))
        ${b.code}
        (local.set $j (i32.add ${get('j')} (i32.const ${w})))
        (br $cl${tag}${w})))`,
        )
        .join(''),
    };
  };
  const main = loopCols(mr, 'm');
  const tail = loopCols(1, 't');
  return `
  ;; C[i, j] = Σ_k A[i, k]·W[j, k] (+ bias[j]) for rows m0 ≤ i < m1: A [m, k], W [n, k], C [m, n] row-major
  (func (export "gemm_dot") (param $a i32) (param $w i32) (param $c i32) (param $bias i32) (param $m0 i32) (param $m1 i32) (param $n i32) (param $k i32)
    (local $i i32) (local $j i32) (local $kb i32) (local $k4 i32) (local $kbytes i32) (local $lda i32) (local $ldw i32) (local $pa i32) (local $pw i32)
    (local $s f32) (local $wv v128)
    ${[...main.locals, ...tail.locals].join(' ')}
    (local.set $kbytes (i32.shl ${get('k')} (i32.const 2)))
    (local.set $k4 (i32.and ${get('kbytes')} (i32.const -16)))
    (local.set $lda ${get('kbytes')})
    (local.set $ldw ${get('kbytes')})
    ${overRows(mr, main.code, tail.code)})`;
}

/** the register block of the main kernels: rows × f32x4 columns (4 × 8 floats); the dot kernel's rows × columns */
export const GEMM_BLOCK = { mr: 4, nv: 2, dotMr: 4, dotNr: 2 };

/** the peak probe: PEAK_CHAINS independent chains p ← p·m + c of f32x4 multiplies and adds, all in locals; returns a
 * lane of their sum so nothing is optimised away. The rate grows with the chains until they cover the multiply's and
 * the add's latency: on the 2-vCPU EPYC host of 2026-12-06, 8, 10, 11, 12 and 13 chains gave 32.7, 40.4, 46.8,
 * 47.1–47.8 and 48.4–49.5 GFLOP/s, 14 (16 xmm registers with m and c) spilled to 27. 13 is the most that stays in
 * registers, so the probe is the highest rate of these multiplies and adds this code can show */
export const PEAK_CHAINS = 13;
/** FLOPs of one round of the probe: a multiply and an add of 4 lanes per chain */
export const PEAK_FLOPS_PER_ROUND = PEAK_CHAINS * 2 * 4;
const peakFunc = () => {
  const ch = range(PEAK_CHAINS);
  return `
  (func (export "peak") (param $iters i32) (param $x f32) (result f32)
    (local $m v128) (local $c v128) ${ch.map((i) => `(local $p${i} v128)`).join(' ')}
    (local.set $m (f32x4.splat (f32.const 0.999999)))
    (local.set $c (f32x4.splat (f32.const 1e-7)))
    ${ch.map((i) => `(local.set $p${i} (f32x4.splat (f32.add ${get('x')} (f32.const ${i}))))`).join(' ')}
    (block $d (loop $l
      (br_if $d (i32.eqz ${get('iters')}))
      ${ch.map((i) => `(local.set $p${i} (f32x4.add (f32x4.mul ${get(`p${i}`)} ${get('m')}) ${get('c')}))`).join('\n      ')}
      (local.set $iters (i32.sub ${get('iters')} (i32.const 1)))
      (br $l)))
    (f32x4.extract_lane 0 ${ch.slice(1).reduce((s, i) => `(f32x4.add ${s} ${get(`p${i}`)})`, get('p0'))}))`;
};

/** simd.wat.ts's Adam in the pool's form: each thread takes a range of whole f32x4 [q0, q1) and computes it from the
 * same WAT, so the bits are the same; the five f32 constants come as their bits (i32), as the pool's control block
 * holds integers */
const adamRowsFunc = () => `
  (func (export "adam_rows") (param $p i32) (param $g i32) (param $m i32) (param $v i32) (param $po i32) (param $mo i32) (param $vo i32)
        (param $k i32) (param $b1 i32) (param $b2 i32) (param $c2 i32) (param $eps i32) (param $q0 i32) (param $q1 i32)
    (local $i i32) (local $end i32) ${ADAM_LOCALS}
    ${adamSplats(...(['k', 'b1', 'b2', 'c2', 'eps'].map((x) => `(f32.reinterpret_i32 ${get(x)})`) as [string, string, string, string, string]))}
    (local.set $i (i32.shl ${get('q0')} (i32.const 4)))
    (local.set $end (i32.shl ${get('q1')} (i32.const 4)))
    ${adamLoop})`;

/** the module's WAT; `shared`: it imports a shared memory (the worker pool's), else a plain one (tfjs-wasm's heap) */
export function gemmWat(shared: boolean): string {
  const { mr, nv, dotMr, dotNr } = GEMM_BLOCK;
  return `
(module
  (import "env" "memory" (memory ${shared ? '1 65536 shared' : '0'}))
${gemmFunc('gemm_rows', 'rows', mr, nv)}
${gemmFunc('gemm_rows_silu', 'rows', mr, nv, 'silu')}
${gemmFunc('gemm_rows_silu_out', 'rows', mr, nv, 'siluOut')}
${gemmFunc('gemm_gather', 'gather', mr, nv)}
${gemmFunc('gemm_rows_packed', 'rows', mr, nv, 'none', true)}
${dotFunc(dotMr, dotNr)}
${peakFunc()}
${adamRowsFunc()}
${range(3).map((j) => narrowFunc(j + 1)).join('\n')}
)`;
}
