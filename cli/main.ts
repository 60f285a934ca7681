/** @file The `distillery` command line: run, compile, check, list. User mistakes print one line and exit 1. */
import fs from 'node:fs';
import { spawn } from 'node:child_process';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { GraphError, UserError, isUserFacing } from '../dsl/errors.ts';
import { compile, printPlan } from '../dsl/compile/index.ts';
import { printIR } from '../dsl/ir/print.ts';
import { resolveIR, resolvePipeline, resolveTarget } from './load.ts';
import { Interrupted, resumeRun, runIR, type Summary } from '../runtime/run.ts';
import { optionsJsonSchema, parseSets } from '../dsl/options.ts';
import { rebuildReport } from '../runtime/report/report.ts';
import { checkFile, formatDiagnostic } from '../runtime/check.ts';
import { PIPELINES } from '../pipelines/index.ts';
import { BACKENDS } from '../gpu/backend.ts';
import { benchForbiddenZone, FZ_ARMS, FZ_DEFAULT_ARMS } from '../bench/sweeps/forbidden-zone.ts';
import { forbiddenZone, type FzConfig } from '../pipelines/forbidden-zone.ts';
import { benchCopying, COPYING_ARMS, DEFAULT_COPYING_ARMS, DEFAULT_DIMS } from '../bench/sweeps/copying.ts';
import { benchDmmd, DMMD_ARMS, STUDENT_STEPS, type DmmdArm } from '../bench/sweeps/dmmd.ts';
import { benchDmd2, DMD2_ARMS } from '../bench/sweeps/dmd2.ts';
import { exportPipeline, TARGETS } from './export.ts';
import { parity, printParity } from './parity.ts';
import { evaluateImported } from '../runtime/imported.ts';
import { rescoreRun } from '../runtime/rescore.ts';
import { DEFAULT_EVAL_SAMPLES } from '../runtime/evaluate.ts';
import { NO_TORCH, torchPython } from './python.ts';

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

const list = (v: string) => v.split(',').map((x) => x.trim()).filter(Boolean);

const stepList = (v: string) => {
  const ks = v.split(',').map((x) => Number(x.trim()));
  if (!ks.length || ks.some((k) => !Number.isSafeInteger(k) || k < 1 || k > 64)) throw new InvalidArgumentError(`--ks must be step counts from 1 to 64 separated by commas, got '${v}'`);
  return ks;
};

const DIAGNOSES = ['copying'];
const diagnosis = (v: string) => {
  const asked = v.split(',').map((x) => x.trim());
  const bad = asked.find((x) => !DIAGNOSES.includes(x));
  if (bad) throw new InvalidArgumentError(`unknown diagnostic '${bad}'; choose ${DIAGNOSES.join(', ')}`);
  return asked;
};

interface RunFlags {
  seed: number;
  steps?: number;
  batch?: number;
  set: string[];
  config?: string;
  backend: string;
  out?: string;
  quiet?: boolean;
  diagnose?: string[];
  evalSamples?: number;
  checkpointEvery?: number;
  keep: number;
  maxNonFinite: number;
  resume?: string;
  dryRun?: boolean;
}

/** what stands beside a mixture's energy distance: the mode masses' part, and exact samples' score (mean ± sd) */
function energyNotes(metrics: Record<string, unknown>): string {
  const notes: string[] = [];
  const mass = metrics.massEnergyDistance;
  if (typeof mass === 'number' && Number.isFinite(mass)) notes.push(`${mass.toFixed(4)} from the mode masses alone`);
  const exact = metrics.exactSamplesEnergyDistance as { mean: number; sd: number } | undefined;
  if (exact) notes.push(`exact samples ${exact.mean.toFixed(4)} ± ${exact.sd.toFixed(4)}`);
  return notes.length ? ` (${notes.join('; ')})` : '';
}

