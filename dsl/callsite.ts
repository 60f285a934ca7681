/** @file Where a node was declared: the first stack frame outside the library's own dsl/ and ops/ code. Plain string
 * work on paths and file:// URLs, no node: module, so the DSL also loads in a browser (where it reports no callsite:
 * a bundle's frames do not name the user's files). */

/** a file:// URL as a path ("file:///a/b%20c.ts" → "/a/b c.ts"); anything else unchanged */
const toPath = (f: string) => (f.startsWith('file://') ? decodeURIComponent(f.slice('file://'.length)) : f);

/** the library's dsl/ and ops/ folders (computed on first use: a classic worker's bundle has no import.meta.url) */
let library: string[] | undefined;
function libraryDirs(): string[] {
  if (!library) {
    const root = toPath(new URL('../', import.meta.url).href);
    library = [`${root}dsl/`, `${root}ops/`];
  }
  return library;
}

function frameFile(line: string): { file: string; line: number } | undefined {
  const m = /\(?((?:file:\/\/)?[^()\s]+?):(\d+):\d+\)?\s*$/.exec(line);
  return m ? { file: toPath(m[1]!), line: Number(m[2]) } : undefined;
}

/** `file` relative to `cwd` when below it, else unchanged */
function belowCwd(file: string, cwd: string): string {
  const dir = cwd.endsWith('/') ? cwd : `${cwd}/`;
  return file.startsWith(dir) ? file.slice(dir.length) : file;
}

/** "pipelines/dmd2-ring.ts:41" (relative to the cwd when below it), or undefined (also always outside Node). */
export function callsite(): string | undefined {
  const proc = (globalThis as { process?: { cwd?(): string } }).process;
  if (typeof proc?.cwd !== 'function') return undefined;
  const stack = new Error().stack?.split('\n').slice(1) ?? [];
  for (const l of stack) {
    const f = frameFile(l);
    if (!f || f.file.startsWith('node:') || f.file.includes('node_modules')) continue;
    if (libraryDirs().some((dir) => f.file.startsWith(dir))) continue;
    return `${belowCwd(f.file, proc.cwd())}:${f.line}`;
  }
  return undefined;
}
