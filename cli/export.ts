/** @file `distillery export`: a pipeline (name, .ts file or saved IR) as a PyTorch package in one folder. */
import type { GraphIR } from '../dsl/ir/schema.ts';
import { UserError } from '../dsl/errors.ts';
import { torchPackage } from '../export/torch/package.ts';
import { initialWeights } from '../ops/models/init.ts';
import { RunFolder } from '../runtime/files.ts';
import { encodeSafetensors, loadSafetensors, type StoredTensor } from '../runtime/safetensors.ts';

export const TARGETS = ['torch'] as const;

/** every role's initial weights for a seed, as one file (`role/param`) */
function initFile(ir: GraphIR, seed: number): Buffer {
  const init = initialWeights(ir, seed, loadSafetensors);
  const flat: Record<string, StoredTensor> = {};
  for (const [role, w] of init) for (const [k, t] of Object.entries(w)) flat[`${role}/${k}`] = t;
  return encodeSafetensors(flat, { pipeline: ir.name, seed: String(seed) });
}

/** Write the package into `out` (whole or not at all); returns the files written. */
export function exportPipeline(ir: GraphIR, o: { to: string; out: string; seed: number }): string[] {
  if (!(TARGETS as readonly string[]).includes(o.to)) throw new UserError(`unknown --to '${o.to}'; choose ${TARGETS.join(', ')}`);
  const files = torchPackage(ir);
  const init = initFile(ir, o.seed);
  const folder = new RunFolder(o.out);
  try {
    for (const [name, text] of Object.entries(files)) folder.write(name, text);
    folder.write('init.safetensors', init);
    return folder.commit();
  } catch (e) {
    folder.discard();
    throw e;
  }
}
