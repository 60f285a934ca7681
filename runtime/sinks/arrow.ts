/** @file Arrow IPC: the *file* format (readable by pyarrow, polars, DuckDB) for metrics per step and sample tables,
 * and the *stream* format for metric rows appended while a run trains (metrics.arrows). */
import { Field, Float64, Int32, RecordBatch, RecordBatchReader, Schema, Struct, Table, makeData, makeVector, tableFromArrays, tableToIPC, type Vector } from 'apache-arrow';

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

type MetricRow = Record<string, number | null>;

const keysOf = (rows: MetricRow[]) => [...new Set(rows.flatMap((r) => Object.keys(r)))];

/** `step` is Int32, every other column a nullable Float64 */
const columnOf = (k: string, rows: MetricRow[]): Vector<Float64> | Vector<Int32> => {
  const vals = rows.map((r) => r[k] ?? null);
  return k === 'step' ? makeVector(Int32Array.from(vals as number[])) : nullableFloat64(vals);
};

/** rows of numbers (or null) → one Float64 column per key; `step` becomes Int32 */
export function metricsToArrow(rows: MetricRow[]): Uint8Array {
  return tableToIPC(new Table(Object.fromEntries(keysOf(rows).map((k) => [k, columnOf(k, rows)]))), 'file');
}

const EOS = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);

/**
 * Metric rows as an Arrow IPC stream, a batch at a time: each `encode` returns the bytes to append to the file. The
 * first batch opens the stream with its schema (the run's description rides in the schema's metadata under
 * `distillery.run`); a batch with a column the schema lacks ends that stream and opens another with the wider schema
 * (readMetricsStream reads them all). Every append is whole messages, so a file cut short by a kill still reads up to
 * its last complete batch.
 */
export class MetricsStreamEncoder {
  private schema: Schema | undefined;
  /** the schema message's length: a one-batch stream is schema · batch · end-of-stream */
  private schemaBytes = 0;

  constructor(private readonly meta: Record<string, unknown>) {}

  encode(rows: MetricRow[]): Uint8Array {
    if (!rows.length) return new Uint8Array(0);
    const parts: Uint8Array[] = [];
    const keys = keysOf(rows);
    if (!this.schema || keys.some((k) => !this.schema!.fields.some((f) => f.name === k))) {
      if (this.schema) parts.push(EOS);
      const names = [...(this.schema?.fields.map((f) => f.name) ?? []), ...keys.filter((k) => !this.schema?.fields.some((f) => f.name === k))];
      this.schema = new Schema(
        names.map((n) => new Field(n, n === 'step' ? new Int32() : new Float64(), n !== 'step')),
        new Map([['distillery.run', JSON.stringify(this.meta)]]),
      );
      const head = tableToIPC(new Table(this.schema), 'stream');
      this.schemaBytes = head.length - EOS.length;
      parts.push(head.subarray(0, this.schemaBytes));
    }
    const schema = this.schema;
    const children = schema.fields.map((f) => columnOf(f.name, rows).data[0]!);
    const batch = new RecordBatch(schema, makeData({ type: new Struct(schema.fields), length: rows.length, children }));
    const bytes = tableToIPC(new Table([batch]), 'stream');
    parts.push(bytes.subarray(this.schemaBytes, bytes.length - EOS.length));
    return concat(parts);
  }

  /** the bytes that close the stream */
  end(): Uint8Array {
    return this.schema ? EOS : new Uint8Array(0);
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) out.set(p, at), (at += p.length);
  return out;
}

/** The rows of a metrics stream file and the run description of its last schema; a batch cut short (a killed
 * writer) ends the reading, the rows before it are kept. */
export function readMetricsStream(bytes: Uint8Array): { rows: MetricRow[]; meta: Record<string, unknown> | undefined } {
  const rows: MetricRow[] = [];
  let meta: Record<string, unknown> | undefined;
  try {
    for (const reader of RecordBatchReader.readAll(bytes)) {
      for (const batch of reader) {
        const m = batch.schema.metadata.get('distillery.run');
        if (m) meta = JSON.parse(m);
        const names = batch.schema.fields.map((f) => f.name);
        for (let i = 0; i < batch.numRows; i++) rows.push(Object.fromEntries(names.map((n) => [n, asNumber(batch.getChild(n)!.get(i))])));
      }
    }
  } catch {
    // a truncated tail: what was read stands
  }
  return { rows, meta };
}

const asNumber = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

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
