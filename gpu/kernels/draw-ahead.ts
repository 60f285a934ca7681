/** @file Normal draws made ahead of time by the worker pool's first worker, while it would otherwise poll for the
 * next product: the runtime knows which Gaussian sources the next update runs and the streams they draw from
 * (runtime/steps.ts), so it asks for them one update early; the source lowering then takes them instead of drawing.
 * The worker runs the same normals module (ops/normals.ts) from the same xoshiro128** state, in chunks of an even
 * count, so the draws are the bits a draw on the calling thread gives; a request that is not ready when its draw
 * comes is cancelled, or waited for when the worker is on it, and one that was not made is drawn as before. Requests
 * are keyed by the stream's starting state and the count: a request for the wrong update is never taken.
 *
 * Shared state: a job table (Int32Array: a header, then JOB_SLOTS slots of JOB_INTS) and a result ring (f32). A job's
 * status goes WRITING → PENDING (the caller fills a free slot, then publishes it), PENDING → RUNNING → DONE (the
 * worker), or PENDING → CANCELLED (the caller); the worker visits the slots in the order they were posted. Counters
 * are int32 and wrap (JOB_SLOTS divides 2³²). */

/** header: how many jobs were ever posted */
const POSTED = 0;
const HEADER = 4;
/** per job: status, count, result offset (floats), the four state words, the job's serial number */
const JOB_INTS = 8;
const [STATUS, COUNT, AT, STATE, SERIAL] = [0, 1, 2, 3, 7];
export const JOB_SLOTS = 32;
const [PENDING, RUNNING, DONE, CANCELLED, WRITING] = [1, 2, 3, 4, 5];
/** the result ring, in floats (4 MiB) */
export const RESULT_FLOATS = 1 << 20;
/** requests of one update together stay within this many floats; a larger one is drawn as before */
const MAX_REQUEST = RESULT_FLOATS >> 2;
/** normals per chunk (even, so a chunk never splits a Box–Muller pair): ~11 µs, the longest a product then waits for
 * the worker */
const CHUNK = 1024;

export const jobTableBytes = () => 4 * (HEADER + JOB_SLOTS * JOB_INTS);

/** The worker's side, as source text evaluated in the pool's worker: `drawChunk()` computes one chunk of the oldest
 * job and says whether there was anything to do. `jobs`, `results`, `normals` (the compiled module) come from
 * workerData; `STATE_AT` and `OUT_AT` are the module's memory layout. A failure here ends the drawing ahead, not the
 * worker: jobs left pending are cancelled by the caller and drawn there. */
export const drawWorkerSource = (STATE_AT: number, OUT_AT: number) => `
let drawJobs = workerData.drawJobs && new Int32Array(workerData.drawJobs);
const drawResults = workerData.drawJobs && new Float32Array(workerData.drawResults);
let drawKernel, drawTaken = 0, drawAt = -1, drawDone = 0;
function drawChunk() {
  if (!drawJobs) return false;
  try {
    return drawStep();
  } catch {
    if (drawAt >= 0) Atomics.store(drawJobs, drawAt + ${STATUS}, ${CANCELLED});
    drawJobs = undefined;
    return false;
  }
}
function drawStep() {
  if (drawAt < 0) {
    if (Atomics.load(drawJobs, ${POSTED}) === drawTaken) return false;
    const o = ${HEADER} + (drawTaken & ${JOB_SLOTS - 1}) * ${JOB_INTS};
    drawTaken = (drawTaken + 1) | 0;
    if (Atomics.compareExchange(drawJobs, o + ${STATUS}, ${PENDING}, ${RUNNING}) !== ${PENDING}) return true;
    drawKernel ??= new WebAssembly.Instance(workerData.normals, {}).exports;
    new Int32Array(drawKernel.memory.buffer, ${STATE_AT}, 4).set(drawJobs.subarray(o + ${STATE}, o + ${STATE} + 4));
    drawAt = o;
    drawDone = 0;
  }
  const n = drawJobs[drawAt + ${COUNT}];
  const c = Math.min(${CHUNK}, n - drawDone);
  drawKernel.normals(c);
  drawResults.set(new Float32Array(drawKernel.memory.buffer, ${OUT_AT}, c), drawJobs[drawAt + ${AT}] + drawDone);
  drawDone += c;
  if (drawDone === n) {
    Atomics.store(drawJobs, drawAt + ${STATUS}, ${DONE});
    drawAt = -1;
  }
  return true;
}
`;

