/** @file The evaluation worker thread: its own backend and executor for the run's IR and seed (so its own random
 * streams: the evaluation draws are keyed by the seed alone), which measures the student on the weights it is sent. */
import { parentPort } from 'node:worker_threads';
import { compile } from '../../dsl/compile/index.ts';
import { loadBackend } from '../../gpu/backend.ts';
import { Executor } from '../executor.ts';
import { initialWeights } from '../init.ts';
import { loadSafetensors } from '../safetensors.ts';
import { evalSetup, studentMetrics, studentMetricsAsync, type EvalSetup } from '../evaluate.ts';
import type { FromEvalWorker, ToEvalWorker } from './protocol.ts';

const port = parentPort!;
const post = (m: FromEvalWorker, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);
let exe: Executor | undefined;
let setup: EvalSetup | undefined;
// one message at a time, in order: an evaluation never overlaps the next one's weight load
let queue = Promise.resolve();

async function handle(m: ToEvalWorker): Promise<void> {
  if (m.type === 'init') {
    const backend = await loadBackend(m.backend);
    exe = new Executor(backend, compile(m.ir), m.seed, initialWeights(m.ir, m.seed, loadSafetensors), { deferReads: false });
    setup = evalSetup(exe, m.evalSamples);
    return post({ type: 'ready' });
  }
  const e = exe!;
  for (const [role, w] of Object.entries(m.weights)) e.loadWeights(role, w, `evaluation weights of step ${m.step}`);
  const metrics = e.backend.syncReads ? studentMetrics(e, setup!) : await studentMetricsAsync(e, setup!);
  const mem = e.backend.memory();
  post({ type: 'metrics', id: m.id, metrics, tensors: mem.tensors, bytes: mem.bytes }, [metrics.samples.buffer as ArrayBuffer, ...Object.values(metrics.extras).map((x) => x.buffer as ArrayBuffer)]);
}

port.on('message', (m: ToEvalWorker) => {
  queue = queue.then(() => handle(m)).catch((err: unknown) => post({ type: 'error', ...(m.type === 'eval' ? { id: m.id } : {}), message: err instanceof Error ? err.message : String(err) }));
});
