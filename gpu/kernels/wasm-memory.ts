/** @file Whether a memory is shared (a module must import a shared memory as shared, and a plain one as plain). */

/** a memory made with `shared: true` (the worker pool's, or tfjs's heap in Node: shared-heap.ts) */
export const isShared = (memory: WebAssembly.Memory) => typeof SharedArrayBuffer !== 'undefined' && memory.buffer instanceof SharedArrayBuffer;
