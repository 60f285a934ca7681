/** @file `pipeline(name, defaults, build)`: a named, configurable graph declaration, and building its IR. */
import { GraphBuilder } from './builder.ts';
import type { GraphIR } from './ir/schema.ts';
import { GraphError } from './errors.ts';
import { callsite } from './callsite.ts';

export interface RunDefaults {
  /** rows per batch: the size of the named dim 'B' */
  batch: number;
  /** training steps; a step updates each role `ratio` times */
  steps: number;
  /** evaluate the metrics every this many steps (0: only at the end) */
  evalEvery: number;
}

export interface PipelineDef<C extends RunDefaults = RunDefaults> {
  readonly kind: 'pipeline';
  readonly name: string;
  readonly defaults: C;
  readonly description?: string;
  readonly at?: string;
  build(g: GraphBuilder, config: C): void;
}

/** Declare a pipeline. `build` receives the graph builder `g` and the resolved config. */
export function pipeline<const C extends RunDefaults>(
  name: string,
  defaults: C,
  build: (g: GraphBuilder, config: C) => void,
  description?: string,
): PipelineDef<C> {
  const at = callsite();
  return { kind: 'pipeline', name, defaults, build, ...(description ? { description } : {}), ...(at ? { at } : {}) };
}

export const isPipeline = (x: unknown): x is PipelineDef =>
  typeof x === 'object' && x !== null && (x as PipelineDef).kind === 'pipeline' && typeof (x as PipelineDef).build === 'function';

/** Run the builder and return the IR; every issue found while building is thrown together. */
export function buildIR<C extends RunDefaults>(def: PipelineDef<C>, overrides: Partial<C> = {}): GraphIR {
  const config = { ...def.defaults, ...overrides } as C;
  const g = new GraphBuilder(def.name, { B: config.batch });
  def.build(g, config);
  if (g.issues.length) throw new GraphError(g.issues);
  return g.toIR({ steps: config.steps, evalEvery: config.evalEvery });
}
