/** @file The only place that imports TensorFlow.js: backend selection and the few engine services the runtime needs. */
import * as tf from '@tensorflow/tfjs';
import { UserError } from '../dsl/errors.ts';
import type { Tensor, TF } from './lower/context.ts';
import { registerHostKernels } from './kernels/host.ts';
import { registerWebgpuKernels } from './kernels/webgpu.ts';
import { withSharedHeap } from './kernels/shared-heap.ts';
import { currentDraws, defaultThreads } from './kernels/gemm-pool.ts';
import { envSetting } from './kernels/env-setting.ts';

export const BACKENDS = ['wasm', 'cpu', 'webgpu', 'tensorflow'] as const;
export type BackendName = (typeof BACKENDS)[number];

export interface Backend {
  readonly name: BackendName;
  readonly tf: TF;
  /** a new tensor on the same buffer that the gradient tape does not know: tfjs's missing stop-gradient */
  detach(t: Tensor): Tensor;
  /** reads block until the data is on the host (dataSync works); webgpu reads only asynchronously */
  readonly syncReads: boolean;
  memory(): { tensors: number; bytes: number };
  /** asks for normal draws ahead (the streams' starting states and counts): on wasm the worker pool makes them while
   * it waits for products, and a Gaussian source whose stream and count match takes them (the same bits); absent
   * where nothing draws ahead */
  drawAhead?(draws: readonly { state: Uint32Array; n: number }[]): void;
}

const TENSORFLOW_HELP =
  "the 'tensorflow' backend needs @tensorflow/tfjs-node (CPU) or @tensorflow/tfjs-node-gpu (CUDA 11.2 + cuDNN 8.1): " +
  'run `npm install @tensorflow/tfjs-node` where it can download libtensorflow. It is not in the default install because its ' +
  'installer downloads that library from the internet at install time.';

/** Node's `process`, or undefined in a browser or worker */
const nodeProcess = (): NodeJS.Process | undefined => (typeof process !== 'undefined' && typeof process.listeners === 'function' ? process : undefined);

async function loadTensorflow(): Promise<void> {
  if (!nodeProcess()) throw new UserError("the 'tensorflow' backend runs only in Node (it binds libtensorflow); choose wasm, cpu or webgpu");
  for (const pkg of ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node']) {
    try {
      await import(pkg);
      return;
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (code !== 'ERR_MODULE_NOT_FOUND' && code !== 'MODULE_NOT_FOUND') throw new UserError(`${pkg} is installed but failed to load: ${(e as Error).message}`);
    }
  }
  throw new UserError(TENSORFLOW_HELP);
}

/** Emscripten modules install process handlers that rethrow with their whole minified source: remove what
 * `f` adds, so errors take the CLI's own path. Outside Node there are none: just run `f`. */
async function withoutProcessHandlers<T>(f: () => Promise<T>): Promise<T> {
  const process = nodeProcess();
  if (!process) return f();
  const events = ['uncaughtException', 'unhandledRejection'] as const;
  const before = events.map((e) => new Set(process.listeners(e as 'uncaughtException')));
  try {
    return await f();
  } finally {
    events.forEach((e, i) =>
      process.listeners(e as 'uncaughtException').filter((l) => !before[i]!.has(l)).forEach((l) => process.removeListener(e as 'uncaughtException', l)),
    );
  }
}

const WEBGPU_HELP =
  "the 'webgpu' backend needs a WebGPU adapter. In Node it comes from the `webgpu` package (Dawn; an optional dependency, " +
  'installed by `npm ci` on linux-x64, macOS and Windows). Without a GPU, Chromium\'s SwiftShader driver stands in: ' +
  '`apt-get install chromium libvulkan1` and VK_ICD_FILENAMES=/usr/lib/chromium/vk_swiftshader_icd.json';

