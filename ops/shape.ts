/** @file Shape rules shared by op families: broadcasting with named dims, reductions. */
import type { Dim, DType, TensorType } from '../dsl/types.ts';
import { showType } from '../dsl/types.ts';
import { OpShapeError } from './define.ts';

/** numpy broadcasting; a named dim matches only itself or 1 */
export function broadcast(a: readonly Dim[], b: readonly Dim[]): Dim[] {
  const n = Math.max(a.length, b.length);
  const out: Dim[] = [];
  for (let i = 0; i < n; i++) {
    const x = a[a.length - n + i] ?? 1;
    const y = b[b.length - n + i] ?? 1;
    if (x === y || y === 1) out.push(x);
    else if (x === 1) out.push(y);
    else throw new OpShapeError(`shapes [${a.join(',')}] and [${b.join(',')}] cannot be broadcast together`);
  }
  return out;
}

export function sameDtype(ins: TensorType[], want?: DType): DType {
  const d = ins[0]!.dtype;
  for (const t of ins) {
    if (t.dtype !== d) throw new OpShapeError(`dtypes differ: ${ins.map(showType).join(' vs ')}`, 'dtype_mismatch');
  }
  if (want && d !== want) throw new OpShapeError(`expected ${want}, got ${ins.map(showType).join(', ')}`, 'dtype_mismatch');
  return d;
}

export function normaliseAxes(axes: number[] | undefined, rank: number): number[] {
  const all = [...Array(rank).keys()];
  if (axes === undefined) return all;
  return axes.map((a) => {
    const r = a < 0 ? a + rank : a;
    if (r < 0 || r >= rank) throw new OpShapeError(`axis ${a} out of range for rank ${rank}`);
    return r;
  });
}

export function reduceShape(shape: readonly Dim[], axes: number[] | undefined, keepDims: boolean): Dim[] {
  const ax = new Set(normaliseAxes(axes, shape.length));
  return shape.flatMap((d, i) => (ax.has(i) ? (keepDims ? [1] : []) : [d]));
}

/** a per-row time input: f32[rows, 1] */
export function checkTime(name: string, rows: Dim | undefined, t: TensorType): void {
  if (t.dtype !== 'f32' || t.shape.length !== 2 || t.shape[1] !== 1 || t.shape[0] !== rows) throw new OpShapeError(`${name}: time expected f32[${rows},1], got ${showType(t)}`);
}
