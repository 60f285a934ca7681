/**
 * @file `npm run bench -- dmd-step`: the reference DMD2 workload, compiled by distillery and run by its runtime,
 * against the same workload written as hand-written TensorFlow.js eager code, side by side in one process on one
 * backend, for D = 2 and D = 64; plus PyTorch (CPU) when python3-torch is installed: hand-written (torch_step.py) and
 * the same workload exported by `distillery export`, in a Python process whose repetitions alternate with the others.
 */
import { torchPython } from '../../cli/python.ts';
import { lastValueFrom } from 'rxjs';
import { buildIR } from '../../dsl/pipeline.ts';
import { openExecutor } from '../../runtime/open.ts';
import { train } from '../../runtime/train.ts';
import { dmdStep } from './workload.ts';
import { eagerDmdStep } from './eager.ts';
import { timeSideBySide, type Rate } from './protocol.ts';
import { EXPORTED, startTorch, TORCH, type TorchContestant } from './torch.ts';
import { describeGemm, gemmReport, loadJaxJs, type GemmReport, type JaxJs } from './gemm.ts';
import { jaxDmdStep } from './jaxjs.ts';
import { breakdown, describeBreakdown, type Breakdown } from './breakdown.ts';

export interface DmdStepResult {
  compiled: Rate;
  eager: Rate;
  /** compiled / eager, medians */
  ratio: number;
  /** the same workload in jax-js (bench/dmd-step/jaxjs.ts), when it is installed: one thread in Node (no Web Worker) */
  jaxjs?: Rate;
  /** compiled / jax-js, medians */
  ratioJaxjs?: number;
  torch?: Rate & { threads: number; version: string; blas: string[] };
  /** compiled / torch, medians */
  ratioTorch?: number;
  /** the same workload exported by `distillery export` and run by the generated package, timed beside `torch` */
  exported?: Rate;
  /** exported / hand-written PyTorch, medians */
  ratioExported?: number;
  /** tensors alive after the first iteration of both versions, and after the last */
  tensors: { start: number; end: number };
  rssMiB: { start: number; end: number };
  /** kernels one compiled iteration launches */
  kernelsPerIteration: number;
  /** where a compiled iteration's time goes (kernels, host draws, the rest) */
  breakdown?: Breakdown;
  /** the iteration's matrix products on their own (wasm): roofline, per shape against XNNPACK and jax-js */
  gemm?: GemmReport;
}

export interface DmdStepOptions {
  dims: number[];
  reps: number;
  backend: string;
  /** run the PyTorch baseline when `python3 -c 'import torch'` works */
  torch: boolean;
  /** the products on their own (wasm only) */
  gemm?: boolean;
  /** where to import jax-js from (default: the installed @jax-js/jax) */
  jaxjs?: string;
  /** seconds of warm-up per contestant (default WARMUP_SECONDS) */
  warmup?: number;
  log?: (line: string) => void;
}

const rss = () => process.memoryUsage().rss / 2 ** 20;

