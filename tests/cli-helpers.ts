/** Test helpers for the command line: run `distillery …` as a user does, and check a user error's shape. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';

const bin = path.resolve('bin/distillery.mjs');

export const cli = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', timeout: 600_000 });

/** non-zero exit, one `distillery: error:` line matching `pattern`, no stack trace */
export function oneCleanError(r: ReturnType<typeof cli>, pattern: RegExp): void {
  assert.notEqual(r.status, 0, 'non-zero exit');
  assert.match(r.stderr, /^distillery: error: /);
  assert.match(r.stderr, pattern);
  assert.doesNotMatch(r.stderr, /\n\s+at .+:\d+:\d+/, 'no stack trace');
}
