/** @file The evaluation worker thread (Node): the portable loop of serve.ts on this thread's port, reading the files a
 * model's `initFrom` names. */
import { parentPort } from 'node:worker_threads';
import { loadSafetensors } from '../safetensors.ts';
import { serveEvalWorker } from './serve.ts';
import type { EvalServePort } from './protocol.ts';

// Node's MessagePort is an EventTarget too: its 'message' events carry `data` as a browser's do
serveEvalWorker(parentPort as unknown as EvalServePort, { loadFile: loadSafetensors });
