/** @file Where a node was declared: the first stack frame outside the library's own dsl/ and ops/ code. */
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const LIBRARY = [path.join(ROOT, 'dsl') + path.sep, path.join(ROOT, 'ops') + path.sep];

function frameFile(line: string): { file: string; line: number } | undefined {
  const m = /\(?((?:file:\/\/)?[^()\s]+?):(\d+):\d+\)?\s*$/.exec(line);
  if (!m) return undefined;
  let file = m[1]!;
  if (file.startsWith('file://')) file = fileURLToPath(file);
  return { file, line: Number(m[2]) };
}

/** "pipelines/dmd2-ring.ts:41" (relative to the cwd when below it), or undefined. */
export function callsite(): string | undefined {
  const stack = new Error().stack?.split('\n').slice(1) ?? [];
  for (const l of stack) {
    const f = frameFile(l);
    if (!f || f.file.startsWith('node:') || f.file.includes('node_modules')) continue;
    if (LIBRARY.some((dir) => f.file.startsWith(dir))) continue;
    const rel = path.relative(process.cwd(), f.file);
    return `${rel.startsWith('..') ? f.file : rel}:${f.line}`;
  }
  return undefined;
}
