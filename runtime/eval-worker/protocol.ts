/** @file The messages between a run and its evaluation worker (a Node worker thread or a browser Worker), and the
 * ends of the channel they travel on. Plain data: structured-clone safe. */
import type { GraphIR } from '../../dsl/ir/schema.ts';
import type { HostTensor } from '../../ops/models/index.ts';
import type { StudentMetrics } from '../evaluate.ts';

export interface EvalWorkerInit {
  ir: GraphIR;
  seed: number;
  backend: string;
  evalSamples: number;
  /** where tfjs-backend-wasm finds its .wasm files (a browser: a URL prefix ending in /) */
  wasmPaths?: string;
}

export type ToEvalWorker = ({ type: 'init' } & EvalWorkerInit) | { type: 'eval'; id: number; step: number; weights: Record<string, Record<string, HostTensor>> };

export type FromEvalWorker =
  | { type: 'ready' }
  /** `tensors` / `bytes`: the worker backend's memory after the evaluation (the leak tests read them) */
  | { type: 'metrics'; id: number; metrics: StudentMetrics; tensors: number; bytes: number }
  | { type: 'error'; id?: number; message: string };

/** The worker's end: a browser Worker's global scope, a MessagePort (Node's `parentPort` too). */
export interface EvalServePort {
  postMessage(m: FromEvalWorker, transfer: Transferable[]): void;
  addEventListener(type: 'message', f: (ev: { data: ToEvalWorker }) => void): void;
}

/** The run's end: a browser Worker as it is, or an adapter over Node's (an 'error' event: the worker itself failed —
 * it threw at the top, did not load, exited). */
export interface EvalClientPort {
  postMessage(m: ToEvalWorker): void;
  addEventListener(type: 'message', f: (ev: { data: FromEvalWorker }) => void): void;
  addEventListener(type: 'error', f: (ev: { message?: string; preventDefault?(): void }) => void): void;
  terminate(): unknown;
}
