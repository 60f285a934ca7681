/** @file What an op means, apart from how any target runs it: params schema, arity, shape/dtype rule,
 * differentiability, randomness, scalar form, and how it treats the rows of a batch. Each target lowers every op kind
 * from its own table (gpu/lower for TensorFlow.js, export/torch for PyTorch). */
import type * as z from 'zod';
import type { TensorType } from '../dsl/types.ts';
import type { DatasetSpec, ModelDecl } from '../dsl/ir/schema.ts';
import type { Expr } from './scalar.ts';

export interface ShapeCtx {
  dims: Record<string, number>;
  model(role: string): ModelDecl | undefined;
  dataset(name: string): DatasetSpec | undefined;
}

/** A shape rule's complaint; verify turns it into a `shape_mismatch` / `dtype_mismatch` issue with the node's file:line. */
export class OpShapeError extends Error {
  constructor(
    message: string,
    readonly code: 'shape_mismatch' | 'dtype_mismatch' | 'unknown_model' | 'unknown_dataset' | 'unknown_dim' | 'bad_params' = 'shape_mismatch',
  ) {
    super(message);
  }
}

/**
 * How an op treats the rows (axis 0) of a batch split across ranks:
 * - 'rowwise': row i of the output depends only on row i of its inputs (or the op has no batch rows): a rank runs it
 *   on its own shard;
 * - 'mixes': an output row depends on other rows (a batch mean, a pairing, a position in the global batch): a
 *   sharded run must see the whole batch.
 */
export type RowUse = 'rowwise' | 'mixes';

/** What a random op draws, so a target can replay another's draws by value: its whole output, or (for an op that
 * passes gradient through) only the permutation it applies. */
export type Replay = 'output' | 'permutation';

export interface OpDef<K extends string = string, P = any> {
  kind: K;
  params: z.ZodType<P>;
  /** number of inputs, or [min, max] */
  arity: number | readonly [number, number];
  shape(ins: TensorType[], p: P, ctx: ShapeCtx): TensorType;
  /** false: no gradient flows through this op (sources, comparisons, stop_gradient) */
  differentiable: boolean;
  /** how rows of the batch meet (see RowUse); a function of the params and input types where it depends on them */
  rows: RowUse | ((p: P, ins: TensorType[]) => RowUse);
  /** draws from the node's random stream: never merged by CSE; its stream is keyed by its rank among random nodes */
  random?: Replay;
  /** its output is that many standard normals drawn from its stream in one call (Rng.normals), and nothing else:
   * a backend may draw them ahead of the update that runs it */
  normalsOnly?: true;
  /** one element of an f32 elementwise op as a scalar expression of its inputs' elements: the planner fuses chains of
   * such ops off the gradient tape into one generated kernel */
  scalar?: (p: P) => (args: Expr[]) => Expr;
}

export const defineOp = <K extends string, P>(def: OpDef<K, P>): OpDef<K, P> => def;

/** whether an op with these params and input types mixes the rows of the batch */
export const rowUse = (def: OpDef, p: unknown, ins: TensorType[]): RowUse => (typeof def.rows === 'function' ? def.rows(p, ins) : def.rows);
