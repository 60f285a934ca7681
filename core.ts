/** @file The portable surface of distillery: everything that runs unchanged in a browser (a Web Worker) as in Node —
 * the DSL (dsl/index.ts), the executor, training and evaluation. Files, checkpoints and the CLI's runs are in
 * index.ts. A pipeline file's `import … from 'distillery'` reaches this in the lab's browser bundles. */
export * from './dsl/index.ts';
export { buildFromConfig, isPipeline } from './dsl/pipeline.ts';
export { parseSets } from './dsl/options.ts';
export { loadBackend, type Backend, type BackendName, type BackendOptions } from './gpu/backend.ts';
export { Executor, NonFiniteError, type ExecutorState } from './runtime/executor.ts';
export { initialWeights } from './runtime/init.ts';
export { RunSession, type SessionOptions, type SessionResult, type StepRecord } from './runtime/session.ts';
export { train, trainStep, evaluateEvery, type StepEvent } from './runtime/train.ts';
export type { Summary } from './runtime/summary.ts';
