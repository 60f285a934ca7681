/** @file Arrow IPC *file* format (readable by pyarrow, polars, DuckDB): metrics per step and sample tables. */
import { Float64, Int32, Table, makeData, makeVector, tableFromArrays, tableToIPC, type Vector } from 'apache-arrow';

/** a nullable Float64 column, built directly: arrow's builders compile their null test with `new Function`, which a
 * page's strict Content-Security-Policy refuses */
function nullableFloat64(vals: (number | null)[]): Vector<Float64> {
  const data = new Float64Array(vals.length);
  const valid = new Uint8Array((vals.length + 7) >> 3);
  let nulls = 0;
  vals.forEach((v, i) => {
    if (v === null) nulls++;
    else (data[i] = v), (valid[i >> 3]! |= 1 << (i & 7));
  });
  return nulls ? makeVector(makeData({ type: new Float64(), length: vals.length, nullCount: nulls, nullBitmap: valid, data })) : makeVector(data);
}

/** rows of numbers (or null) → one Float64 column per key; `step` becomes Int32 */
export function metricsToArrow(rows: Record<string, number | null>[]): Uint8Array {
  const keys = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const cols: Record<string, Vector<Float64> | Vector<Int32>> = {};
  for (const k of keys) {
    const vals = rows.map((r) => r[k] ?? null);
    cols[k] = k === 'step' ? makeVector(Int32Array.from(vals as number[])) : nullableFloat64(vals);
  }
  return tableToIPC(new Table(cols), 'file');
}

/** n×d samples → columns x0..x{d-1} (Float32) */
export function samplesToArrow(data: Float32Array, d: number): Uint8Array {
  const n = data.length / d;
  const cols: Record<string, Float32Array> = {};
  for (let j = 0; j < d; j++) {
    const c = new Float32Array(n);
    for (let i = 0; i < n; i++) c[i] = data[i * d + j]!;
    cols[`x${j}`] = c;
  }
  return tableToIPC(tableFromArrays(cols), 'file');
}
