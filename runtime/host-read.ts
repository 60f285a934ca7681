/** @file Reading tensors back to the host, synchronously where the backend can and asynchronously everywhere. */
import type * as tfns from '@tensorflow/tfjs';
import type { Tensor, TF } from '../gpu/lower/context.ts';
import type { HostTensor } from '../ops/models/index.ts';

export interface Fetched {
  data: Float32Array;
  shape: number[];
}

export const toHost = (v: tfns.Tensor): HostTensor => ({ shape: [...v.shape], data: Float32Array.from(v.dataSync()) });

/** compute tensors inside a tidy, read them to the host, release them */
export function fetchSync(tf: TF, compute: () => Tensor[]): Fetched[] {
  const ts = tf.tidy(compute);
  try {
    return ts.map((t) => ({ data: Float32Array.from(t.dataSync()), shape: [...t.shape] }));
  } finally {
    tf.dispose(ts);
  }
}

export async function fetchAsync(tf: TF, compute: () => Tensor[]): Promise<Fetched[]> {
  const ts = tf.tidy(compute);
  try {
    return await Promise.all(ts.map(async (t) => ({ data: Float32Array.from(await t.data()), shape: [...t.shape] })));
  } finally {
    tf.dispose(ts);
  }
}

/** named tensors (variables, which stay alive) read asynchronously */
export async function readAsync(vs: [string, tfns.Tensor][]): Promise<Record<string, HostTensor>> {
  const read = await Promise.all(vs.map(async ([k, v]): Promise<[string, HostTensor]> => [k, { shape: [...v.shape], data: Float32Array.from(await v.data()) }]));
  return Object.fromEntries(read);
}
