/** @file An executor for an IR on a named backend, with its initial weights (loaded files included): what benches and scripts start from. */
import type { GraphIR } from '../dsl/ir/schema.ts';
import { compile } from '../dsl/compile/index.ts';
import { loadBackend } from '../gpu/backend.ts';
import { Executor, type ExecutorOptions } from './executor.ts';
import { initialWeights } from './init.ts';
import { loadSafetensors } from './safetensors.ts';

export async function openExecutor(ir: GraphIR, seed: number, backend: string, options: ExecutorOptions = {}): Promise<Executor> {
  return new Executor(await loadBackend(backend), compile(ir), seed, initialWeights(ir, seed, loadSafetensors), options);
}
