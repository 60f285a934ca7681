/** @file `npm run bench -- <name> [options]`: the performance benchmarks (the method benchmarks live in `distillery bench`). */
import fs from 'node:fs';
import path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { benchDmdStep } from './dmd-step/bench.ts';
import { benchDeferred } from './deferred/bench.ts';
import { WARMUP_SECONDS } from './dmd-step/protocol.ts';

const positive = (flag: string) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${flag} must be an integer ≥ 1, got '${v}'`);
  return n;
};

const seconds = (flag: string) => (v: string) => {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < 0) throw new InvalidArgumentError(`${flag} must be a number of seconds ≥ 0, got '${v}'`);
  return n;
};

const program = new Command('bench')
  .description('performance benchmarks')
  .argument('<name>', 'dmd-step | deferred (the per-update loop against the deferred one: --backend webgpu)')
  .option('--dims <list>', 'data dimensions, comma-separated', (v) => v.split(',').map((d) => positive('--dims')(d.trim())), [2, 64])
  .option('--reps <n>', 'timed repetitions (≥ 5 for the reported figures)', positive('--reps'), 5)
  .option('--warmup <s>', `dmd-step: seconds of warm-up per contestant (default ${WARMUP_SECONDS}: V8 compiles for seconds)`, seconds('--warmup'))
  .option('--backend <name>', 'wasm | cpu | webgpu', 'wasm')
  .option('--no-torch', 'skip the PyTorch baseline even when python3-torch is installed')
  .option('--no-gemm', 'dmd-step: skip the matrix products on their own (roofline, XNNPACK, jax-js)')
  .option('--jaxjs <module>', 'dmd-step: import jax-js from this path instead of the installed @jax-js/jax')
  .option('--batch <n>', 'deferred: the batch size', positive('--batch'), 32)
  .option('--steps <n>', 'deferred: steps per repetition', positive('--steps'), 20)
  .option('--json <file>', 'also write the figures as JSON')
  .action(async (name: string, o: { dims: number[]; reps: number; backend: string; torch: boolean; gemm: boolean; jaxjs?: string; warmup?: number; json?: string; batch: number; steps: number }) => {
    if (name !== 'dmd-step' && name !== 'deferred') throw new InvalidArgumentError(`unknown benchmark '${name}'; choose dmd-step or deferred`);
    const log = (l: string) => console.log(l);
    const res = name === 'deferred' ? await benchDeferred({ ...o, log }) : await benchDmdStep({ ...o, log });
    if (o.json) {
      fs.mkdirSync(path.dirname(path.resolve(o.json)), { recursive: true });
      const tmp = `${o.json}.tmp`;
      fs.writeFileSync(tmp, JSON.stringify({ date: new Date().toISOString(), node: process.version, ...res, backend: o.backend }, null, 2));
      fs.renameSync(tmp, o.json);
      console.log(`→ ${o.json}`);
    }
  });

program.parseAsync(process.argv.slice(2), { from: 'user' }).catch((e: Error) => {
  process.stderr.write(`bench: error: ${e.message}\n`);
  process.exit(1);
});
