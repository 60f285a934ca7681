/** @file The run's side of an evaluation worker, on any Worker-like end (a browser Worker, an adapter over a Node
 * worker thread): `init` it, then `evaluate` sends the weights of an evaluation step and resolves with the metrics the
 * worker measured on them. Portable: nothing here touches Node. */
import type { StudentMetrics } from '../evaluate.ts';
import type { Evaluator } from '../train.ts';
import type { EvalClientPort, EvalWorkerInit, FromEvalWorker } from './protocol.ts';

export interface EvalWorker {
  evaluate: Evaluator;
  /** the worker backend's tensors and bytes after its last evaluation */
  memory(): { tensors: number; bytes: number } | undefined;
  /** ends the worker (an evaluation still under way is dropped) */
  close(): Promise<void>;
}

/** Resolves once the worker has its backend and executor; rejects (and ends the worker) if it cannot start. After a
 * failure of the worker itself, every waiting and later evaluation rejects with it. */
export async function connectEvalWorker(port: EvalClientPort, init: EvalWorkerInit): Promise<EvalWorker> {
  const waiting = new Map<number, { resolve: (m: StudentMetrics) => void; reject: (e: Error) => void }>();
  let ready: { resolve: () => void; reject: (e: Error) => void } | undefined;
  let memory: { tensors: number; bytes: number } | undefined;
  let failed: Error | undefined;
  const fail = (e: Error) => {
    failed ??= e;
    ready?.reject(e);
    for (const w of waiting.values()) w.reject(e);
    waiting.clear();
  };
  port.addEventListener('message', ({ data: m }: { data: FromEvalWorker }) => {
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
  port.addEventListener('error', (ev) => {
    ev.preventDefault?.(); // handled here: a browser need not report it again in the worker that owns this one
    fail(new Error(`evaluation worker: ${ev.message || 'it stopped, or its script did not load'}`));
  });
  try {
    await new Promise<void>((resolve, reject) => {
      ready = { resolve, reject };
      if (failed) return reject(failed);
      port.postMessage({ type: 'init', ...init });
    });
  } catch (e) {
    await port.terminate();
    throw e;
  }
  let next = 0;
  return {
    evaluate: (step, weights) =>
      new Promise<StudentMetrics>((resolve, reject) => {
        if (failed) return reject(failed);
        const id = next++;
        waiting.set(id, { resolve, reject });
        port.postMessage({ type: 'eval', id, step, weights });
      }),
    memory: () => memory,
    close: async () => {
      await port.terminate();
    },
  };
}
