/** @file The public surface of distillery. */
export { pipeline, buildIR, resolveConfig, type PipelineDef, type RunDefaults } from './dsl/pipeline.ts';
export { options, runOptions, optionsJsonSchema } from './dsl/options.ts';
export { GraphBuilder, adam, type Model, type Adam, type MinimizeOptions } from './dsl/builder.ts';
export { Port, type Scalar } from './dsl/port.ts';
export { mlp, toy, gmmToy, type Toy, type ModelSpec } from './dsl/models.ts';
export { dmd, dmdGradient, dmdLoss, denoisingLoss, regressionLoss } from './ops/objectives.ts';
export { compile, printPlan, type Plan } from './dsl/compile/index.ts';
export { printIR } from './dsl/ir/print.ts';
export { verify, parseIR } from './dsl/ir/verify.ts';
export { GraphIRSchema, type GraphIR } from './dsl/ir/schema.ts';
export { GraphError, UserError, formatIssue, type GraphIssue } from './dsl/errors.ts';
export { loadBackend, type Backend, type BackendName } from './gpu/backend.ts';
export { Executor, initialWeights, NonFiniteError, type ExecutorState } from './runtime/executor.ts';
export { runIR, resumeRun, type RunOptions, type Summary } from './runtime/run.ts';
export { loadCheckpoint, writeCheckpoint, listCheckpoints, type Checkpoint } from './runtime/checkpoint.ts';
export { train, trainStep, evaluateEvery, type StepEvent } from './runtime/train.ts';
export { encodeSafetensors, decodeSafetensors, loadSafetensors } from './runtime/safetensors.ts';
export type { DType, Dim, Shape, TensorType } from './dsl/types.ts';
