/** @file The public surface of distillery: the DSL (dsl/index.ts) and the runtime that trains on TensorFlow.js. */
export * from './dsl/index.ts';
export { loadBackend, type Backend, type BackendName, type BackendOptions } from './gpu/backend.ts';
export { Executor, NonFiniteError, type ExecutorState } from './runtime/executor.ts';
export { initialWeights } from './runtime/init.ts';
export { runIR, resumeRun, type RunOptions, type Summary } from './runtime/run.ts';
export { loadCheckpoint, writeCheckpoint, listCheckpoints, type Checkpoint } from './runtime/checkpoint.ts';
export { train, trainStep, evaluateEvery, type StepEvent } from './runtime/train.ts';
export { encodeSafetensors, decodeSafetensors, loadSafetensors } from './runtime/safetensors.ts';
