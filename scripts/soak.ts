/**
 * @file Soak: a long run on the default backend through the real runtime (the RxJS training stream, evaluations and
 * checkpoint state export included), sampling the backend's tensor count and the process RSS as it goes. A leak
 * shows as a count that grows; RSS settles after the first thousand iterations (allocator warm-up).
 *
 *   npx tsx scripts/soak.ts [--pipeline dmd2-ring] [--steps 10000] [--every 500] [--backend wasm] [--json FILE]
 */
import { openExecutor } from '../runtime/open.ts';
import fs from 'node:fs';
import { parseArgs } from 'node:util';
import { lastValueFrom, tap } from 'rxjs';
import { buildIR } from '../dsl/pipeline.ts';
import { PIPELINES } from '../pipelines/index.ts';
import { evalSetup } from '../runtime/evaluate.ts';
import { train } from '../runtime/train.ts';

const { values: a } = parseArgs({
  options: { pipeline: { type: 'string', default: 'dmd2-ring' }, steps: { type: 'string', default: '10000' }, every: { type: 'string', default: '500' }, backend: { type: 'string', default: 'wasm' }, json: { type: 'string' } },
});
const steps = Number(a.steps);
const every = Number(a.every);
const ir = buildIR(PIPELINES[a.pipeline!]!, { steps, evalEvery: 1000 });
const exe = await openExecutor(ir, 1, a.backend!);
const { backend } = exe;
const setup = evalSetup(exe, 1024);
const mib = (b: number) => Math.round((b / 2 ** 20) * 10) / 10;
const samples: { step: number; tensors: number; bytes: number; rssMiB: number; seconds: number }[] = [];
const t0 = performance.now();
const probe = (step: number) => {
  const m = backend.memory();
  samples.push({ step, tensors: m.tensors, bytes: m.bytes, rssMiB: mib(process.memoryUsage().rss), seconds: Math.round((performance.now() - t0) / 100) / 10 });
  const s = samples[samples.length - 1]!;
  console.log(`step ${String(step).padStart(6)}  tensors ${s.tensors}  tensor bytes ${s.bytes}  rss ${s.rssMiB} MiB  ${s.seconds} s`);
};
probe(0);
await lastValueFrom(
  train(exe, steps, setup, 1000).pipe(
    tap((e) => {
      if (e.step % 1000 === 0) exe.exportState(); // what a checkpoint reads
      if (e.step % every === 0) probe(e.step);
    }),
  ),
);
const warm = samples.find((s) => s.step >= 1000) ?? samples[0]!;
const last = samples[samples.length - 1]!;
const result = {
  pipeline: a.pipeline,
  backend: backend.name,
  steps,
  seconds: last.seconds,
  tensors: { start: samples[0]!.tensors, afterWarmup: warm.tensors, end: last.tensors, max: Math.max(...samples.map((s) => s.tensors)) },
  rssMiB: { start: samples[0]!.rssMiB, at1000: warm.rssMiB, end: last.rssMiB, max: Math.max(...samples.map((s) => s.rssMiB)) },
  samples,
};
console.log(`tensors: start ${result.tensors.start}, step 1000 ${result.tensors.afterWarmup}, end ${result.tensors.end}; RSS MiB: start ${result.rssMiB.start}, step 1000 ${result.rssMiB.at1000}, end ${result.rssMiB.end}, max ${result.rssMiB.max}`);
if (a.json) fs.writeFileSync(a.json, JSON.stringify(result, null, 2) + '\n');
exe.dispose();
