/** @file Tensor types shared by the DSL, the IR and the ops: dtypes, dims, shapes. */

export const DTYPES = ['f32', 'i32', 'bool'] as const;
export type DType = (typeof DTYPES)[number];

/** A dimension is a literal size or a named size resolved from the graph's `dims` table ('B'). */
export type Dim = number | string;
export type Shape = readonly Dim[];

export interface TensorType {
  dtype: DType;
  shape: Dim[];
}

export const showType = (t: TensorType): string => `${t.dtype}[${t.shape.join(',')}]`;

/** Resolve named dims to numbers; throws on an unknown name (verify reports it first). */
export function resolveShape(shape: readonly Dim[], dims: Record<string, number>): number[] {
  return shape.map((d) => {
    if (typeof d === 'number') return d;
    const v = dims[d];
    if (v === undefined) throw new Error(`internal: unknown dim '${d}'`);
    return v;
  });
}

export const bytesOf = (t: TensorType, dims: Record<string, number>): number =>
  resolveShape(t.shape, dims).reduce((a, b) => a * b, 1) * 4;
