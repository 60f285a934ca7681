/** @file Resolve what the CLI is given — a pipeline name, a .ts pipeline file, or a saved IR (.json) — to IR. */
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { PIPELINES } from '../pipelines/index.ts';
import { buildFromConfig, isPipeline, resolveConfig, type PipelineDef } from '../dsl/pipeline.ts';
import { parseSets } from '../dsl/options.ts';
import { parseIR } from '../dsl/ir/verify.ts';
import { GraphError, UserError } from '../dsl/errors.ts';
import type { GraphIR } from '../dsl/ir/schema.ts';
import { checkFile, formatDiagnostic } from '../runtime/check.ts';

export async function loadPipelineFile(file: string): Promise<PipelineDef<any>> {
  if (!fs.existsSync(file)) throw new UserError(`no such file: ${file}`);
  const diags = checkFile(file);
  if (diags.length) throw new UserError(`${file} does not type-check (${diags.length} error${diags.length > 1 ? 's' : ''}):\n${diags.map(formatDiagnostic).join('\n')}`);
  const mod = (await import(pathToFileURL(path.resolve(file)).href)) as Record<string, unknown>;
  const def = mod.default ?? Object.values(mod).find(isPipeline);
  if (!isPipeline(def)) throw new UserError(`${file} exports no pipeline (export default pipeline(...))`);
  return def;
}

export interface Resolved {
  ir: GraphIR;
  /** the resolved options (absent for a saved IR) */
  config?: Record<string, unknown>;
}

export interface ResolveOptions {
  /** typed overrides (the CLI's --steps, --batch), applied last */
  overrides?: Record<string, unknown>;
  /** `key=value` strings, coerced by the pipeline's option schema */
  sets?: readonly string[];
  /** a JSON file of options, applied before --set */
  configFile?: string;
}

function readConfigFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new UserError(`cannot read --config '${file}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new UserError(`--config '${file}' is not JSON: ${(e as Error).message}`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new UserError(`--config '${file}' must hold a JSON object of options, got ${Array.isArray(json) ? 'an array' : typeof json}`);
  return json as Record<string, unknown>;
}

export async function resolvePipeline(target: string): Promise<PipelineDef<any>> {
  const def = target.endsWith('.ts') || target.endsWith('.mts') ? await loadPipelineFile(target) : PIPELINES[target];
  if (!def) throw new UserError(`unknown pipeline '${target}'; choose one of ${Object.keys(PIPELINES).join(', ')}, or give a .ts pipeline file or a saved .json IR`);
  return def;
}

/** A pipeline name, .ts file or saved .json IR → IR and the resolved options. For saved IR only `steps` applies. */
export async function resolveTarget(target: string, o: ResolveOptions = {}): Promise<Resolved> {
  const overrides = o.overrides ?? {};
  if (target.endsWith('.json')) {
    if (o.sets?.length || o.configFile) throw new UserError(`--set and --config apply to pipelines; '${target}' is a saved IR (only --steps applies)`);
    let json: unknown;
    try {
      json = JSON.parse(fs.readFileSync(target, 'utf8'));
    } catch (e) {
      throw new UserError(`cannot read IR '${target}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
    const { ir, issues } = parseIR(json);
    if (!ir) throw new GraphError(issues);
    const steps = overrides.steps as number | undefined;
    return { ir: steps ? { ...ir, run: { ...ir.run, steps } } : ir };
  }
  const def = await resolvePipeline(target);
  const file = o.configFile ? readConfigFile(o.configFile) : {};
  if (o.configFile) resolveConfig(def, file, o.configFile); // its own keys and types, named by the file
  const sets = o.sets?.length ? parseSets(def.options, o.sets, def.name) : {};
  const config = resolveConfig(def, { ...file, ...sets, ...overrides }, o.sets?.length ? '--set' : 'options');
  return { ir: buildFromConfig(def, config), config };
}

/** `config` overrides the pipeline's defaults (batch, steps, …); for saved IR only `steps` applies. */
export async function resolveIR(target: string, config: Record<string, number> = {}): Promise<GraphIR> {
  return (await resolveTarget(target, { overrides: config })).ir;
}
