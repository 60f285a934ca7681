#!/usr/bin/env node
// Runs the TypeScript CLI through tsx; `import … from 'distillery'` in a user's pipeline file resolves to this package.
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { register } from 'tsx/esm/api';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
register({ tsconfig: path.join(root, 'tsconfig.json') });
const { main } = await import('../cli/main.ts');
process.exitCode = await main(process.argv.slice(2));
