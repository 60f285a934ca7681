/** @file The `distillery` command line: run, compile, check, list. User mistakes print one line and exit 1. */
import fs from 'node:fs';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { GraphError, UserError, isUserFacing } from '../../dsl/errors.ts';
import { compile, printPlan } from '../../dsl/compile/index.ts';
import { printIR } from '../../dsl/ir/print.ts';
import { resolveIR } from '../load.ts';
import { runIR } from '../run.ts';
import { checkFile, formatDiagnostic } from '../check.ts';
import { PIPELINES } from '../../pipelines/index.ts';
import { BACKENDS } from '../../gpu/backend.ts';
import { benchForbiddenZone } from '../bench/forbidden-zone.ts';
import { benchCopying, DEFAULT_DIMS } from '../bench/copying.ts';

const int = (name: string, min: number) => (v: string) => {
  const n = Number(v);
  if (!/^-?\d+$/.test(v.trim()) || !Number.isSafeInteger(n) || n < min) throw new InvalidArgumentError(`${name} must be an integer ≥ ${min}, got '${v}'`);
  return n;
};
const backend = (v: string) => {
  if (!(BACKENDS as readonly string[]).includes(v)) throw new InvalidArgumentError(`unknown backend '${v}'; choose one of ${BACKENDS.join(', ')}`);
  return v;
};

const dimList = (v: string) => {
  const dims = v.split(',').map((x) => Number(x.trim()));
  if (!dims.length || dims.some((d) => !Number.isSafeInteger(d) || d < 1)) throw new InvalidArgumentError(`--dims must be positive integers separated by commas, got '${v}'`);
  return dims;
};

const DIAGNOSES = ['copying'];
const diagnosis = (v: string) => {
  const asked = v.split(',').map((x) => x.trim());
  const bad = asked.find((x) => !DIAGNOSES.includes(x));
  if (bad) throw new InvalidArgumentError(`unknown diagnostic '${bad}'; choose ${DIAGNOSES.join(', ')}`);
  return asked;
};

