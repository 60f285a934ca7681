/** @file A portable "run this after pending I/O, timers and messages": training yields with it between steps so a
 * signal, a timer or a worker's incoming message gets its turn. */

export type Schedule = (f: () => void) => void;

interface Globals {
  setImmediate?: (f: () => void) => unknown;
  MessageChannel?: typeof MessageChannel;
  setTimeout: (f: () => void, ms: number) => unknown;
}

/** one channel for every call, its callbacks queued in order */
function viaMessageChannel(Channel: typeof MessageChannel): Schedule {
  const queue: (() => void)[] = [];
  let port: MessagePort | undefined;
  return (f) => {
    if (!port) {
      const ch = new Channel();
      ch.port1.onmessage = () => queue.shift()?.();
      port = ch.port2;
    }
    queue.push(f);
    port.postMessage(null);
  };
}

/** setImmediate where it exists (Node); else a MessageChannel message (browsers and workers: not clamped to 4 ms as
 * nested setTimeout is); else setTimeout 0 */
export function macrotaskScheduler(g: Globals = globalThis as unknown as Globals): Schedule {
  if (typeof g.setImmediate === 'function') {
    const s = g.setImmediate;
    return (f) => void s(f);
  }
  if (typeof g.MessageChannel === 'function') return viaMessageChannel(g.MessageChannel);
  const t = g.setTimeout;
  return (f) => void t(f, 0);
}

export const nextMacrotask: Schedule = macrotaskScheduler();
