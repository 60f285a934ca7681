/** @file What the WebAssembly kernels' loaders share: committed modules' bytes from base64, and whether a memory is
 * shared (a module must import a shared memory as shared, and a plain one as plain). */

/** base64 (whitespace ignored) to bytes */
export function decodeBase64(b64: string): Uint8Array<ArrayBuffer> {
  const text = atob(b64.replace(/\s/g, ''));
  const out = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) out[i] = text.charCodeAt(i);
  return out;
}

/** a memory made with `shared: true` (the worker pool's, or tfjs's heap in Node: shared-heap.ts) */
export const isShared = (memory: WebAssembly.Memory) => typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