interface Ticket {
  slot: number;
  serial: number;
  at: number;
}

/** The calling thread's side. */
export class DrawAhead {
  readonly jobs: SharedArrayBuffer;
  readonly results: SharedArrayBuffer;
  private readonly table: Int32Array;
  private readonly ring: Float32Array;
  private posted = 0;
  private next = 0;
  private tickets = new Map<string, Ticket>();

  /** `wake`: rouses a worker that sleeps */
  constructor(private readonly wake: () => void) {
    this.jobs = new SharedArrayBuffer(jobTableBytes());
    this.results = new SharedArrayBuffer(4 * RESULT_FLOATS);
    this.table = new Int32Array(this.jobs);
    this.ring = new Float32Array(this.results);
  }

  /** Asks for these draws (a stream's starting state, a count), cancelling what was asked before and not begun. At
   * most JOB_SLOTS of them, RESULT_FLOATS / 4 floats in all; a draw asked for twice is made once. */
  request(draws: readonly { state: Uint32Array; n: number }[]): void {
    const t = this.table;
    for (const k of this.tickets.values()) Atomics.compareExchange(t, k.slot + STATUS, PENDING, CANCELLED);
    this.tickets.clear();
    if (draws.length > JOB_SLOTS || draws.reduce((s, d) => s + d.n, 0) > MAX_REQUEST) return;
    for (const d of draws) {
      const key = keyOf(d.state, d.n);
      if (this.tickets.has(key)) continue;
      const slot = HEADER + (this.posted & (JOB_SLOTS - 1)) * JOB_INTS;
      // a slot is filled only from free, done or cancelled, claimed first so the worker never reads it half-written;
      // a job the worker is on keeps its slot and its results' place in the ring
      const was = Atomics.load(t, slot + STATUS);
      if (was === RUNNING || was === PENDING || Atomics.compareExchange(t, slot + STATUS, was, WRITING) !== was) break;
      if (this.next + d.n > RESULT_FLOATS) this.next = 0;
      if (this.overlapsRunning(this.next, d.n)) {
        Atomics.store(t, slot + STATUS, was);
        break;
      }
      t[slot + COUNT] = d.n;
      t[slot + AT] = this.next;
      t.set(d.state, slot + STATE);
      t[slot + SERIAL] = this.posted;
      Atomics.store(t, slot + STATUS, PENDING);
      this.tickets.set(key, { slot, serial: this.posted, at: this.next });
      this.next += d.n;
      this.posted = (this.posted + 1) | 0;
      Atomics.store(t, POSTED, this.posted);
    }
    this.wake();
  }

  /** whether every draw asked for is drawn, or will not be (tests wait on it) */
  settled(): boolean {
    for (const k of this.tickets.values()) {
      const s = Atomics.load(this.table, k.slot + STATUS);
      if (s === PENDING || s === RUNNING) return false;
    }
    return true;
  }

  /** The `out.length` normals of the stream that starts at `state`, if they were asked for: false where they were not
   * (nothing written; the caller draws them). */
  take(state: Uint32Array, out: Float32Array): boolean {
    const key = keyOf(state, out.length);
    const k = this.tickets.get(key);
    if (!k) return false;
    this.tickets.delete(key);
    const t = this.table;
    if (t[k.slot + SERIAL] !== k.serial) return false;
    const deadline = performance.now() + 1000;
    for (let i = 1; ; i++) {
      const s = Atomics.load(t, k.slot + STATUS);
      if (s === DONE) {
        out.set(this.ring.subarray(k.at, k.at + out.length));
        return true;
      }
      if (s === CANCELLED || (s === PENDING && Atomics.compareExchange(t, k.slot + STATUS, PENDING, CANCELLED) === PENDING)) return false;
      // RUNNING: the worker finishes it within ~11 ns a normal; a worker that stalls is not waited for past a second
      // (it then finishes into a place of the ring no later request takes while it runs)
      if ((i & 1023) === 0 && performance.now() > deadline) return false;
    }
  }

  private overlapsRunning(at: number, n: number): boolean {
    const t = this.table;
    for (let j = 0; j < JOB_SLOTS; j++) {
      const o = HEADER + j * JOB_INTS;
      if (Atomics.load(t, o + STATUS) === RUNNING && at < t[o + AT]! + t[o + COUNT]! && t[o + AT]! < at + n) return true;
    }
    return false;
  }
}

const keyOf = (state: Uint32Array, n: number) => `${state[0]},${state[1]},${state[2]},${state[3]},${n}`;
