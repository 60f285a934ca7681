/**
 * @file Pipeline options as one zod schema: defaults, validation, `--set key=value` coercion and the JSON Schema
 * that `distillery schema` prints. Every error names the key, the bad value and what is allowed.
 */
import { z } from 'zod';
import { UserError } from './errors.ts';

/** the options every pipeline has */
export const runOptions = {
  batch: z.int().min(1).default(256).describe('rows per batch: the size of the named dim B'),
  steps: z.int().min(1).default(1000).describe('training steps; a step updates each role `ratio` times'),
  evalEvery: z.int().min(0).default(500).describe('evaluate the student every this many steps (0: only at the end)'),
};

export type OptionsSchema = z.ZodObject<z.ZodRawShape>;

/** A pipeline's option schema: the run options (with this pipeline's defaults) plus its own; unknown keys are refused. */
export function options<S extends z.ZodRawShape>(shape: S, run: { batch?: number; steps?: number; evalEvery?: number } = {}) {
  const withDefault = (k: keyof typeof runOptions) => (run[k] === undefined ? runOptions[k] : runOptions[k].removeDefault().default(run[k]));
  return z.object({ batch: withDefault('batch'), steps: withDefault('steps'), evalEvery: withDefault('evalEvery'), ...shape }).strict();
}

/** A schema for a pipeline declared with a plain defaults object: each key keeps the type of its default. */
export function inferOptions(defaults: Record<string, unknown>): OptionsSchema {
  const shape: Record<string, z.ZodType> = {};
  for (const [k, v] of Object.entries(defaults)) {
    if (k === 'batch' || k === 'steps' || k === 'evalEvery') continue;
    if (typeof v === 'number') shape[k] = z.number().default(v);
    else if (typeof v === 'boolean') shape[k] = z.boolean().default(v);
    else if (typeof v === 'string') shape[k] = z.string().default(v);
    else shape[k] = z.unknown().default(v);
  }
  const run = defaults as { batch?: number; steps?: number; evalEvery?: number };
  return options(shape, { batch: run.batch, steps: run.steps, evalEvery: run.evalEvery }) as unknown as OptionsSchema;
}

/** the innermost schema under defaults and optionals: what a value of this key must be */
function base(s: z.ZodType): z.ZodType {
  let t = s;
  for (;;) {
    const def = (t as unknown as { _zod: { def: { type: string; innerType?: z.ZodType } } })._zod.def;
    if ((def.type === 'default' || def.type === 'optional' || def.type === 'prefault' || def.type === 'nullable') && def.innerType) t = def.innerType;
    else return t;
  }
}

const kind = (s: z.ZodType) => (base(s) as unknown as { _zod: { def: { type: string } } })._zod.def.type;

/** What a key accepts, in words (`an integer ≥ 1`, `one of dmd, dmd2, amd`), read off its JSON Schema. */
export function describeOption(s: z.ZodType): string {
  const j = z.toJSONSchema(base(s), { unrepresentable: 'any' }) as { type?: string; enum?: unknown[]; minimum?: number; maximum?: number; exclusiveMinimum?: number; exclusiveMaximum?: number };
  if (j.enum) return `one of ${j.enum.join(', ')}`;
  if (j.type === 'integer' || j.type === 'number') {
    const big = (v: number | undefined) => (v !== undefined && Math.abs(v) < Number.MAX_SAFE_INTEGER ? v : undefined);
    const lo = big(j.minimum) !== undefined ? `≥ ${j.minimum}` : big(j.exclusiveMinimum) !== undefined ? `> ${j.exclusiveMinimum}` : '';
    const hi = big(j.maximum) !== undefined ? `≤ ${j.maximum}` : big(j.exclusiveMaximum) !== undefined ? `< ${j.exclusiveMaximum}` : '';
    return `${j.type === 'integer' ? 'an integer' : 'a number'}${[lo, hi].filter(Boolean).map((x) => ` ${x}`).join(' and')}`;
  }
  if (j.type === 'boolean') return 'true or false';
  if (j.type === 'string') return 'a string';
  return j.type ?? 'a valid value';
}

/** `key=value` strings → typed overrides, coerced by each key's schema; unknown keys are refused. */
export function parseSets(schema: OptionsSchema, sets: readonly string[], pipeline: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const s of sets) {
    const eq = s.indexOf('=');
    if (eq <= 0) throw new UserError(`--set '${s}': expected key=value`);
    const key = s.slice(0, eq).trim();
    const raw = s.slice(eq + 1).trim();
    const field = schema.shape[key] as z.ZodType | undefined;
    if (!field) throw new UserError(`--set ${s}: pipeline '${pipeline}' has no option '${key}'; its options: ${Object.keys(schema.shape).join(', ')}`);
    const k = kind(field);
    let v: unknown = raw;
    if (k === 'number') v = raw !== '' && Number.isFinite(Number(raw)) ? Number(raw) : raw;
    else if (k === 'boolean') v = raw === 'true' ? true : raw === 'false' ? false : raw;
    else if (raw === 'undefined' && field.safeParse(undefined).success) v = undefined;
    if (typeof v === 'string' && k !== 'string' && k !== 'enum' && k !== 'literal' && k !== 'union' && k !== 'unknown')
      throw new UserError(`--set ${s}: option '${key}' must be ${describeOption(field)}, got '${raw}'`);
    out[key] = v;
  }
  return out;
}

/** Validate merged overrides against the schema; `from` says where they came from (--set, a config file). */
export function resolveOptions<C>(schema: OptionsSchema, overrides: Record<string, unknown>, pipeline: string, from = 'options'): C {
  const unknown = Object.keys(overrides).filter((k) => !(k in schema.shape));
  if (unknown.length) throw new UserError(`${from}: pipeline '${pipeline}' has no option ${unknown.map((k) => `'${k}'`).join(', ')}; its options: ${Object.keys(schema.shape).join(', ')}`);
  const r = schema.safeParse(overrides);
  if (r.success) return r.data as C;
  const lines = r.error.issues.map((i) => {
    const key = i.path.join('.');
    const field = schema.shape[String(i.path[0])] as z.ZodType | undefined;
    const got = overrides[String(i.path[0])];
    return `${from}: option '${key}' must be ${field ? describeOption(field) : 'valid'}, got ${JSON.stringify(got)}${typeof got === 'string' ? ' (a string)' : ''}`;
  });
  throw new UserError(lines.join('\n'));
}

/** The JSON Schema of a pipeline's options (input side: every key with a default is optional). */
export const optionsJsonSchema = (schema: OptionsSchema): unknown => z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' });
