/** metrics.arrow reads back as written (Int32 steps, Float64 metrics, nulls where a row lacks a metric), also where
 * `new Function` is refused (a page's strict CSP): arrow's own builders would need it for nullable columns. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { tableFromIPC } from 'apache-arrow';
import { metricsToArrow } from '../../runtime/sinks/arrow.ts';

test('metricsToArrow: types, values and nulls round-trip without new Function', () => {
  const rows = Array.from({ length: 13 }, (_, i) => ({ step: i + 1, loss: i * 0.25 - 1, ...(i % 4 === 3 ? { energy: i / 3 } : {}) })) as Record<string, number | null>[];
  rows[5]!.loss = null;
  const RealFunction = globalThis.Function;
  globalThis.Function = new Proxy(RealFunction, {
    construct: () => {
      throw new EvalError('refused');
    },
  });
  let bytes: Uint8Array;
  try {
    bytes = metricsToArrow(rows);
  } finally {
    globalThis.Function = RealFunction;
  }
  const t = tableFromIPC(bytes);
  assert.deepEqual(
    t.schema.fields.map((f) => `${f.name}:${f.type}`),
    ['step:Int32', 'loss:Float64', 'energy:Float64'],
  );
  assert.equal(t.numRows, rows.length);
  for (const k of ['step', 'loss', 'energy'])
    assert.deepEqual(
      rows.map((_, i) => t.getChild(k)!.get(i)),
      rows.map((r) => r[k] ?? null),
      k,
    );
});
