/** @file compile(): verify → passes (each named when it fails) → plan. */
import type { GraphIR } from '../ir/schema.ts';
import { verify } from '../ir/verify.ts';
import { GraphError } from '../errors.ts';
import { PIPELINE, type Pass } from './passes.ts';
import { buildPlan, type Plan } from './plan.ts';
import { modelDef } from '../../ops/models/index.ts';
import { Rng } from '../../ops/rng.ts';

export interface CompileOptions {
  /** run verify after every pass (also on with DSL_VERIFY=1) */
  verifyEachPass?: boolean;
  /** parameter count of a role, for the plan's memory figures */
  paramCount?: (role: string) => number;
  /** fuse chains of elementwise ops off the gradient tape into one generated kernel each (default true) */
  fuse?: boolean;
}

export function runPasses(ir: GraphIR, passes: readonly Pass[], o: CompileOptions = {}): GraphIR {
  const check = o.verifyEachPass ?? (typeof process !== 'undefined' && process.env?.DSL_VERIFY === '1');
  const done: string[] = [];
  for (const p of passes) {
    try {
      ir = p.run(ir);
    } catch (e) {
      if (e instanceof GraphError) throw e;
      throw new Error(`internal: pass '${p.name}' failed after [${done.join(', ')}]: ${(e as Error).message}`, { cause: e });
    }
    done.push(p.name);
    if (check) {
      const issues = verify(ir);
      if (issues.length) throw new Error(`internal: verify failed after pass '${p.name}' (after [${done.join(', ')}]):\n${new GraphError(issues).message}`);
    }
  }
  return ir;
}

export function compile(ir: GraphIR, o: CompileOptions = {}): Plan {
  const issues = verify(ir);
  if (issues.length) throw new GraphError(issues);
  return buildPlan(runPasses(ir, PIPELINE, o), o.paramCount ?? paramCounts(ir), { fuse: o.fuse ?? true });
}

/** Parameters per role, from the shapes of each model's initial weights (verify has checked every config). */
function paramCounts(ir: GraphIR): (role: string) => number {
  const counts = new Map(
    ir.models.map((m) => {
      const def = modelDef(m.kind)!;
      const w = def.init(def.config.parse(m.config), new Rng(['param-count']));
      return [m.role, Object.values(w).reduce((a, t) => a + t.data.length, 0)];
    }),
  );
  return (role) => counts.get(role) ?? 0;
}

export { buildPlan, printPlan, type Plan, type PlanStep, type UpdatePlan } from './plan.ts';
export { PIPELINE, inferShapes, lowerNoGrad, dce, cse } from './passes.ts';
