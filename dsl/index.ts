/** @file The DSL's public surface: declare a pipeline, build and check its IR, compile it to a plan. Nothing here
 * reaches the file system or Node, so a browser worker can import it ('distillery' adds the runtime). */
export { pipeline, buildIR, resolveConfig, type PipelineDef, type RunDefaults } from './pipeline.ts';
export { options, runOptions, optionsJsonSchema } from './options.ts';
export { GraphBuilder, adam, type Model, type Adam, type MinimizeOptions } from './builder.ts';
export { Port, type Scalar } from './port.ts';
export { mlp, toy, gmmToy, type Toy, type ModelSpec } from './models.ts';
export { dmd, dmdGradient, dmdLoss, denoisingLoss, regressionLoss, type DenoisingWeighting } from './objectives/dmd.ts';
export { discriminatorLoss, generatorLoss, type GanHead } from './objectives/gan.ts';
export { backwardSimulation, multistepSample, rungInputs, studentLadder, prefitOnLadder } from './objectives/multistep.ts';
export { compile, printPlan, type Plan } from './compile/index.ts';
export { printIR } from './ir/print.ts';
export { verify, parseIR } from './ir/verify.ts';
export { GraphIRSchema, type GraphIR } from './ir/schema.ts';
export { GraphError, UserError, formatIssue, type GraphIssue } from './errors.ts';
export type { DType, Dim, Shape, TensorType } from './types.ts';
