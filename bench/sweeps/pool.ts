/** @file Benchmark runs in child processes, as many at once as there are cores: each run gets its own tfjs backend. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fork } from 'node:child_process';
import { fileURLToPath } from 'node:url';

/**
 * Call `fn` of `module` (an absolute file path) with each job's spec in a child process; the results come back in
 * job order. `onResult` sees each one as it lands. A failing run rejects with its stderr tail.
 */
export async function runPool<S, R>(module: string, fn: string, jobs: S[], o: { parallel?: number; onResult?: (r: R, job: S) => void } = {}): Promise<R[]> {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'distillery-bench-'));
  const worker = fileURLToPath(new URL('./worker.ts', import.meta.url));
  const lanes = Math.max(1, Math.min(o.parallel ?? os.availableParallelism(), jobs.length));
  // runs side by side: one thread of matrix products each (unless DISTILLERY_THREADS says otherwise), or their
  // worker threads would wait on cores the other runs hold
  const env = lanes > 1 && !process.env.DISTILLERY_THREADS ? { ...process.env, DISTILLERY_THREADS: '1' } : process.env;
  const one = (job: S, i: number) =>
    new Promise<R>((resolve, reject) => {
      const out = path.join(tmp, `${i}.json`);
      const child = fork(worker, [module, fn, JSON.stringify(job), out], { execArgv: ['--import', import.meta.resolve('tsx')], stdio: ['ignore', 'ignore', 'pipe', 'ipc'], env });
      let err = '';
      child.stderr!.on('data', (d) => (err += d));
      child.on('exit', (code) => (code === 0 ? resolve(JSON.parse(fs.readFileSync(out, 'utf8')) as R) : reject(new Error(`bench run ${JSON.stringify(job).slice(0, 200)} failed (exit ${code}):\n${err.slice(-2000)}`))));
    });
  try {
    const results: R[] = new Array(jobs.length);
    let next = 0;
    await Promise.all(
      [...Array(lanes)].map(async () => {
        while (next < jobs.length) {
          const i = next++;
          results[i] = await one(jobs[i]!, i);
          o.onResult?.(results[i]!, jobs[i]!);
        }
      }),
    );
    return results;
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}
