/** @file The public surface of distillery: the portable core (core.ts) and what needs Node — runs that write a run
 * folder, checkpoints, safetensors files. */
export * from './core.ts';
export { runIR, resumeRun, type RunOptions } from './runtime/run.ts';
export { loadCheckpoint, writeCheckpoint, listCheckpoints, type Checkpoint } from './runtime/checkpoint.ts';
export { encodeSafetensors, decodeSafetensors, loadSafetensors } from './runtime/safetensors.ts';