function summaryLine(s: Summary): string {
  const m = s.metrics as Record<string, number>;
  const parts = [`${s.pipeline}: ${s.steps} steps in ${s.wallSeconds.toFixed(1)} s (${s.iterationsPerSecond.toFixed(1)} it/s, ${s.backend})`];
  if (m.energyDistance !== undefined)
    parts.push(
      `energy distance ${m.energyDistance.toFixed(4)}${energyNotes(s.metrics)}, modes covered ${m.modesCovered}/${m.modesTotal}, within 2× their share ${m.modesWithinFactor2}/${m.modesTotal} (mass ratios ${m.minModeMassRatio?.toFixed(2)}–${m.maxModeMassRatio?.toFixed(2)}), off-mode ${(100 * m.offModeFraction).toFixed(1)}%`,
    );
  if (m.invalidRate !== undefined) {
    const k = (s as unknown as { metrics: { teacherBySteps?: Record<string, { invalidRate: number }> } }).metrics.teacherBySteps;
    parts.push(`invalid ${(100 * m.invalidRate).toFixed(1)}%, TV ${m.tv!.toFixed(3)}, GM ${m.gm!.toFixed(4)}, support recall ${m.supportRecall!.toFixed(3)}`);
    if (k) parts.push(`teacher invalid by steps: ${Object.entries(k).map(([n, v]) => `${n}: ${(100 * v.invalidRate).toFixed(1)}%`).join(', ')}`);
  }
  const c = m.copying as unknown as { copyingScore: number; dNoise: number | null; dCopy: number } | undefined;
  if (c) parts.push(`copying score ${c.copyingScore.toFixed(3)} (dNoise ${c.dNoise?.toFixed(3)}, dCopy ${c.dCopy.toFixed(3)})`);
  const skipped = Object.values(s.nonFinite.skipped).reduce((a, b) => a + b, 0);
  if (skipped) parts.push(`${skipped} non-finite update(s) skipped`);
  const headline = (s.metrics as { headline?: unknown }).headline;
  return parts.join('; ') + (typeof headline === 'string' ? `\n${headline}` : '');
}

