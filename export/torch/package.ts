/** @file The files of an exported PyTorch package: graph.py generated from the plan, and the fixed modules beside it
 * (models, ops, runtime, safetensors I/O, train.py). Pure: the caller writes them (and the initial weights). */
import fs from 'node:fs';
import type { GraphIR } from '../../dsl/ir/schema.ts';
import { compile } from '../../dsl/compile/index.ts';
import { emitGraph } from './emit.ts';
import type { TorchTable } from './lowerings.ts';

const FIXED = ['models.py', 'ops.py', 'runtime.py', 'safetensors_io.py', 'train.py'] as const;
const read = (f: string) => fs.readFileSync(new URL(`./py/${f}`, import.meta.url), 'utf8');

export function torchPackage(ir: GraphIR, o: { table?: TorchTable } = {}): Record<string, string> {
  // the straight-line code reads best unfused: torch fuses nothing by itself here, and every op stays one line
  const plan = compile(ir, { fuse: false });
  const files: Record<string, string> = { 'graph.py': emitGraph(plan, o), 'ir.json': JSON.stringify(ir, null, 1) + '\n' };
  for (const f of FIXED) files[f] = read(f);
  files['README.md'] = readme(ir);
  return files;
}

function readme(ir: GraphIR): string {
  return `# ${ir.name}, exported to PyTorch by distillery

\`graph.py\` is generated from the compiled plan (one function per update); the other modules are fixed.

    python3 train.py --out runs/${ir.name}                      # one process
    torchrun --nproc_per_node 2 train.py --out runs/${ir.name}  # DistributedDataParallel over 2 ranks
    npx distillery evaluate runs/${ir.name}                      # distillery's summary.json and report from the final weights

\`init.safetensors\` holds the initial weights distillery draws for the export's seed (\`role/param\`, distillery's
layout). \`--model ROLE=module:factory\` replaces a role's model with your own \`nn.Module\`, \`--data module:factory\` the
datasets; \`--resume DIR\` continues from the newest checkpoint; \`python3 train.py --help\` lists the rest.
Debian's torch 1.13 needs \`torchrun --redirects 1 --tee 1 …\` under Python 3.11.
`;
}
