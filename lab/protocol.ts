/** @file The messages between the lab's page and the Worker that trains a pipeline (both directions), and the run
 * the page hands to the server when a run ends. Plain data: structured-clone safe. */
import type { GraphIR } from '../dsl/ir/schema.ts';
import type { Summary } from '../runtime/summary.ts';

/** page → worker */
export type ToWorker =
  | {
      type: 'start';
      /** the form's values that differ from the defaults, as `key=value` strings (the CLI's --set) */
      sets: string[];
      seed: number;
      /** 'auto': webgpu when the browser has an adapter, else wasm */
      backend: 'auto' | 'webgpu' | 'wasm' | 'cpu';
      /** where tfjs-backend-wasm finds its .wasm files (a URL prefix ending in /) */
      wasmPaths: string;
      /** live samples every this many steps (0: none) */
      viewEvery: number;
      /** rows of the live sample view */
      viewSamples: number;
      /** samples of each evaluation (the CLI's default: 4096) */
      evalSamples: number;
      /** the evaluation Worker's script (/assets/eval-worker.js): on wasm and cpu the evaluations along the way run
       * there, beside training; absent, or on webgpu, they run in the training worker */
      evalWorker?: string;
    }
  | { type: 'validate'; sets: string[] }
  | { type: 'pause' }
  | { type: 'resume' }
  | { type: 'stop' };

/** a 2-D picture of a Gaussian-mixture target: its components, drawn as the density under the samples */
export interface TargetPicture {
  means: number[][];
  stds: number[];
  weights: number[];
}

/** worker → page */
export type FromWorker =
  | { type: 'ready'; name: string; description?: string; at?: string; schema: unknown; defaults: Record<string, unknown> }
  | { type: 'options'; ok: true; config: Record<string, unknown> }
  | { type: 'error'; stage: 'options' | 'graph' | 'backend' | 'run'; message: string }
  | { type: 'backend'; name: string }
  | { type: 'compiled'; ir: GraphIR; irText: string; planText: string; config: Record<string, unknown>; steps: number; target?: TargetPicture }
  /** the teacher's N-step Euler energy distances (the levels the student's curve is read against) and its picture */
  | { type: 'teacher'; levels: Record<string, number>; samples?: Float32Array; d: number }
  | { type: 'step'; step: number; steps: number; losses: Record<string, number>; gradNorms: Record<string, number>; stepsPerSecond: number; etaSeconds: number }
  /** `inEvalWorker`: measured in the evaluation Worker, beside training (else in the training worker) */
  | { type: 'eval'; step: number; metrics: Record<string, number>; inEvalWorker: boolean }
  | { type: 'samples'; step: number; samples: Float32Array; d: number }
  | { type: 'paused' }
  | { type: 'resumed' }
  | { type: 'done'; run: FinishedRun };

/** What the page posts to the server to write a run folder: the session's result and what built it. */
export interface FinishedRun {
  ir: GraphIR;
  config: Record<string, unknown>;
  planText: string;
  summary: Summary;
  rows: Record<string, number | null>[];
  samples?: Float32Array;
  teacherSamples?: Float32Array;
  d?: number;
  /** weights/<file> → safetensors bytes */
  weights: Record<string, Uint8Array>;
}
