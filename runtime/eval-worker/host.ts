/** @file A run's evaluations on a worker thread (Node): the student's weights at an evaluation step are copied there
 * and measured while training goes on. The worker draws from the same keyed streams as an evaluation in the training
 * thread, on the same backend, so the metrics are the same numbers whenever they arrive. */
import { Worker } from 'node:worker_threads';
import type { GraphIR } from '../../dsl/ir/schema.ts';
import type { StudentMetrics } from '../evaluate.ts';
import type { Evaluator } from '../train.ts';
import type { FromEvalWorker, ToEvalWorker } from './protocol.ts';

export interface EvalWorker {
  evaluate: Evaluator;
  /** the worker backend's tensors and bytes after its last evaluation */
  memory(): { tensors: number; bytes: number } | undefined;
  close(): Promise<void>;
}

export async function startEvalWorker(o: { ir: GraphIR; seed: number; backend: string; evalSamples: number }): Promise<EvalWorker> {
  // kept referenced: a run awaiting its last evaluation has nothing else keeping it alive; `close` ends it
  const worker = new Worker(new URL('./entry.mjs', import.meta.url));
  const waiting = new Map<number, { resolve: (m: StudentMetrics) => void; reject: (e: Error) => void }>();
  let ready: { resolve: () => void; reject: (e: Error) => void } | undefined;
  let memory: { tensors: number; bytes: number } | undefined;
  let failed: Error | undefined;
  const fail = (e: Error) => {
    failed = e;
    ready?.reject(e);
    for (const w of waiting.values()) w.reject(e);
    waiting.clear();
  };
  worker.on('message', (m: FromEvalWorker) => {
    if (m.type === 'ready') ready?.resolve();
    else if (m.type === 'metrics') {
      memory = { tensors: m.tensors, bytes: m.bytes };
      waiting.get(m.id)?.resolve(m.metrics);
      waiting.delete(m.id);
    } else {
      const e = new Error(`evaluation worker: ${m.message}`);
      if (m.id === undefined) fail(e);
      else waiting.get(m.id)?.reject(e), waiting.delete(m.id);
    }
  });
  worker.on('error', (e) => fail(e));
  worker.on('exit', (code) => code !== 0 && fail(new Error(`evaluation worker exited with code ${code}`)));
  const post = (m: ToEvalWorker) => worker.postMessage(m);
  await new Promise<void>((resolve, reject) => {
    ready = { resolve, reject };
    post({ type: 'init', ...o });
  });
  let next = 0;
  return {
    evaluate: (step, weights) =>
      new Promise<StudentMetrics>((resolve, reject) => {
        if (failed) return reject(failed);
        const id = next++;
        waiting.set(id, { resolve, reject });
        post({ type: 'eval', id, step, weights });
      }),
    memory: () => memory,
    close: async () => {
      await worker.terminate();
    },
  };
}
