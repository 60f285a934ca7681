/** @file safetensors in Node: the byte format (safetensors-bytes.ts, which a browser imports directly) with Buffers,
 * and reading a weights file. */
import fs from 'node:fs';
import type { HostTensor } from '../ops/models/index.ts';
import { UserError } from '../dsl/errors.ts';
import { decodeSafetensors, encodeSafetensors as encodeBytes, type StoredTensor } from './safetensors-bytes.ts';

export { decodeSafetensors, type StoredTensor };

/** the file's bytes, as a Buffer over them (no copy) */
export function encodeSafetensors(tensors: Record<string, StoredTensor>, metadata: Record<string, string> = {}): Buffer {
  const bytes = encodeBytes(tensors, metadata);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

export function loadSafetensors(file: string): Record<string, HostTensor> {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    throw new UserError(`cannot read weights '${file}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
  return decodeSafetensors(buf, file).tensors;
}
