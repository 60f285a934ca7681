/** @file The portable surface of distillery: everything that runs unchanged in a browser (a Web Worker) as in Node —
 * the DSL, the compiler, the executor, training and evaluation. Files, checkpoints and the CLI's runs are in index.ts. */
export { pipeline, buildIR, buildFromConfig, resolveConfig, isPipeline, type PipelineDef, type RunDefaults } from './dsl/pipeline.ts';
export { options, runOptions, optionsJsonSchema, parseSets } from './dsl/options.ts';
export { GraphBuilder, adam, type Model, type Adam, type MinimizeOptions } from './dsl/builder.ts';
export { Port, type Scalar } from './dsl/port.ts';
export { mlp, toy, gmmToy, type Toy, type ModelSpec } from './dsl/models.ts';
export { dmd, dmdGradient, dmdLoss, denoisingLoss, regressionLoss, type DenoisingWeighting } from './dsl/objectives/dmd.ts';
export { discriminatorLoss, generatorLoss, type GanHead } from './dsl/objectives/gan.ts';
export { backwardSimulation, multistepSample, rungInputs, studentLadder, prefitOnLadder } from './dsl/objectives/multistep.ts';
export { compile, printPlan, type Plan } from './dsl/compile/index.ts';
export { printIR } from './dsl/ir/print.ts';
export { verify, parseIR } from './dsl/ir/verify.ts';
export { GraphIRSchema, type GraphIR } from './dsl/ir/schema.ts';
export { GraphError, UserError, formatIssue, type GraphIssue } from './dsl/errors.ts';
export { loadBackend, type Backend, type BackendName } from './gpu/backend.ts';
export { Executor, NonFiniteError, type ExecutorState } from './runtime/executor.ts';
export { initialWeights } from './runtime/init.ts';
export { RunSession, type SessionOptions, type SessionResult, type StepRecord } from './runtime/session.ts';
export { train, trainStep, evaluateEvery, type StepEvent } from './runtime/train.ts';
export type { Summary } from './runtime/summary.ts';
export type { DType, Dim, Shape, TensorType } from './dsl/types.ts';
