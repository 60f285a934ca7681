/** @file Type-check a user's pipeline file with ts-morph; diagnostics point at the user's file:line. */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Project, ts } from 'ts-morph';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

export interface Diagnostic {
  file: string;
  line: number;
  column: number;
  message: string;
}

/** Type-check `file`; `text`, when given, stands in for its contents (the lab's editor: unsaved text, checked where
 * the file lives so that its imports resolve as they will when it runs). `distillery`: what `'distillery'` means —
 * the whole package (the CLI) or its portable core (what a browser bundle gets). */
export function checkFile(file: string, o: { text?: string; distillery?: 'index.ts' | 'core.ts' } = {}): Diagnostic[] {
  const abs = path.resolve(file);
  const project = new Project({
    compilerOptions: {
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      strict: true,
      noEmit: true,
      allowImportingTsExtensions: true,
      skipLibCheck: true,
      types: ['node'],
      typeRoots: [path.join(ROOT, 'node_modules', '@types')],
      baseUrl: ROOT,
      // `import … from 'distillery'` resolves to this package wherever the file lives
      paths: { distillery: [path.join(ROOT, o.distillery ?? 'index.ts')], 'distillery/*': [path.join(ROOT, '*')] },
    },
    skipAddingFilesFromTsConfig: true,
  });
  if (o.text !== undefined) project.createSourceFile(abs, o.text, { overwrite: true });
  else project.addSourceFileAtPath(abs);
  project.resolveSourceFileDependencies();
  const program = project.getProgram().compilerObject;
  const src = program.getSourceFile(abs)!;
  const diags = [...program.getSyntacticDiagnostics(src), ...program.getSemanticDiagnostics(src)];
  return diags.map((d) => {
    const pos = d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start) : { line: 0, character: 0 };
    const rel = path.relative(process.cwd(), d.file?.fileName ?? abs);
    return { file: rel.startsWith('..') ? (d.file?.fileName ?? abs) : rel, line: pos.line + 1, column: pos.character + 1, message: ts.flattenDiagnosticMessageText(d.messageText, '\n') };
  });
}

export const formatDiagnostic = (d: Diagnostic) => `${d.file}:${d.line}:${d.column}: ${d.message}`;