export function program(): Command {
  const p = new Command('distillery').description('diffusion distillation: typed pipelines → IR → plan → RxJS runtime on TensorFlow.js');
  p.exitOverride().configureOutput({ writeErr: () => {} }); // errors are printed once, by main()
  p.command('run')
    .argument('[pipeline]', 'a pipeline name (see `list`), a .ts pipeline file, or a saved .json IR')
    .option('--seed <n>', 'random seed', int('--seed', 0), 1)
    .option('--steps <n>', 'training steps (default: the pipeline’s)', int('--steps', 1))
    .option('--batch <n>', 'batch size (default: the pipeline’s)', int('--batch', 1))
    .option('--set <key=value>', 'set a pipeline option (repeatable; `distillery schema <pipeline>` lists them)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--config <file.json>', 'pipeline options from a JSON file (applied before --set)')
    .option('--backend <name>', `${BACKENDS.join(' | ')}`, backend, 'wasm')
    .option('--out <dir>', 'run folder (default: runs/<pipeline>-seed<seed>)')
    .option('--quiet', 'no progress output')
    .option('--diagnose <what>', 'extra diagnostics at each evaluation: copying', diagnosis)
    .option('--eval-samples <n>', 'samples of each evaluation (default 4096; the energy distance\'s noise falls as 1/n)', int('--eval-samples', 2))
    .option('--checkpoint-every <n>', 'write the full training state every n steps into <out>/checkpoints', int('--checkpoint-every', 1))
    .option('--keep <k>', 'checkpoints to keep (newest)', int('--keep', 1), 3)
    .option('--max-non-finite <n>', 'stop after n NaN/Inf updates in a row (each is skipped)', int('--max-non-finite', 1), 20)
    .option('--resume <dir>', 'continue a run from its newest checkpoint (a run folder) or from a checkpoint folder')
    .option('--dry-run', 'validate the options and compile the plan; train nothing, write nothing')
    .action(async (target: string | undefined, o: RunFlags, cmd: Command) => {
      if (o.resume) {
        const given = ['seed', 'steps', 'batch', 'set', 'config', 'backend', 'diagnose', 'evalSamples', 'checkpointEvery', 'keep', 'maxNonFinite', 'dryRun'].filter((k) => cmd.getOptionValueSource(k) === 'cli');
        if (given.length) throw new UserError(`--resume continues the run as it was configured; drop ${given.map((k) => `--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`).join(', ')}`);
        const s = await whileSignalsStop((stop) => resumeRun(o.resume!, { quiet: o.quiet ?? false, stop }));
        console.log(`${summaryLine(s)}\n→ resumed from step ${s.resumedFrom}; ${o.resume}`);
        return;
      }
      if (!target) throw new UserError('run needs a pipeline (a name, a .ts file or a saved .json IR), or --resume <dir>');
      const overrides: Record<string, number> = {};
      if (o.steps) overrides.steps = o.steps;
      if (o.batch) overrides.batch = o.batch;
      const { ir, config } = await resolveTarget(target, { overrides, sets: o.set, ...(o.config ? { configFile: o.config } : {}) });
      if (o.dryRun) {
        const plan = compile(ir);
        const updates = plan.updates.map((u) => `${u.role}×${u.ratio}${u.warmup ? ` (+${u.warmup} warm-up)` : ''}`).join(', ');
        console.log(`${ir.name}: options valid, plan compiled — ${ir.nodes.length} nodes, updates ${updates}, ${ir.run.steps} steps${config ? `\n${JSON.stringify(config)}` : ''}`);
        return;
      }
      const out = o.out ?? `runs/${ir.name}-seed${o.seed}`;
      const s = await whileSignalsStop((stop) => runIR(ir, {
        stop,
        seed: o.seed,
        backend: o.backend,
        out,
        quiet: o.quiet ?? false,
        keep: o.keep,
        maxNonFinite: o.maxNonFinite,
        ...(o.checkpointEvery ? { checkpointEvery: o.checkpointEvery } : {}),
        ...(o.diagnose ? { diagnose: o.diagnose } : {}),
        ...(o.evalSamples ? { evalSamples: o.evalSamples } : {}),
        ...(config ? { config } : {}),
      }));
      console.log(`${summaryLine(s)}\n→ ${out}/summary.json, ${out}/report.html`);
    });
  p.command('export')
    .description('write a pipeline as a PyTorch package (graph.py generated from the plan, train.py for one process or torchrun)')
    .argument('<pipeline>', 'a pipeline name, a .ts pipeline file, or a saved .json IR')
    .requiredOption('--out <dir>', 'the package folder')
    .option('--to <target>', `the target: ${TARGETS.join(' | ')}`, 'torch')
    .option('--seed <n>', 'seed of the initial weights written beside the package (init.safetensors)', int('--seed', 0), 1)
    .option('--set <key=value>', 'set a pipeline option (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--config <file.json>', 'pipeline options from a JSON file (applied before --set)')
    .option('--steps <n>', 'training steps (default: the pipeline’s)', int('--steps', 1))
    .option('--batch <n>', 'batch size (default: the pipeline’s)', int('--batch', 1))
    .action(async (target: string, o: { out: string; to: string; seed: number; set: string[]; config?: string; steps?: number; batch?: number }) => {
      const overrides: Record<string, number> = {};
      if (o.steps) overrides.steps = o.steps;
      if (o.batch) overrides.batch = o.batch;
      const { ir } = await resolveTarget(target, { overrides, sets: o.set, ...(o.config ? { configFile: o.config } : {}) });
      const files = exportPipeline(ir, { to: o.to, out: o.out, seed: o.seed });
      console.log(`${ir.name} → ${o.out} (${files.length} files): python3 ${o.out}/train.py --out DIR, or torchrun --nproc_per_node N ${o.out}/train.py --out DIR`);
    });
  p.command('parity')
    .description('run the same updates natively (cpu) and in the exported PyTorch package, with the same weights and draws, and compare')
    .argument('<pipeline>', 'a pipeline name, a .ts pipeline file, or a saved .json IR')
    .option('--updates <n>', 'updates to compare, warm-ups included', int('--updates', 1), 30)
    .option('--ranks <r>', 'also compare an r-rank DDP run (torchrun) with the one-process run', int('--ranks', 1), 1)
    .option('--warmup <n>', 'cut each warm-up to n updates, so the compared updates reach the main loop', int('--warmup', 0), 2)
    .option('--seed <n>', 'random seed', int('--seed', 0), 1)
    .option('--set <key=value>', 'set a pipeline option (repeatable)', (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--batch <n>', 'batch size (default: the pipeline’s)', int('--batch', 1))
    .option('--keep <dir>', 'keep the package, the draws and both runs in this folder')
    .option('--json <file>', 'write the full comparison as JSON')
    .action(async (target: string, o: { updates: number; ranks: number; warmup: number; seed: number; set: string[]; batch?: number; keep?: string; json?: string }) => {
      if (!torchPython()) throw new UserError(NO_TORCH);
      const { ir } = await resolveTarget(target, { overrides: o.batch ? { batch: o.batch } : {}, sets: o.set });
      const r = await parity(ir, { updates: o.updates, ranks: o.ranks, seed: o.seed, warmup: o.warmup, ...(o.keep ? { keepDir: o.keep } : {}), log: (l) => process.stderr.write(`${l}\n`) });
      if (o.json) fs.writeFileSync(o.json, JSON.stringify(r, null, 2) + '\n');
      console.log(printParity(r));
      if (!r.pass) process.exitCode = 1;
    });
  p.command('evaluate')
    .description("turn a finished run of an exported package (train.py) into distillery's summary.json, metrics.arrow and report, from its final weights; or, with --out, measure a finished run's final weights again into another folder (e.g. with more --eval-samples)")
    .argument('<dir>', 'the run folder train.py wrote (--out), or a finished distillery run (with --out)')
    .option('--backend <name>', `${BACKENDS.join(' | ')}`, backend, 'wasm')
    .option('--diagnose <what>', 'extra diagnostics at each saved evaluation: copying', diagnosis)
    .option('--eval-samples <n>', 'samples of the evaluation (default 4096)', int('--eval-samples', 2))
    .option('--out <dir>', 'measure a finished distillery run again and write its summary, samples and report here (the run is not touched)')
    .action(async (dir: string, o: { backend: string; diagnose?: string[]; evalSamples?: number; out?: string }) => {
      if (!fs.existsSync(dir)) throw new UserError(`no such run folder: ${dir}`);
      if (o.out) {
        if (o.diagnose) throw new UserError('--diagnose applies to a run of an exported package, not with --out');
        const s = await rescoreRun(dir, { out: o.out, evalSamples: o.evalSamples ?? DEFAULT_EVAL_SAMPLES, backend: o.backend });
        console.log(`${summaryLine(s)}\n→ ${o.out}/summary.json, ${o.out}/report.html (${o.evalSamples ?? DEFAULT_EVAL_SAMPLES} samples)`);
        return;
      }
      const s = await evaluateImported(dir, { backend: o.backend, ...(o.diagnose ? { diagnose: o.diagnose } : {}), ...(o.evalSamples ? { evalSamples: o.evalSamples } : {}) });
      console.log(`${summaryLine(s)}\n→ ${dir}/summary.json, ${dir}/report.html`);
    });
  p.command('schema')
    .description("a pipeline's options as JSON Schema (types, ranges, defaults, descriptions)")
    .argument('<pipeline>', 'a pipeline name or a .ts pipeline file')
    .action(async (target: string) => {
      const def = await resolvePipeline(target);
      console.log(JSON.stringify(optionsJsonSchema(def.options), null, 2));
    });
  p.command('report')
    .description("rebuild a run folder's report.html and plots/ from its files (a run of an exported package is evaluated first)")
    .argument('<dir>', 'a finished run folder')
    .action(async (dir: string) => {
      if (!fs.existsSync(dir)) throw new UserError(`no such run folder: ${dir}`);
      // a run of an exported package has no summary yet: evaluate its final weights first
      if (!fs.existsSync(`${dir}/summary.json`) && fs.existsSync(`${dir}/run.json`)) await evaluateImported(dir);
      const files = await rebuildReport(dir);
      console.log(`→ ${files[0]} (+${files.length - 1} plots)`);
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
    .description('benchmarks: dmd2 (its parts one at a time, docs/methods/dmd.md), forbidden-zone (AMD vs DMD / DMD2, docs/methods/amd.md), copying (docs/methods/copying.md), dmmd (docs/methods/dmmd.md)')
    .argument('<name>', 'dmd2 | forbidden-zone | copying | dmmd')
    .option('--seeds <n>', 'seeds per configuration', int('--seeds', 1), 3)
    .option('--quick', 'a small budget (one seed unless --seeds), for a first look')
    .option('--dims <list>', `copying: dimensions, comma-separated (default ${DEFAULT_DIMS.join(',')})`, dimList)
    .option('--backend <name>', `${BACKENDS.join(' | ')}`, backend, 'wasm')
    .option(
      '--arms <list>',
      `dmd2: arms, comma-separated (default all: ${Object.keys(DMD2_ARMS).join(',')}); copying: from ${COPYING_ARMS.map((a) => a.arm).join(',')} (default ${DEFAULT_COPYING_ARMS.join(',')}); forbidden-zone: default ${FZ_DEFAULT_ARMS.join(',')}, also ${FZ_ARMS.map((a) => a.arm).filter((a) => !FZ_DEFAULT_ARMS.includes(a)).join(',')}; dmmd: ${DMMD_ARMS.join(' and/or ')} (default both)`,
      list,
    )
    .option('--steps <n>', 'copying: the cap on student steps (default 2000; a run stops earlier once its energy distance is within 2× the floor); forbidden-zone: student steps per run (default 5000; 150 with --quick)', int('--steps', 1))
    .option('--first-seed <k>', 'forbidden-zone: seeds are k … k + seeds − 1 (default 1), to split a long sweep over invocations', int('--first-seed', 1))
    .option('--set <key=value>', "forbidden-zone: an option of the toy for every arm and the trap (repeatable; e.g. teacher=attractor; `distillery schema forbidden-zone` lists them; the bench's own default teacher is 'mode')", (v: string, acc: string[]) => [...acc, v], [] as string[])
    .option('--teachers-from <results.json>', 'dmmd: reuse the teacher tables of an earlier run of this bench (no student option reaches them) instead of running them again')
    .option('--ks <list>', `dmmd: the students' step counts, comma-separated (default ${STUDENT_STEPS.join(',')})`, stepList)
    .option('--toys <list>', 'dmd2: ring, grid or both, comma-separated (default both)', list)
    .option('--parallel <n>', 'runs at once (default: one per core; 1 for wall times a single run would have)', int('--parallel', 1))
    .option('--out <dir>', 'results folder (default: runs/bench-<name>)')
    .action(async (name: string, o: { seeds: number; quick?: boolean; dims?: number[]; arms?: string[]; ks?: number[]; teachersFrom?: string; toys?: string[]; parallel?: number; steps?: number; firstSeed?: number; set: string[]; backend: string; out?: string }, cmd: Command) => {
      if (!['dmd2', 'forbidden-zone', 'copying', 'dmmd'].includes(name)) throw new UserError(`unknown bench '${name}'; choose dmd2, forbidden-zone, copying or dmmd`);
      if (o.dims && name !== 'copying') throw new UserError(`--dims applies to the copying bench, not '${name}'`);
      if (o.toys && name !== 'dmd2') throw new UserError(`--toys applies to the dmd2 bench, not '${name}'`);
      if (o.steps && name !== 'copying' && name !== 'forbidden-zone') throw new UserError(`--steps applies to the copying and forbidden-zone benches, not '${name}'`);
      if (o.firstSeed && name !== 'forbidden-zone') throw new UserError(`--first-seed applies to the forbidden-zone bench, not '${name}'`);
      if (o.set.length && name !== 'forbidden-zone') throw new UserError(`--set applies to the forbidden-zone bench, not '${name}'`);
      if ((o.ks || o.teachersFrom) && name !== 'dmmd') throw new UserError(`--ks and --teachers-from apply to the dmmd bench, not '${name}'`);
      const badArm = name === 'dmmd' && o.arms?.find((a) => !(DMMD_ARMS as readonly string[]).includes(a));
      if (badArm) throw new UserError(`unknown dmmd arm '${badArm}'; choose ${DMMD_ARMS.join(', ')}`);
      const seeds = o.quick && cmd.getOptionValueSource('seeds') === 'default' ? 1 : o.seeds;
      const out = o.out ?? `runs/bench-${name}`;
      const common = { seeds, quick: o.quick ?? false, out, backend: o.backend, log: (l: string) => console.log(l) };
      const files =
        name === 'dmd2'
          ? await benchDmd2({ ...common, ...(o.arms ? { arms: o.arms } : {}), ...(o.toys ? { toys: o.toys } : {}), ...(o.parallel ? { parallel: o.parallel } : {}) })
          : name === 'copying'
            ? await benchCopying({ ...common, dims: o.dims ?? (o.quick ? [2, 8, 32] : DEFAULT_DIMS), ...(o.arms ? { arms: o.arms } : {}), ...(o.steps ? { steps: o.steps } : {}), ...(o.parallel ? { parallel: o.parallel } : {}) })
            : name === 'dmmd'
              ? await benchDmmd({ ...common, ...(o.ks ? { ks: o.ks } : {}), ...(o.teachersFrom ? { teachersFrom: o.teachersFrom } : {}), ...(o.arms ? { arms: o.arms as DmmdArm[] } : {}), ...(o.parallel ? { parallel: o.parallel } : {}) })
              : await benchForbiddenZone({ ...common, ...(o.arms ? { arms: o.arms } : {}), ...(o.parallel ? { parallel: o.parallel } : {}), ...(o.steps ? { steps: o.steps } : {}), ...(o.firstSeed ? { firstSeed: o.firstSeed } : {}), ...(o.set.length ? { sets: parseSets(forbiddenZone.options, o.set, 'forbidden-zone') as Partial<FzConfig> } : {}) });
      console.log(`→ ${files.filter((f) => f.endsWith('.md') || f.endsWith('.json')).join(', ')}`);
    });
  p.command('lab')
    .description('a local page to edit, check, run and watch a pipeline in the browser (WebGPU, else wasm); 127.0.0.1 only, reads and writes only under this folder')
    .option('--port <n>', 'the port (0: any free port)', int('--port', 0), 4317)
    .option('--open', 'open the page in the system browser')
    .action(async (o: { port: number; open?: boolean }) => {
      const { startLab } = await import('../lab/server/server.ts');
      const lab = await startLab({ port: o.port });
      console.log(`distillery lab: ${lab.url} (serving ${lab.root}; runs go to lab-runs/; Ctrl-C stops it)`);
      if (o.open) openInBrowser(lab.url);
      await new Promise<void>((resolve) => {
        const stop = () => void lab.close().then(resolve);
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
    });
  p.command('list')
    .description('the ready-made pipelines')
    .action(() => {
      const w = Math.max(...Object.keys(PIPELINES).map((k) => k.length));
      for (const [k, d] of Object.entries(PIPELINES)) console.log(`${k.padEnd(w)}  ${d.description ?? ''}`);
    });
  return p;
}

/** Run `f` with a signal that Ctrl-C (SIGINT) or SIGTERM aborts: training stops at the next step boundary and writes
 * its metrics and a checkpoint. A second signal quits at once (checkpoints are written atomically, so none is torn). */
async function whileSignalsStop<T>(f: (stop: AbortSignal) => Promise<T>): Promise<T> {
  const ctl = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    if (ctl.signal.aborted) process.exit(130);
    process.stderr.write(`\n${sig}: stopping after this step (again to quit now)\n`);
    ctl.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    return await f(ctl.signal);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

/** the system's way to open a URL; when there is none, the URL printed above is the way */
function openInBrowser(url: string): void {
  const [cmd, ...args] = process.platform === 'darwin' ? ['open', url] : process.platform === 'win32' ? ['cmd', '/c', 'start', '', url] : ['xdg-open', url];
  const child = spawn(cmd!, args, { stdio: 'ignore', detached: true });
  child.on('error', () => process.stderr.write(`distillery lab: could not open a browser (${cmd}); open ${url} yourself\n`));
  child.unref();
}

export async function main(argv: string[]): Promise<number> {
  try {
    await program().parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.exitCode === 0) return 0; // --help, --version
      process.stderr.write(`distillery: error: ${e.message.replace(/^error: /, '')}\n`);
      return 1;
    }
    if (e instanceof Interrupted) {
      process.stderr.write(`distillery: ${e.message}\n`);
      return 130;
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
