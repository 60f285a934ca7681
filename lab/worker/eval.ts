/** @file The lab's evaluation Worker, started by the training Worker on wasm and cpu: the portable evaluation loop of
 * runtime/eval-worker/serve.ts on this Worker's global scope (no files here: a model that loads weights from a file is
 * refused before a run starts). */
import { serveEvalWorker } from '../../runtime/eval-worker/serve.ts';
import type { EvalServePort } from '../../runtime/eval-worker/protocol.ts';

serveEvalWorker(globalThis as unknown as EvalServePort);