export function program(): Command {
  const p = new Command('distillery').description('diffusion distillation: typed pipelines → IR → plan → RxJS runtime on TensorFlow.js');
  p.exitOverride().configureOutput({ writeErr: () => {} }); // errors are printed once, by main()
  p.command('run')
    .argument('<pipeline>', 'a pipeline name (see `list`), a .ts pipeline file, or a saved .json IR')
    .option('--seed <n>', 'random seed', int('--seed', 0), 1)
    .option('--steps <n>', 'training steps (default: the pipeline’s)', int('--steps', 1))
    .option('--batch <n>', 'batch size (default: the pipeline’s)', int('--batch', 1))
    .option('--backend <name>', `${BACKENDS.join(' | ')}`, backend, 'wasm')
    .option('--out <dir>', 'run folder (default: runs/<pipeline>-seed<seed>)')
    .option('--quiet', 'no progress output')
    .option('--diagnose <what>', 'extra diagnostics at each evaluation: copying', diagnosis)
    .action(async (target: string, o: { seed: number; steps?: number; batch?: number; backend: string; out?: string; quiet?: boolean; diagnose?: string[] }) => {
      const cfg: Record<string, number> = {};
      if (o.steps) cfg.steps = o.steps;
      if (o.batch) cfg.batch = o.batch;
      const ir = await resolveIR(target, cfg);
      const out = o.out ?? `runs/${ir.name}-seed${o.seed}`;
      const s = await runIR(ir, { seed: o.seed, backend: o.backend, out, ...(o.steps ? { steps: o.steps } : {}), quiet: o.quiet ?? false, ...(o.diagnose ? { diagnose: o.diagnose } : {}) });
      const m = s.metrics as Record<string, number>;
      const parts = [`${s.pipeline}: ${s.steps} steps in ${s.wallSeconds.toFixed(1)} s (${s.iterationsPerSecond.toFixed(1)} it/s, ${s.backend})`];
      if (m.energyDistance !== undefined)
        parts.push(`energy distance ${m.energyDistance.toFixed(4)}, modes ${m.modesCovered}/${m.modesTotal}, off-mode ${(100 * m.offModeFraction).toFixed(1)}%, equivalent teacher NFE ${m.equivalentTeacherNfe}`);
      const c = m.copying as unknown as { copyingScore: number; dNoise: number | null; dCopy: number } | undefined;
      if (c) parts.push(`copying score ${c.copyingScore.toFixed(3)} (dNoise ${c.dNoise?.toFixed(3)}, dCopy ${c.dCopy.toFixed(3)})`);
      console.log(`${parts.join('; ')}\n→ ${out}/summary.json`);
    });
  p.command('compile')
    .argument('<pipeline>', 'a pipeline name, a .ts pipeline file, or a saved .json IR')
    .option('--emit <what>', 'ir | ir-json | plan', 'plan')
    .option('--batch <n>', 'batch size', int('--batch', 1))
    .action(async (target: string, o: { emit: string; batch?: number }) => {
      if (!['ir', 'ir-json', 'plan'].includes(o.emit)) throw new UserError(`--emit must be ir, ir-json or plan, got '${o.emit}'`);
      const ir = await resolveIR(target, o.batch ? { batch: o.batch } : {});
      if (o.emit === 'ir') console.log(printIR(ir));
      else if (o.emit === 'ir-json') console.log(JSON.stringify(ir, null, 1));
      else console.log(printPlan(compile(ir)));
    });
  p.command('check')
    .argument('<file>', 'a pipeline file (.ts)')
    .action((file: string) => {
      if (!fs.existsSync(file)) throw new UserError(`no such file: ${file}`);
      const d = checkFile(file);
      if (d.length) throw new UserError(d.map(formatDiagnostic).join('\n'));
      console.log(`${file}: ok`);
    });
  p.command('bench')
    .description('benchmarks: forbidden-zone (AMD vs DMD / DMD2, specs/amd.md §9), copying (specs/copying-and-dmd.md A.9)')
    .argument('<name>', 'forbidden-zone | copying')
    .option('--seeds <n>', 'seeds per configuration', int('--seeds', 1), 3)
    .option('--quick', 'a small budget (one seed unless --seeds), for a first look')
    .option('--dims <list>', `copying: dimensions, comma-separated (default ${DEFAULT_DIMS.join(',')})`, dimList)
    .option('--backend <name>', `${BACKENDS.join(' | ')}`, backend, 'wasm')
    .option('--out <dir>', 'results folder (default: runs/bench-<name>)')
    .action(async (name: string, o: { seeds: number; quick?: boolean; dims?: number[]; backend: string; out?: string }, cmd: Command) => {
      if (!['forbidden-zone', 'copying'].includes(name)) throw new UserError(`unknown bench '${name}'; choose forbidden-zone or copying`);
      if (o.dims && name !== 'copying') throw new UserError(`--dims applies to the copying bench, not '${name}'`);
      const seeds = o.quick && cmd.getOptionValueSource('seeds') === 'default' ? 1 : o.seeds;
      const out = o.out ?? `runs/bench-${name}`;
      const common = { seeds, quick: o.quick ?? false, out, backend: o.backend, log: (l: string) => console.log(l) };
      const files = name === 'copying' ? await benchCopying({ ...common, dims: o.dims ?? (o.quick ? [2, 8, 32] : DEFAULT_DIMS) }) : await benchForbiddenZone(common);
      console.log(`→ ${files.filter((f) => f.endsWith('.md') || f.endsWith('.json')).join(', ')}`);
    });
  p.command('list')
    .description('the ready-made pipelines')
    .action(() => {
      for (const [k, d] of Object.entries(PIPELINES)) console.log(`${k.padEnd(12)} ${d.description ?? ''}`);
    });
  return p;
}

export async function main(argv: string[]): Promise<number> {
  try {
    await program().parseAsync(argv, { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.exitCode === 0) return 0; // --help, --version
      process.stderr.write(`distillery: error: ${e.message.replace(/^error: /, '')}\n`);
      return 1;
    }
    if (isUserFacing(e)) {
      const msg = e instanceof GraphError ? `the graph has ${e.issues.length} issue(s):\n${e.message}` : e.message;
      process.stderr.write(`distillery: error: ${msg}\n`);
      return 1;
    }
    process.stderr.write(`distillery: internal error (please report): ${(e as Error)?.stack ?? String(e)}\n`);
    return 2;
  }
}
