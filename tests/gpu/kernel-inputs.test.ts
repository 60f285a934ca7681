/** Every fused kernel call names its inputs x0, x1, … (runKernel takes a record) and reads them back in that order:
 * past x9 too, where a sort by name would put x10 before x2. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inputList, inputMap } from '../../gpu/kernels/spec.ts';

test('inputMap names inputs x0… and inputList reads them back in order, for 1, 24 and 80 inputs', () => {
  for (const n of [1, 24, 80]) {
    const xs = Array.from({ length: n }, (_, i) => ({ i }));
    const m = inputMap(xs);
    assert.deepEqual(Object.keys(m), xs.map((_, i) => `x${i}`));
    assert.deepEqual(inputList(m), xs);
  }
  assert.deepEqual(inputList({}), []);
});
