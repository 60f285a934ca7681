/** @file Reverse-mode gradients of scalar expressions (ops/scalar.ts), for fused groups on a gradient tape: the
 * gradient of each input as one more scalar expression, of the inputs and of the upstream gradient.
 *
 * Each rule is the derivative written with the operations, and in the order, of TensorFlow.js's own gradient for
 * that op (square: dy·(x·2); div: dy/b and −(dy·a)/b²; …), so that a fused group's gradient carries the same float32
 * roundings as the chain of ops it replaces. Groups this cannot match to the bit are refused (undefined):
 *  - an input read more than once (tfjs sums its contributions in the tape's order);
 *  - a function without a rule here;
 *  - a divisor that is broadcast (tfjs sums dy·a over the broadcast axes before it divides by b²).
 * Broadcast inputs are otherwise fine: the gradient is computed at the group's shape and summed over the broadcast
 * axes afterwards, as tfjs reduces at the op that reads the input (the caller checks that every member of the group
 * has the group's shape, so that op is the last to broadcast). */
import { call, constant, input, type Expr, type ScalarFn } from './scalar.ts';

type Rule = (up: Expr, args: Expr[]) => Expr[];

const RULES: Partial<Record<ScalarFn, Rule>> = {
  add: (up) => [up, up],
  sub: (up) => [up, call('neg', up)],
  mul: (up, [a, b]) => [call('mul', up, b!), call('mul', up, a!)],
  div: (up, [a, b]) => [call('div', up, b!), call('neg', call('div', call('mul', up, a!), call('square', b!)))],
  neg: (up) => [call('neg', up)],
  square: (up, [x]) => [call('mul', up, call('mul', x!, constant(2)))],
};

/** the functions a fused group on a tape may use */
export const differentiableFns = (): ScalarFn[] => Object.keys(RULES) as ScalarFn[];

/**
 * For `e` over inputs x0…x(n−1): per input, the expression of its gradient over x0…x(n−1) and the upstream gradient
 * as input `n` (undefined where the input does not occur); or undefined where the group cannot be differentiated
 * to the bit (see the file's comment). `broadcast[i]`: input i is read broadcast.
 */
export function inputGradients(e: Expr, n: number, broadcast: readonly boolean[]): (Expr | undefined)[] | undefined {
  const grads: (Expr | undefined)[] = Array(n).fill(undefined);
  let ok = true;
  const walk = (x: Expr, up: Expr): void => {
    if (!ok || x.k === 'c') return;
    if (x.k === 'in') {
      if (grads[x.i]) ok = false;
      else grads[x.i] = up;
      return;
    }
    const rule = RULES[x.f];
    if (!rule) return void (ok = false);
    if (x.f === 'div' && x.a[1]!.k === 'in' && broadcast[x.a[1]!.i]) return void (ok = false);
    rule(up, x.a).forEach((u, i) => walk(x.a[i]!, u));
  };
  walk(e, input(n));
  return ok ? grads : undefined;
}
