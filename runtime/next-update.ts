/** @file Which update the training loop runs next, as train.ts orders them (each step: the plan's updates in order,
 * each `ratio` times), so that the executor can ask for its draws ahead. A guess, and only a speed hint: a loop that
 * runs them in another order (warm-up, a caller's own) just finds nothing drawn ahead. */
import type { UpdatePlan } from '../dsl/compile/plan.ts';

export class NextUpdate {
  private readonly order: readonly UpdatePlan[];
  /** where in `order` the last update that began stands */
  private at = -1;

  constructor(updates: readonly UpdatePlan[]) {
    this.order = updates.flatMap((u) => Array.from({ length: u.ratio }, () => u));
  }

  /** `u` begins: the update expected after it (undefined where `u` is not in a step's order) */
  after(u: UpdatePlan): UpdatePlan | undefined {
    const n = this.order.length;
    const expected = (this.at + 1) % n;
    const here = this.order[expected] === u ? expected : this.order.indexOf(u);
    if (here < 0) return undefined;
    this.at = here;
    return this.order[(here + 1) % n];
  }
}
