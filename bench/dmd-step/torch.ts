/** @file PyTorch as a contestant of the dmd-step bench: `torch_step.py --serve` in a child process, hand-written PyTorch
 * and the same workload exported by `distillery export`. It warms up on its own while the bench waits, then times one
 * repetition of each whenever the bench asks, so its repetitions alternate with the TypeScript contestants' and the
 * machine's slow spells hit all of them alike (a Python process run before or after would see other spells). */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { exportPipeline } from '../../cli/export.ts';
import { buildIR } from '../../dsl/pipeline.ts';
import { dmdStep } from './workload.ts';
import { WARMUP_SECONDS, type Remote } from './protocol.ts';

export interface TorchMeta {
  threads: number;
  version: string;
  blas: string[];
}

export interface TorchContestant extends Remote {
  meta: TorchMeta;
  /** ends the process and removes the exported package */
  close(): Promise<void>;
}

/** the names under which the two PyTorch versions report */
export const TORCH = 'torch';
export const EXPORTED = 'exported';

/** Starts torch_step.py for D and waits for its warm-up to end. */
export async function startTorch(python: string, D: number, o: { threads?: number; warmupSeconds?: number } = {}): Promise<TorchContestant> {
  const { threads = 2, warmupSeconds = WARMUP_SECONDS } = o;
  const script = fileURLToPath(new URL('./torch_step.py', import.meta.url));
  const pkg = fs.mkdtempSync(path.join(os.tmpdir(), 'distillery-dmd-step-'));
  const removePkg = () => fs.rmSync(pkg, { recursive: true, force: true });
  try {
    exportPipeline(buildIR(dmdStep, { dim: D }), { to: 'torch', out: pkg, seed: 1 });
  } catch (e) {
    removePkg();
    throw e;
  }
  let child: ReturnType<typeof spawn>;
  try {
    child = spawn(python, [script, '--D', String(D), '--threads', String(threads), '--warmup', String(warmupSeconds), '--exported', pkg, '--serve'], { stdio: ['pipe', 'pipe', 'pipe'] });
  } catch (e) {
    removePkg();
    throw e;
  }
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (stderr += s));
  // a process that fails to start, or dies while written to, ends like one that exits: the next read says why
  let failure = '';
  child.on('error', (e) => (failure = e.message));
  child.stdin!.on('error', (e) => (failure ||= e.message));
  const exited = new Promise<void>((resolve) => {
    child.on('close', () => resolve());
    child.on('error', () => resolve());
  });
  // lines the script prints, in order; anything else it prints (the exported trainer's chatter) is skipped
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  const next = async (tag: 'READY' | 'REP'): Promise<unknown> => {
    for (;;) {
      const r = await Promise.race([lines.next(), exited.then(() => ({ done: true as const, value: undefined }))]);
      if (r.done) {
        await Promise.race([exited, new Promise((res) => setTimeout(res, 1000))]); // its exit status and last words
        throw new Error(`torch_step.py ended before printing ${tag} (exit ${child.exitCode ?? child.signalCode}${failure ? `, ${failure}` : ''}):\n${stderr}`);
      }
      if (r.value.startsWith(`${tag} `)) return JSON.parse(r.value.slice(tag.length + 1));
    }
  };
  const close = async () => {
    child.stdin!.end();
    // the script exits at the end of its input; one that hangs is killed after 10 s
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
    removePkg();
  };
  try {
    const m = (await next('READY')) as { threads: number; torch: string; blas: string[] };
    return {
      names: [TORCH, EXPORTED],
      meta: { threads: m.threads, version: m.torch, blas: m.blas },
      // OpenBLAS's threads poll for a while after PyTorch's last product: the next contestant does not start on them
      settleMs: 250,
      async rep() {
        child.stdin!.write('rep\n');
        const r = (await next('REP')) as { reps: number; exportedReps: number };
        return { [TORCH]: r.reps, [EXPORTED]: r.exportedReps };
      },
      close,
    };
  } catch (e) {
    child.kill();
    await close();
    throw e;
  }
}
