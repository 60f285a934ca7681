/** @file `npm run bench -- <name> [options]`: the performance benchmarks (the method benchmarks live in `distillery bench`). */
import fs from 'node:fs';
import path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { benchDmdStep } from './dmd-step/bench.ts';

const positive = (flag: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${flag} must be an integer ≥ 1, got '${v}'`);
  return n;
};

const program = new Command('bench')
  .description('performance benchmarks')
  .argument('<name>', 'dmd-step')
  .option('--dims <list>', 'data dimensions, comma-separated', (v) => v.split(',').map((d) => positive('--dims')(d.trim())), [2, 64])
  .option('--reps <n>', 'timed repetitions (≥ 5 for the reported figures)', positive('--reps'), 5)
  .option('--backend <name>', 'wasm | cpu | webgpu', 'wasm')
  .option('--no-torch', 'skip the PyTorch baseline even when python3-torch is installed')
  .option('--json <file>', 'also write the figures as JSON')
  .action(async (name: string, o: { dims: number[]; reps: number; backend: string; torch: boolean; json?: string }) => {
    if (name !== 'dmd-step') throw new InvalidArgumentError(`unknown benchmark '${name}'; choose dmd-step`);
    const res = await benchDmdStep({ ...o, log: (l) => console.log(l) });
    if (o.json) {
      fs.mkdirSync(path.dirname(path.resolve(o.json)), { recursive: true });
      const tmp = `${o.json}.tmp`;
      fs.writeFileSync(tmp, JSON.stringify({ date: new Date().toISOString(), backend: o.backend, node: process.version, ...res }, null, 2));
      fs.renameSync(tmp, o.json);
      console.log(`→ ${o.json}`);
    }
  });

program.parseAsync(process.argv.slice(2), { from: 'user' }).catch((e: Error) => {
  process.stderr.write(`bench: error: ${e.message}\n`);
  process.exit(1);
});