/** In Node, install Dawn's WebGPU (the `webgpu` package) as navigator.gpu; a browser has its own. */
async function loadWebgpu(): Promise<void> {
  const g = globalThis as { navigator?: { gpu?: unknown } };
  if (!g.navigator?.gpu) {
    let dawn: { create(flags: string[]): unknown; globals: Record<string, unknown> };
    try {
      dawn = (await import('webgpu')) as never;
    } catch (e) {
      throw new UserError(`${WEBGPU_HELP} (loading it failed: ${(e as Error).message})`);
    }
    const env = nodeProcess()?.env;
    if (env) env.XDG_RUNTIME_DIR ??= env.TMPDIR ?? '/tmp'; // the Vulkan loader complains on every start without it
    Object.assign(globalThis, dawn.globals);
    Object.defineProperty(globalThis, 'navigator', { value: { ...(g.navigator ?? {}), gpu: dawn.create([]) }, configurable: true, writable: true });
  }
  const adapter = await (g.navigator!.gpu as { requestAdapter(): Promise<unknown> }).requestAdapter();
  if (!adapter) throw new UserError(`no WebGPU adapter found: ${WEBGPU_HELP}`);
  await import('@tensorflow/tfjs-backend-webgpu');
}

export interface BackendOptions {
  /** where the wasm backend fetches its .wasm files (a URL prefix ending in '/'; tfjs's setWasmPaths): a browser
   * serves them itself, Node reads them beside the package */
  wasmPaths?: string;
  /** threads of the matrix products on wasm (default: DISTILLERY_THREADS, else min(2, cores)) */
  threads?: number;
}

/** DISTILLERY_SHARED_HEAP: 1 (default) or 0 */
function sharedHeapWanted(): boolean {
  return envSetting('DISTILLERY_SHARED_HEAP', (raw) => (raw === '1' ? true : raw === '0' ? false : undefined), '0 or 1') ?? true;
}

export async function loadBackend(name: string, o: BackendOptions = {}): Promise<Backend> {
  if (!(BACKENDS as readonly string[]).includes(name)) throw new UserError(`unknown backend '${name}'; choose one of ${BACKENDS.join(', ')}`);
  const n = name as BackendName;
  if (n === 'tensorflow') await loadTensorflow();
  if (n === 'wasm') {
    const wasm = await withoutProcessHandlers(() => import('@tensorflow/tfjs-backend-wasm'));
    if (o.wasmPaths !== undefined) wasm.setWasmPaths(o.wasmPaths); // before setBackend, which fetches them
  }
  if (n === 'webgpu') await loadWebgpu();
  // wasm in Node with more than one thread: tfjs's heap is made shared, so the products' threads compute in place
  // (DISTILLERY_SHARED_HEAP=0 keeps it plain: the threads then work on copies)
  const share = n === 'wasm' && sharedHeapWanted() && (o.threads ?? defaultThreads()) > 1;
  const init = async () => {
    if (tf.getBackend() !== n) {
      const ok = await withoutProcessHandlers(() => tf.setBackend(n));
      if (!ok) throw new UserError(`backend '${n}' failed to initialise`);
    }
    await withoutProcessHandlers(() => tf.ready());
  };
  await (share ? withSharedHeap(init) : init());
  if (n === 'wasm' || n === 'cpu') await registerHostKernels(n, o.threads !== undefined ? { threads: o.threads } : {});
  if (n === 'webgpu') registerWebgpuKernels();
  const engine = tf.engine();
  return {
    name: n,
    tf,
    detach(t) {
      const d = engine.makeTensorFromDataId(t.dataId, t.shape, t.dtype);
      engine.backend.incRef(t.dataId); // the new handle owns a reference, as engine.incRef does for variables
      return d;
    },
    // webgpu reads back asynchronously: in Node it has no other way, and in a browser tfjs's synchronous read goes
    // through an OffscreenCanvas copy that stalls the GPU's queue (so the same code path runs in both)
    syncReads: n !== 'webgpu',
    ...(n === 'wasm' ? { drawAhead: (d: readonly { state: Uint32Array; n: number }[]) => currentDraws()?.request(d) } : {}),
    memory: () => {
      const m = tf.memory();
      return { tensors: m.numTensors, bytes: m.numBytes };
    },
  };
}
