/** @file tfjs-wasm's Identity copies its input into a fresh buffer. The tape clones (Identity) every input an op saves
 * for its gradient: 66 copies per dmd-step iteration, 4 MiB of them at D = 64. Tensors are immutable, and the wasm
 * backend counts references to shared data (its Reshape shares already), so here a clone shares its input's data, as
 * on tfjs's cpu and WebGL backends. Strings keep tfjs's kernel. */
import * as tf from '@tensorflow/tfjs';
import type { KernelFunc, TensorInfo } from '@tensorflow/tfjs';

interface RefCounting {
  incRef(dataId: object): void;
}

let copying: KernelFunc | undefined;

/** Replace the wasm backend's Identity (once; again after a re-registration is harmless) */
export function registerSharedIdentity(): void {
  const current = tf.getKernel('Identity', 'wasm');
  if (!current) return;
  if (current.kernelFunc === sharing) return;
  copying = current.kernelFunc;
  tf.unregisterKernel('Identity', 'wasm');
  tf.registerKernel({ ...current, kernelFunc: sharing });
}

function sharing(args: Parameters<KernelFunc>[0]): TensorInfo {
  const x = (args.inputs as { x: TensorInfo }).x;
  if (x.dtype === 'string') return copying!(args) as TensorInfo;
  (args.backend as unknown as RefCounting).incRef(x.dataId);
  return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
}
