/** @file The messages between a run and its evaluation worker thread. */
import type { GraphIR } from '../../dsl/ir/schema.ts';
import type { HostTensor } from '../../ops/models/index.ts';
import type { StudentMetrics } from '../evaluate.ts';

export type ToEvalWorker =
  | { type: 'init'; ir: GraphIR; seed: number; backend: string; evalSamples: number }
  | { type: 'eval'; id: number; step: number; weights: Record<string, Record<string, HostTensor>> };

export type FromEvalWorker =
  | { type: 'ready' }
  /** `tensors` / `bytes`: the worker backend's memory after the evaluation (the leak tests read them) */
  | { type: 'metrics'; id: number; metrics: StudentMetrics; tensors: number; bytes: number }
  | { type: 'error'; id?: number; message: string };
