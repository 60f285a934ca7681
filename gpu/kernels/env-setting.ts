/** @file The DISTILLERY_* settings the kernels read from the environment: unset or empty gives the caller's default,
 * a bad value one clear error naming the variable. Safe where there is no `process` (a browser). */
import { UserError } from '../../dsl/errors.ts';

/** the parsed value of environment variable `name`; undefined when unset or empty. `parse` returns undefined for a
 * value it refuses, and the error says the value must be `want`. */
export function envSetting<T>(name: string, parse: (raw: string) => T | undefined, want: string): T | undefined {
  const raw = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env?.[name];
  if (raw === undefined || raw === '') return undefined;
  const value = parse(raw);
  if (value === undefined) throw new UserError(`${name} must be ${want}, got '${raw}'`);
  return value;
}
