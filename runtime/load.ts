/** @file Resolve what the CLI is given — a pipeline name, a .ts pipeline file, or a saved IR (.json) — to IR. */
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { PIPELINES } from '../pipelines/index.ts';
import { buildIR, isPipeline, type PipelineDef } from '../dsl/pipeline.ts';
import { parseIR } from '../dsl/ir/verify.ts';
import { GraphError, UserError } from '../dsl/errors.ts';
import type { GraphIR } from '../dsl/ir/schema.ts';
import { checkFile, formatDiagnostic } from './check.ts';

export async function loadPipelineFile(file: string): Promise<PipelineDef<any>> {
  if (!fs.existsSync(file)) throw new UserError(`no such file: ${file}`);
  const diags = checkFile(file);
  if (diags.length) throw new UserError(`${file} does not type-check (${diags.length} error${diags.length > 1 ? 's' : ''}):\n${diags.map(formatDiagnostic).join('\n')}`);
  const mod = (await import(pathToFileURL(path.resolve(file)).href)) as Record<string, unknown>;
  const def = mod.default ?? Object.values(mod).find(isPipeline);
  if (!isPipeline(def)) throw new UserError(`${file} exports no pipeline (export default pipeline(...))`);
  return def;
}

/** `config` overrides the pipeline's defaults (batch, steps, …); for saved IR only `steps` applies. */
export async function resolveIR(target: string, config: Record<string, number> = {}): Promise<GraphIR> {
  if (target.endsWith('.json')) {
    let json: unknown;
    try {
      json = JSON.parse(fs.readFileSync(target, 'utf8'));
    } catch (e) {
      throw new UserError(`cannot read IR '${target}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    const { ir, issues } = parseIR(json);
    if (!ir) throw new GraphError(issues);
    return config.steps ? { ...ir, run: { ...ir.run, steps: config.steps } } : ir;
  }
  const def = target.endsWith('.ts') || target.endsWith('.mts') ? await loadPipelineFile(target) : PIPELINES[target];
  if (!def) throw new UserError(`unknown pipeline '${target}'; choose one of ${Object.keys(PIPELINES).join(', ')}, or give a .ts pipeline file or a saved .json IR`);
  return buildIR(def, config);
}
