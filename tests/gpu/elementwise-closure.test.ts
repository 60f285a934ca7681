/** The elementwise host loop without `new Function` (closures over the expression, for pages whose CSP forbids eval)
 * computes exactly what the generated loop computes: the same float32 value (NaN, ±0 and ±Infinity included) at every
 * element, for every scalar function, every read mode, and random expressions over NaN/Inf/huge/tiny inputs. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileElementwise, hostLoopClosure, hostLoopFunction, hostLoopOptions, type Mode } from '../../gpu/kernels/elementwise.ts';
import { call, constant, input, F32_MAX, type Expr, type ScalarFn } from '../../ops/scalar.ts';
import { Rng } from '../../ops/rng.ts';

/** every scalar function and its arity (a new ScalarFn fails to compile here until it is added) */
const ARITY = { add: 2, sub: 2, mul: 2, div: 2, max: 2, min: 2, neg: 1, abs: 1, square: 1, sqrt: 1, exp: 1, log: 1, sin: 1, cos: 1, tanh: 1, sigmoid: 1, nan0: 1 } satisfies Record<ScalarFn, 1 | 2>;
const FNS = Object.keys(ARITY) as ScalarFn[];
const MODES: Mode[] = ['full', 'row', 'col', 'scalar'];
const SPECIAL = [NaN, Infinity, -Infinity, 0, -0, 1, -1, 0.5, 1e-45, -1e-40, 88.7, -88.7, 1e20, 3e38, -3e38, F32_MAX, -F32_MAX, 16777217];
const [ROWS, COLS] = [5, 7];

function values(rng: Rng, n: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++)
    out[i] = rng.uniform() < 0.35 ? SPECIAL[Math.floor(rng.uniform() * SPECIAL.length)]! : (rng.uniform() - 0.5) * 10 ** (rng.uniform() * 10 - 5);
  return out;
}

const sizeOf = (m: Mode) => (m === 'full' ? ROWS * COLS : m === 'row' ? ROWS : m === 'col' ? COLS : 1);

/** the index of the first element where the two loops differ, or -1 */
function firstDifference(expr: Expr, modes: Mode[], rng: Rng): { at: number; generated: number; closure: number } | undefined {
  const ins = modes.map((m) => values(rng, sizeOf(m)));
  const [a, b] = [new Float32Array(ROWS * COLS), new Float32Array(ROWS * COLS)];
  hostLoopFunction(expr, modes)(ins, a, COLS);
  hostLoopClosure(expr, modes)(ins, b, COLS);
  const at = a.findIndex((v, i) => !Object.is(v, b[i]));
  return at < 0 ? undefined : { at, generated: a[at]!, closure: b[at]! };
}

function randomConstant(rng: Rng): number {
  return rng.uniform() < 0.4 ? SPECIAL[Math.floor(rng.uniform() * SPECIAL.length)]! : (rng.uniform() - 0.5) * 8;
}

function randomExpr(rng: Rng, inputs: number, depth: number): Expr {
  if (depth === 0 || rng.uniform() < 0.2) return rng.uniform() < 0.75 ? input(Math.floor(rng.uniform() * inputs)) : constant(randomConstant(rng));
  const f = FNS[Math.floor(rng.uniform() * FNS.length)]!;
  return call(f, ...Array.from({ length: ARITY[f] }, () => randomExpr(rng, inputs, depth - 1)));
}

test('every scalar function, every read mode: closures equal the generated loop', () => {
  const rng = new Rng(['closure-loop', 'each']);
  let checked = 0;
  for (const f of FNS)
    for (const m0 of MODES)
      for (const m1 of MODES) {
        const args = ARITY[f] === 2 ? [input(0), input(1)] : [call('add', input(0), input(1))];
        const direct = call(f, ...args);
        // nested too: the store into a Float32Array rounds the outer result whether or not the loop did
        const nested = call('sub', call('mul', direct, constant(1.1)), input(0));
        for (const expr of [direct, nested, call(f, ...(ARITY[f] === 2 ? [input(0), constant(-1.5)] : [constant(-2.25)]))]) {
          for (let rep = 0; rep < 4; rep++) {
            const d = firstDifference(expr, [m0, m1], rng);
            assert.equal(d, undefined, `${JSON.stringify(expr)} modes ${m0},${m1}: ${JSON.stringify(d)}`);
            checked++;
          }
        }
      }
  assert.equal(checked, FNS.length * 16 * 3 * 4);
});

test('random expressions over three inputs: closures equal the generated loop', () => {
  const rng = new Rng(['closure-loop', 'random']);
  const used = new Set<string>();
  for (let n = 0; n < 400; n++) {
    const expr = randomExpr(rng, 3, 5);
    JSON.stringify(expr).replace(/"f":"(\w+)"/g, (_, f: string) => (used.add(f), ''));
    const modes = Array.from({ length: 3 }, () => MODES[Math.floor(rng.uniform() * 4)]!);
    const d = firstDifference(expr, modes, rng);
    assert.equal(d, undefined, `${JSON.stringify(expr)} modes ${modes}: ${JSON.stringify(d)}`);
  }
  assert.deepEqual([...used].sort(), [...FNS].sort(), 'the random expressions reached every function');
});

test('a negated negative constant compiles (toJs parenthesises constants)', () => {
  const out = new Float32Array(1);
  hostLoopFunction(call('neg', constant(-3)), ['scalar'])([new Float32Array(1)], out, 1);
  assert.equal(out[0], 3);
});

test('the module switch, and a refused `new Function` (a CSP without unsafe-eval), both give the closure loop', () => {
  const expr = call('sigmoid', call('mul', input(0), input(1)));
  const modes: Mode[] = ['full', 'col'];
  const rng = new Rng(['closure-loop', 'csp']);
  const ins = modes.map((m) => values(rng, sizeOf(m)));
  const want = new Float32Array(ROWS * COLS);
  hostLoopFunction(expr, modes)(ins, want, COLS);
  const run = (json: string) => {
    const out = new Float32Array(ROWS * COLS);
    compileElementwise(json, modes).host()(ins, out, COLS);
    assert.ok(out.every((v, i) => Object.is(v, want[i])));
  };

  hostLoopOptions.forceClosures = true;
  let made = 0;
  const RealFunction = globalThis.Function;
  // counts `new Function` calls: none while the switch is on
  globalThis.Function = new Proxy(RealFunction, { construct: (t, a) => (made++, Reflect.construct(t, a)) });
  try {
    run(JSON.stringify({ ...expr, tag: 'forced' })); // a different JSON text: not the cached compile
    assert.equal(made, 0);
  } finally {
    globalThis.Function = RealFunction;
    hostLoopOptions.forceClosures = false;
  }

  // last in this file: after a refusal the module stops trying `new Function` for the rest of the process
  globalThis.Function = new Proxy(RealFunction, {
    construct: () => {
      throw new EvalError("Refused to evaluate a string as JavaScript because 'unsafe-eval' is not allowed");
    },
  });
  try {
    run(JSON.stringify({ ...expr, tag: 'csp' }));
  } finally {
    globalThis.Function = RealFunction;
  }
});
