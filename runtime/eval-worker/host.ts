/** @file A run's evaluations on a worker thread (Node): the student's weights at an evaluation step are copied there
 * and measured while training goes on. The worker draws from the same keyed streams as an evaluation in the training
 * thread, on the same backend, so the metrics are the same numbers whenever they arrive. The channel itself is
 * portable (client.ts, serve.ts); this adapts Node's Worker to it. */
import { Worker } from 'node:worker_threads';
import { connectEvalWorker, type EvalWorker } from './client.ts';
import type { EvalClientPort, EvalWorkerInit, FromEvalWorker } from './protocol.ts';

export type { EvalWorker } from './client.ts';

export function startEvalWorker(o: EvalWorkerInit): Promise<EvalWorker> {
  // kept referenced: a run awaiting its last evaluation has nothing else keeping it alive; `close` ends it
  const worker = new Worker(new URL('./entry.mjs', import.meta.url));
  const port: EvalClientPort = {
    postMessage: (m) => worker.postMessage(m),
    addEventListener: ((type: 'message' | 'error', f: (ev: { data?: FromEvalWorker; message?: string }) => void) => {
      if (type === 'message') worker.on('message', (data: FromEvalWorker) => f({ data }));
      else {
        worker.on('error', (e: Error) => f({ message: e.message }));
        worker.on('exit', (code) => code !== 0 && f({ message: `exited with code ${code}` }));
      }
    }) as EvalClientPort['addEventListener'],
    terminate: () => worker.terminate(),
  };
  return connectEvalWorker(port, o);
}
