/** @file The TensorFlow.js target's lowering table: one entry per op kind (`tsc` fails on a missing one). */
import type { TfjsTable } from './context.ts';
import { elementwiseLowerings } from './elementwise.ts';
import { sourceLowerings } from './sources.ts';
import { networkLowerings } from './network.ts';
import { samplerLowerings } from './samplers.ts';

export const TFJS_LOWERINGS = { ...elementwiseLowerings, ...sourceLowerings, ...networkLowerings, ...samplerLowerings } satisfies TfjsTable;

export type { LowerCtx, Tensor, TF, TfjsLowering, TfjsTable, Unsupported } from './context.ts';
