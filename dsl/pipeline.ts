/** @file `pipeline(name, options, build)`: a named, configurable graph declaration, and building its IR. */
import type { z } from 'zod';
import { GraphBuilder } from './builder.ts';
import type { GraphIR } from './ir/schema.ts';
import { GraphError } from './errors.ts';
import { callsite } from './callsite.ts';
import { inferOptions, resolveOptions, type OptionsSchema } from './options.ts';

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
  /** the option schema: types, ranges, defaults (`distillery schema <pipeline>` prints it) */
  readonly options: OptionsSchema;
  readonly defaults: C;
  readonly description?: string;
  readonly at?: string;
  build(g: GraphBuilder, config: C): void;
}

/**
 * Declare a pipeline. `options` is a zod schema (see `options()` in dsl/options.ts) or a plain object of defaults,
 * whose keys then keep the types of their values. `build` receives the graph builder `g` and the resolved config.
 */
export function pipeline<S extends OptionsSchema>(name: string, options: S, build: (g: GraphBuilder, config: z.output<S> & RunDefaults) => void, description?: string): PipelineDef<z.output<S> & RunDefaults>;
export function pipeline<const C extends RunDefaults>(name: string, defaults: C, build: (g: GraphBuilder, config: C) => void, description?: string): PipelineDef<C>;
export function pipeline(name: string, options: OptionsSchema | RunDefaults, build: (g: GraphBuilder, config: never) => void, description?: string): PipelineDef<never> {
  const at = callsite();
  const schema = isSchema(options) ? options : inferOptions(options as unknown as Record<string, unknown>);
  const defaults = schema.parse({}) as never;
  return { kind: 'pipeline', name, options: schema, defaults, build, ...(description ? { description } : {}), ...(at ? { at } : {}) };
}

const isSchema = (x: unknown): x is OptionsSchema => typeof x === 'object' && x !== null && '_zod' in x && 'shape' in x;

export const isPipeline = (x: unknown): x is PipelineDef =>
  typeof x === 'object' && x !== null && (x as PipelineDef).kind === 'pipeline' && typeof (x as PipelineDef).build === 'function';

/** The pipeline's defaults with `overrides` applied, validated by its schema (a UserError names each bad key). */
export function resolveConfig<C extends RunDefaults>(def: PipelineDef<C>, overrides: Partial<C> | Record<string, unknown> = {}, from = 'options'): C {
  return resolveOptions<C>(def.options, overrides as Record<string, unknown>, def.name, from);
}

/** Run the builder and return the IR; every issue found while building is thrown together. */
export function buildIR<C extends RunDefaults>(def: PipelineDef<C>, overrides: Partial<C> | Record<string, unknown> = {}): GraphIR {
  return buildFromConfig(def, resolveConfig(def, overrides));
}

export function buildFromConfig<C extends RunDefaults>(def: PipelineDef<C>, config: C): GraphIR {
  const g = new GraphBuilder(def.name, { B: config.batch });
  def.build(g, config);
  if (g.issues.length) throw new GraphError(g.issues);
  return g.toIR({ steps: config.steps, evalEvery: config.evalEvery });
}
