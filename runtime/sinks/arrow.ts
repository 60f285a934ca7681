/** @file Arrow IPC *file* format (readable by pyarrow, polars, DuckDB): metrics per step and sample tables. */
import { tableFromArrays, tableToIPC } from 'apache-arrow';

/** rows of numbers (or null) → one Float64 column per key; `step` becomes Int32 */
export function metricsToArrow(rows: Record<string, number | null>[]): Uint8Array {
  const keys = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const cols: Record<string, Float64Array | Int32Array | (number | null)[]> = {};
  for (const k of keys) {
    const vals = rows.map((r) => r[k] ?? null);
    if (k === 'step') cols[k] = Int32Array.from(vals as number[]);
    else cols[k] = vals.some((v) => v === null) ? vals : Float64Array.from(vals as number[]);
  }
  return tableToIPC(tableFromArrays(cols as Parameters<typeof tableFromArrays>[0]), 'file');
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
