/** @file safetensors as bytes (F32, and I32 on write): 8-byte little-endian header length, JSON header, raw
 * little-endian data. The format PyTorch's `safetensors.torch.load_file` reads, so weights move both ways. Typed arrays
 * only, no file system: it runs in a browser too (safetensors.ts adds Node's file reading). */
import type { HostTensor } from '../ops/models/index.ts';
import { UserError } from '../dsl/errors.ts';

/** F32 tensors, or I32 ones (token and label draws a parity run replays) */
export type StoredTensor = HostTensor | { shape: number[]; data: Int32Array };

/** the host stores typed arrays little-endian (so their bytes are the file's bytes) */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export function encodeSafetensors(tensors: Record<string, StoredTensor>, metadata: Record<string, string> = {}): Uint8Array<ArrayBuffer> {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  const names = Object.keys(tensors).sort();
  for (const k of names) {
    const t = tensors[k]!;
    header[k] = { dtype: t.data instanceof Int32Array ? 'I32' : 'F32', shape: t.shape, data_offsets: [offset, offset + t.data.length * 4] };
    offset += t.data.length * 4;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padded = json.length + ((8 - (json.length % 8)) % 8);
  const out = new Uint8Array(8 + padded + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(padded), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + padded); // pad the header with spaces to an 8-byte boundary
  let at = 8 + padded;
  for (const k of names) {
    const d = tensors[k]!.data;
    if (LITTLE_ENDIAN) out.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), at);
    else if (d instanceof Int32Array) for (let i = 0; i < d.length; i++) view.setInt32(at + i * 4, d[i]!, true);
    else for (let i = 0; i < d.length; i++) view.setFloat32(at + i * 4, d[i]!, true);
    at += d.length * 4;
  }
  return out;
}

export function decodeSafetensors(buf: Uint8Array, what = 'safetensors'): { tensors: Record<string, HostTensor>; metadata: Record<string, string> } {
  const bad = (m: string) => new UserError(`${what}: ${m}`);
  if (buf.length < 8) throw bad('file is shorter than its 8-byte header length');
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const n = Number(view.getBigUint64(0, true));
  if (8 + n > buf.length) throw bad(`header length ${n} runs past the end of the file (${buf.length} bytes)`);
  let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] } | Record<string, string>>;
  try {
    header = JSON.parse(new TextDecoder().decode(buf.subarray(8, 8 + n)));
  } catch {
    throw bad('header is not JSON');
  }
  const base = 8 + n;
  const tensors: Record<string, HostTensor> = {};
  for (const [k, v] of Object.entries(header)) {
    if (k === '__metadata__') continue;
    const e = v as { dtype: string; shape: number[]; data_offsets: [number, number] };
    if (e.dtype !== 'F32') throw bad(`tensor '${k}' has dtype ${e.dtype}; only F32 is supported`);
    const size = e.shape.reduce((a, b) => a * b, 1);
    const [s, t] = e.data_offsets;
    if (t - s !== size * 4 || base + t > buf.length) throw bad(`tensor '${k}' [${e.shape}] does not fit its data offsets ${s}..${t}`);
    const data = new Float32Array(size);
    // copied, not viewed: the data may be unaligned, and the caller's buffer may be reused
    if (LITTLE_ENDIAN) new Uint8Array(data.buffer).set(buf.subarray(base + s, base + t));
    else for (let i = 0; i < size; i++) data[i] = view.getFloat32(base + s + i * 4, true);
    tensors[k] = { shape: e.shape, data };
  }
  return { tensors, metadata: (header.__metadata__ as Record<string, string>) ?? {} };
}