export async function benchDmdStep(o: DmdStepOptions): Promise<Record<string, DmdStepResult>> {
  const log = o.log ?? (() => {});
  const python = o.torch ? (torchPython() ?? undefined) : undefined;
  if (o.torch && !python) log('PyTorch baseline skipped: no python3 imports torch (apt-get install python3-torch libopenblas0-openmp)');
  const out: Record<string, DmdStepResult> = {};
  const jaxLoaded = o.backend === 'wasm' ? await loadJaxJs(o.jaxjs) : 'jax-js runs beside the wasm backend only';
  if (typeof jaxLoaded === 'string') log(`jax-js contestant skipped: ${jaxLoaded}`);
  const jax: JaxJs | undefined = typeof jaxLoaded === 'string' ? undefined : jaxLoaded;
  for (const D of o.dims) {
    const exe = await openExecutor(buildIR(dmdStep, { dim: D }), 0, o.backend);
    const { tf } = exe.backend;
    const eager = eagerDmdStep(tf, { D, seed: 1 });
    let start = { tensors: 0, rss: 0 };
    const compiled = { name: 'compiled', run: (n: number) => lastValueFrom(train(exe, n, undefined, 0, { warmup: false }), { defaultValue: undefined }).then(() => {}) };
    const hand = {
      name: 'eager',
      run: async (n: number) => {
        for (let i = 0; i < n; i++) eager.iteration();
        await eager.variables.student['l0.weight']!.data(); // wait for the results, as the compiled run does
      },
    };
    const js = jax && jaxDmdStep(jax, { D, seed: 1 });
    const jaxjs = js && { name: 'jaxjs', run: (n: number) => { for (let i = 0; i < n; i++) js.iteration(); } };
    let rates: Awaited<ReturnType<typeof timeSideBySide>>;
    let torch: TorchContestant | undefined;
    try {
      torch = python ? await startTorch(python, D, { warmupSeconds: o.warmup }) : undefined; // its warm-up runs alone, before ours
      rates = await timeSideBySide([compiled, hand, ...(jaxjs ? [jaxjs] : []), ...(torch ? [torch] : [])], o.reps, {
        warmupSeconds: o.warmup,
        afterFirst: () => (start = { tensors: exe.backend.memory().tensors, rss: rss() }),
      });
    } finally {
      js?.dispose();
      await torch?.close();
    }
    // tf.profile also lists op scopes (custom gradients' 'forward' / 'unnamed scope', fused ops' '…__op'): not kernels
    const kernelsPerIteration = (await tf.profile(() => compiled.run(1))).kernels.filter((k) => !/^(unnamed scope|forward)$|__op$/.test(k.name)).length;
    // on webgpu a kernel call only queues work: its time would land in "the rest"
    const where = exe.backend.syncReads ? await breakdown(tf, exe.backend.name, compiled.run) : undefined;
    const end = { tensors: exe.backend.memory().tensors, rss: rss() };
    const r: DmdStepResult = {
      compiled: rates.compiled!,
      eager: rates.eager!,
      ratio: rates.compiled!.median / rates.eager!.median,
      tensors: { start: start.tensors, end: end.tensors },
      rssMiB: { start: start.rss, end: end.rss },
      kernelsPerIteration,
      ...(where ? { breakdown: where } : {}),
      ...(rates.jaxjs ? { jaxjs: rates.jaxjs, ratioJaxjs: rates.compiled!.median / rates.jaxjs.median } : {}),
      ...(torch
        ? {
            torch: { ...rates[TORCH]!, ...torch.meta },
            ratioTorch: rates.compiled!.median / rates[TORCH]!.median,
            exported: rates[EXPORTED]!,
            ratioExported: rates[EXPORTED]!.median / rates[TORCH]!.median,
          }
        : {}),
    };
    eager.dispose();
    if (o.backend === 'wasm' && (o.gemm ?? true)) r.gemm = await gemmReport(tf, compiled.run, { jaxjs: o.jaxjs, log });
    exe.dispose();
    out[`D${D}`] = r;
    log(describe(D, r));
  }
  return out;
}

const f = (r: Rate) => `${r.median.toFixed(2)} it/s (min ${r.min.toFixed(2)}, max ${r.max.toFixed(2)})`;

export function describe(D: number, r: DmdStepResult): string {
  return [
    `D=${D}: compiled ${f(r.compiled)}; eager tfjs ${f(r.eager)}; compiled/eager ${r.ratio.toFixed(2)}×`,
    ...(r.jaxjs ? [`  jax-js (jit, wasm, 1 thread: no Web Worker in Node) ${f(r.jaxjs)}; compiled/jax-js ${r.ratioJaxjs!.toFixed(2)}×`] : []),
    ...(r.torch ? [`  PyTorch ${r.torch.version} (${r.torch.threads} threads, ${r.torch.blas.map((b) => b.split("/").pop()).join(" + ") || "BLAS unknown"}) ${f(r.torch)}; compiled/PyTorch ${r.ratioTorch!.toFixed(2)}×`] : []),
    ...(r.exported ? [`  exported to PyTorch (distillery export, same process) ${f(r.exported)}; exported/hand-written PyTorch ${r.ratioExported!.toFixed(2)}×`] : []),
    `  tensors ${r.tensors.start} → ${r.tensors.end}; RSS ${r.rssMiB.start.toFixed(1)} → ${r.rssMiB.end.toFixed(1)} MiB; ${r.kernelsPerIteration} kernels per compiled iteration`,
    ...(r.breakdown ? [describeBreakdown(r.breakdown)] : []),
    ...(r.gemm ? [describeGemm(r.gemm)] : []),
  ].join('\n');
}
