/** @file metrics.arrows: a run's metric rows on disk as they are produced (an Arrow IPC stream, appended a batch at a
 * time), so a killed run keeps every row up to its last flush. The finished run folder holds metrics.arrow (the file
 * format) instead; `distillery report` reads the stream of a run that never finished. */
import fs from 'node:fs';
import path from 'node:path';
import { MetricsStreamEncoder } from './arrow.ts';

export const METRICS_STREAM = 'metrics.arrows';

/** what a stream carries about its run (the schema's metadata), enough for a report without summary.json */
export interface StreamedRun {
  pipeline: string;
  seed: number;
  backend: string;
  steps: number;
  planText: string;
  config?: Record<string, unknown>;
}

type Row = Record<string, number | null>;

export class MetricsFile {
  readonly path: string;
  private fd: number;
  private readonly enc: MetricsStreamEncoder;
  private pending: Row[] = [];
  private lastFlush = performance.now();

  /** Start `<dir>/metrics.arrows` afresh with the rows a resumed run already has. `flushSeconds`: the most time a row
   * waits in memory (0: every row is written at once). */
  constructor(dir: string, run: StreamedRun, prior: Row[], private readonly flushSeconds = 1) {
    this.path = path.join(dir, METRICS_STREAM);
    this.enc = new MetricsStreamEncoder({ ...run });
    fs.mkdirSync(dir, { recursive: true });
    this.fd = fs.openSync(this.path, 'w');
    this.pending = [...prior];
    this.flush();
  }

  /** queue a row; written when the oldest queued row has waited `flushSeconds`, or at `flush` */
  push(row: Row): void {
    this.pending.push(row);
    if ((performance.now() - this.lastFlush) / 1000 >= this.flushSeconds) this.flush();
  }

  flush(): void {
    this.lastFlush = performance.now();
    if (!this.pending.length) return;
    fs.writeSync(this.fd, this.enc.encode(this.pending));
    this.pending = [];
  }

  /** write what is queued and end the stream */
  close(): void {
    if (this.fd < 0) return;
    this.flush();
    fs.writeSync(this.fd, this.enc.end());
    fs.closeSync(this.fd);
    this.fd = -1;
  }

  /** the run folder holds metrics.arrow now: the stream goes */
  remove(): void {
    this.close();
    fs.rmSync(this.path, { force: true });
  }
}
