/** @file A finished run on its way from the page to the server: one zip (fflate) with the JSON parts and the arrays
 * as raw little-endian float32 — no base64, nothing the server must evaluate. */
import { strFromU8, strToU8, unzipSync, zipSync } from 'fflate';
import type { FinishedRun } from './protocol.ts';

const f32 = (a: Float32Array) => new Uint8Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength));
const toF32 = (u: Uint8Array) => new Float32Array(u.buffer.slice(u.byteOffset, u.byteOffset + u.byteLength));

export function packRun(r: FinishedRun): Uint8Array {
  const files: Record<string, Uint8Array> = {
    'run.json': strToU8(JSON.stringify({ ir: r.ir, config: r.config, planText: r.planText, summary: r.summary, rows: r.rows, d: r.d })),
  };
  if (r.samples) files['samples.f32'] = f32(r.samples);
  if (r.teacherSamples) files['teacher-samples.f32'] = f32(r.teacherSamples);
  for (const [name, bytes] of Object.entries(r.weights)) files[`weights/${name}`] = bytes;
  return zipSync(files, { level: 1 });
}

/** the inverse of packRun; throws on anything that is not such a zip (the caller names the request) */
export function unpackRun(bytes: Uint8Array): FinishedRun {
  const files = unzipSync(bytes);
  const json = files['run.json'];
  if (!json) throw new Error('the upload holds no run.json');
  const head = JSON.parse(strFromU8(json)) as Omit<FinishedRun, 'weights' | 'samples' | 'teacherSamples'>;
  const weights: Record<string, Uint8Array> = {};
  for (const [name, b] of Object.entries(files)) if (name.startsWith('weights/')) weights[name.slice('weights/'.length)] = b;
  return {
    ...head,
    weights,
    ...(files['samples.f32'] ? { samples: toF32(files['samples.f32']) } : {}),
    ...(files['teacher-samples.f32'] ? { teacherSamples: toF32(files['teacher-samples.f32']) } : {}),
  };
}
