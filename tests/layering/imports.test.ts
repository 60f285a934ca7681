/** The layering: imports go one way (DSL → IR → passes → plan → target → runtime → CLI), with no cycle between files. */
import test from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const FOLDERS = ['dsl', 'ops', 'gpu', 'export', 'runtime', 'pipelines', 'lab', 'cli', 'bench', 'scripts'];

function sources(): string[] {
  const out: string[] = ['index.ts', 'core.ts'];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(path.join(root, d), { withFileTypes: true })) {
      const rel = path.join(d, e.name);
      if (e.isDirectory()) walk(rel);
      else if (e.name.endsWith('.ts')) out.push(rel);
    }
  };
  FOLDERS.filter((f) => fs.existsSync(path.join(root, f))).forEach(walk);
  return out;
}

/** every relative import of a file (type-only ones too: a cycle of types is still a cycle of meaning) */
export function importsOf(file: string): string[] {
  const text = fs.readFileSync(path.join(root, file), 'utf8');
  const specs = [...text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^;]*?from\s+'(\.[^']+)'/g), ...text.matchAll(/import\(\s*'(\.[^']+)'\s*\)/g)].map((m) => m[1]!);
  return specs.map((s) => path.normalize(path.join(path.dirname(file), s)));
}

const graph = new Map(sources().map((f) => [f, importsOf(f)]));

/** the import cycles of a graph (Tarjan's strongly connected components) */
function cyclesOf(graph: Map<string, string[]>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const on = new Set<string>();
  const cycles: string[][] = [];
  let i = 0;
  const visit = (v: string) => {
    index.set(v, i);
    low.set(v, i++);
    stack.push(v);
    on.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!graph.has(w)) continue;
      if (!index.has(w)) (visit(w), low.set(v, Math.min(low.get(v)!, low.get(w)!)));
      else if (on.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const scc: string[] = [];
      let w: string;
      do (w = stack.pop()!), on.delete(w), scc.push(w);
      while (w !== v);
      if (scc.length > 1 || graph.get(v)!.includes(v)) cycles.push(scc);
    }
  };
  for (const v of graph.keys()) if (!index.has(v)) visit(v);
  return cycles;
}

test('no import cycle between the package’s files', () => {
  const cycles = cyclesOf(graph);
  assert.deepEqual(cycles, [], `import cycles:\n${cycles.map((c) => c.join(' → ')).join('\n')}`);
});

/** what a folder must never import: the layers above it */
const FORBIDDEN: Record<string, string[]> = {
  ops: ['lab/', 'gpu/', 'export/', 'runtime/', 'pipelines/', 'cli/', 'bench/', 'dsl/builder.ts', 'dsl/compile/', 'dsl/objectives/', 'dsl/pipeline.ts'],
  dsl: ['lab/', 'gpu/', 'export/', 'runtime/', 'pipelines/', 'cli/', 'bench/'],
  gpu: ['lab/', 'export/', 'runtime/', 'pipelines/', 'cli/', 'bench/', 'dsl/builder.ts', 'dsl/objectives/'],
  export: ['lab/', 'gpu/', 'runtime/', 'pipelines/', 'cli/', 'bench/', 'dsl/builder.ts', 'dsl/objectives/'],
  runtime: ['lab/', 'export/', 'pipelines/', 'cli/', 'bench/'],
  pipelines: ['lab/', 'gpu/', 'export/', 'runtime/', 'cli/', 'bench/'],
  // the lab sits beside the CLI (which starts its server); benchmarks are not its business
  lab: ['bench/'],
};

function breaches(graph: Map<string, string[]>, layerOf = (f: string) => f.split(path.sep)[0]!): string[] {
  const bad: string[] = [];
  for (const [file, deps] of graph) for (const d of deps) if (FORBIDDEN[layerOf(file)]?.some((f) => d.startsWith(f))) bad.push(`${file} imports ${d}`);
  return bad;
}

test('each layer imports only the layers below it', () => {
  assert.deepEqual(breaches(graph), []);
});

test('the import scanner sees what it must (a cycle and a layer breach planted in a fixture are found)', () => {
  const [a, b] = ['tests/fixtures/layering/a.ts', 'tests/fixtures/layering/b.ts'];
  assert.deepEqual(importsOf(a), [b, 'runtime/run.ts']);
  const planted = new Map([[a, importsOf(a)], [b, importsOf(b)]]);
  assert.deepEqual(cyclesOf(planted).map((c) => c.sort()), [[a, b]]);
  // read as if it sat in pipelines/, its runtime import is a breach
  assert.deepEqual(breaches(planted, () => 'pipelines'), [`${a} imports runtime/run.ts`]);
});
