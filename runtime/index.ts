export { runIR, type RunOptions, type Summary } from './run.ts';
export { train, trainStep, evaluateEvery, type StepEvent } from './train.ts';
export { Executor } from './executor.ts';
export { initialWeights } from './init.ts';
