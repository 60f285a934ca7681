/** @file The timing protocol of the dmd-step benchmark (docs/performance.md): one untimed iteration, warm-up until ≥ 5 iterations and
 * ≥ WARMUP_SECONDS, then repetitions of n iterations each (n ≤ 50, about 4 s a repetition at the warm-up rate). */

/** Seconds of warm-up per contestant. V8 keeps compiling for seconds (JavaScript and WebAssembly tier up on its helper
 * threads, which take a core from the two the kernels run on): alone in a process, the compiled D = 2 iteration ran at
 * 37 it/s over its first 50 iterations, 53 over iterations 102–151 and ~60 from about the 500th on (~10 s), while the
 * helper threads' CPU time per 50 iterations fell from 420 to ~40 ms. A 2 s warm-up timed that climb. */
export const WARMUP_SECONDS = 15;

export interface Rate {
  median: number;
  min: number;
  max: number;
  /** iterations per second of every repetition, in order */
  reps: number[];
}

export const summarize = (reps: number[]): Rate => {
  const s = [...reps].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return { median: s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2, min: s[0]!, max: s.at(-1)!, reps };
};

/** A contestant: `run(n)` runs n iterations and returns when their results are on the host. */
export interface Contestant {
  name: string;
  run(n: number): Promise<void> | void;
}

/** Contestants in another process (PyTorch) that warmed up before the call and time their own repetitions: `rep()`
 * runs one repetition of each and returns their iterations per second, by name. */
export interface Remote {
  names: string[];
  rep(): Promise<Record<string, number>>;
  /** how long the machine is left idle after a repetition (threads of the other process that still poll) */
  settleMs?: number;
}

/** Warm every contestant up, then time `reps` repetitions of each, interleaved, so that the machine's drift hits
 * all of them alike. Returns iterations per second per contestant. */
export async function timeSideBySide(
  cs: (Contestant | Remote)[],
  reps: number,
  o: { maxIters?: number; repSeconds?: number; warmupSeconds?: number; afterFirst?: () => void } = {},
): Promise<Record<string, Rate>> {
  const perRep = new Map<string, number>();
  const local = cs.filter((c): c is Contestant => 'run' in c);
  for (const c of local) await c.run(1);
  o.afterFirst?.(); // every contestant has allocated what it keeps (optimizer slots, cached operators)
  for (const c of local) {
    const t0 = performance.now();
    let n = 0;
    while (n < 5 || performance.now() - t0 < (o.warmupSeconds ?? WARMUP_SECONDS) * 1000) {
      await c.run(1);
      n++;
    }
    const rate = n / ((performance.now() - t0) / 1000);
    perRep.set(c.name, Math.max(2, Math.min(o.maxIters ?? 50, Math.floor(rate * (o.repSeconds ?? 4)))));
  }
  const out = new Map<string, number[]>(cs.flatMap((c) => ('run' in c ? [c.name] : c.names)).map((k) => [k, []]));
  for (let r = 0; r < reps; r++)
    for (const c of r % 2 ? [...cs].reverse() : cs) {
      if (!('run' in c)) {
        for (const [k, v] of Object.entries(await c.rep())) out.get(k)!.push(v);
        if (c.settleMs) await new Promise((r) => setTimeout(r, c.settleMs));
        continue;
      }
      const n = perRep.get(c.name)!;
      const t0 = performance.now();
      await c.run(n);
      out.get(c.name)!.push(n / ((performance.now() - t0) / 1000));
    }
  return Object.fromEntries([...out].map(([k, v]) => [k, summarize(v)]));
}
