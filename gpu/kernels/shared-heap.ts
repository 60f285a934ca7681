/** @file tfjs-wasm's heap as shared memory, in Node. tfjs-wasm's module defines its own memory, not shared (its threaded
 * build is not used in Node), so the matrix products' worker threads could only reach tensors through copies. While the
 * backend initialises, `withSharedHeap` has WebAssembly.instantiate mark that memory shared (one flag bit of the
 * module's memory section: same limits, same code); the pool's threads then instantiate the kernels on tfjs's own heap
 * and compute in place. Nothing else changes for tfjs: plain loads and stores behave alike on shared memory, and its
 * reads copy out (slice) as before. */

const MEMORY_SECTION = 5;
const HAS_MAX = 1;
const SHARED = 2;

/** a copy of `bytes` whose own (defined, not imported) memory is shared; undefined where the module defines none, or
 * defines it without a maximum (a shared memory needs one) */
export function shareDefinedMemory(bytes: Uint8Array): Uint8Array<ArrayBuffer> | undefined {
  const b = new Uint8Array(bytes);
  if (b[0] !== 0 || b[1] !== 0x61 || b[2] !== 0x73 || b[3] !== 0x6d) return undefined;
  let p = 8;
  const leb = () => {
    let r = 0;
    for (let s = 0; ; s += 7) {
      const x = b[p++]!;
      r |= (x & 0x7f) << s;
      if (!(x & 0x80)) return r >>> 0;
    }
  };
  while (p < b.length) {
    const id = b[p++]!;
    const len = leb();
    const start = p;
    if (id === MEMORY_SECTION) {
      if (leb() !== 1 || b[p] !== HAS_MAX) return undefined;
      b[p] = HAS_MAX | SHARED;
      return b;
    }
    p = start + len;
  }
  return undefined;
}

type Instantiate = typeof WebAssembly.instantiate;

/** Runs `init` (the wasm backend's initialisation) with every module it instantiates from bytes given a shared memory.
 * Where shared memory is missing (a browser that is not cross-origin isolated) `init` runs unchanged. */
export async function withSharedHeap<T>(init: () => Promise<T>): Promise<T> {
  if (typeof SharedArrayBuffer === 'undefined') return init();
  const original: Instantiate = WebAssembly.instantiate;
  const patched = ((source: unknown, imports?: WebAssembly.Imports) => {
    const bytes = source instanceof ArrayBuffer ? new Uint8Array(source) : ArrayBuffer.isView(source) ? new Uint8Array(source.buffer, source.byteOffset, source.byteLength) : undefined;
    const shared = bytes && shareDefinedMemory(bytes);
    return original.call(WebAssembly, (shared ?? source) as never, imports);
  }) as Instantiate;
  WebAssembly.instantiate = patched;
  try {
    return await init();
  } finally {
    WebAssembly.instantiate = original;
  }
}
