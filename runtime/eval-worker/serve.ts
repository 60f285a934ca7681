/** @file The evaluation worker's loop, on any MessagePort-like end (a Node worker thread's, a browser Worker's): its
 * own backend and executor for the run's IR and seed (so its own random streams: the evaluation draws are keyed by the
 * seed alone), which measures the student on the weights it is sent. Portable: nothing here touches Node. */
import { compile } from '../../dsl/compile/index.ts';
import { loadBackend } from '../../gpu/backend.ts';
import { Executor } from '../executor.ts';
import { initialWeights, noFile, type LoadFile } from '../init.ts';
import { evalSetup, studentMetrics, studentMetricsAsync, type EvalSetup } from '../evaluate.ts';
import type { EvalServePort, ToEvalWorker } from './protocol.ts';

/** Answer `init` and `eval` messages on `port`, one at a time in order (an evaluation never overlaps the next one's
 * weight load). `loadFile` reads the files a model's `initFrom` names (Node); a browser has none. */
export function serveEvalWorker(port: EvalServePort, o: { loadFile?: LoadFile } = {}): void {
  let exe: Executor | undefined;
  let setup: EvalSetup | undefined;
  let queue = Promise.resolve();

  async function handle(m: ToEvalWorker): Promise<void> {
    if (m.type === 'init') {
      // one thread for its products: the training thread's pool has the other cores
      const backend = await loadBackend(m.backend, { threads: 1, ...(m.wasmPaths !== undefined ? { wasmPaths: m.wasmPaths } : {}) });
      exe = new Executor(backend, compile(m.ir), m.seed, initialWeights(m.ir, m.seed, o.loadFile ?? noFile), { deferReads: false });
      setup = evalSetup(exe, m.evalSamples);
      return port.postMessage({ type: 'ready' }, []);
    }
    if (!exe || !setup) throw new Error('an evaluation before init');
    const e = exe;
    for (const [role, w] of Object.entries(m.weights)) e.loadWeights(role, w, `evaluation weights of step ${m.step}`);
    const metrics = e.backend.syncReads ? studentMetrics(e, setup) : await studentMetricsAsync(e, setup);
    const mem = e.backend.memory();
    const transfer = [metrics.samples.buffer, ...Object.values(metrics.extras).map((x) => x.buffer)] as ArrayBuffer[];
    port.postMessage({ type: 'metrics', id: m.id, metrics, tensors: mem.tensors, bytes: mem.bytes }, transfer);
  }

  port.addEventListener('message', ({ data: m }) => {
    queue = queue
      .then(() => handle(m))
      .catch((err: unknown) => port.postMessage({ type: 'error', ...(m.type === 'eval' ? { id: m.id } : {}), message: err instanceof Error ? err.message : String(err) }, []));
  });
}
