/** @file safetensors read/write (F32): 8-byte little-endian header length, JSON header, raw little-endian data.
 * The format PyTorch's `safetensors.torch.load_file` reads, so weights move both ways. */
import fs from 'node:fs';
import type { HostTensor } from '../ops/models/index.ts';
import { UserError } from '../dsl/errors.ts';

/** F32 tensors, or I32 ones (token and label draws a parity run replays) */
export type StoredTensor = HostTensor | { shape: number[]; data: Int32Array };

export function encodeSafetensors(tensors: Record<string, StoredTensor>, metadata: Record<string, string> = {}): Buffer {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  const names = Object.keys(tensors).sort();
  for (const k of names) {
    const t = tensors[k]!;
    header[k] = { dtype: t.data instanceof Int32Array ? 'I32' : 'F32', shape: t.shape, data_offsets: [offset, offset + t.data.length * 4] };
    offset += t.data.length * 4;
  }
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const pad = (8 - (json.length % 8)) % 8;
  json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const out = Buffer.alloc(8 + json.length + offset);
  out.writeBigUInt64LE(BigInt(json.length), 0);
  json.copy(out, 8);
  let at = 8 + json.length;
  for (const k of names) {
    const d = tensors[k]!.data;
    if (d instanceof Int32Array) for (let i = 0; i < d.length; i++) out.writeInt32LE(d[i]!, at + i * 4);
    else for (let i = 0; i < d.length; i++) out.writeFloatLE(d[i]!, at + i * 4);
    at += d.length * 4;
  }
  return out;
}

export function decodeSafetensors(buf: Buffer, what = 'safetensors'): { tensors: Record<string, HostTensor>; metadata: Record<string, string> } {
  const bad = (m: string) => new UserError(`${what}: ${m}`);
  if (buf.length < 8) throw bad('file is shorter than its 8-byte header length');
  const n = Number(buf.readBigUInt64LE(0));
  if (8 + n > buf.length) throw bad(`header length ${n} runs past the end of the file (${buf.length} bytes)`);
  let header: Record<string, { dtype: string; shape: number[]; data_offsets: [number, number] } | Record<string, string>>;
  try {
    header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8'));
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
    for (let i = 0; i < size; i++) data[i] = buf.readFloatLE(base + s + i * 4);
    tensors[k] = { shape: e.shape, data };
  }
  return { tensors, metadata: (header.__metadata__ as Record<string, string>) ?? {} };
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
