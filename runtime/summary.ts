/** @file What a run reports at its end (summary.json): written by runtime/run.ts, read by the report and the CLI. */
export interface Summary {
  pipeline: string;
  seed: number;
  backend: string;
  steps: number;
  wallSeconds: number;
  iterationsPerSecond: number;
  metrics: Record<string, unknown>;
  energyDistanceByStep: { step: number; energyDistance: number }[];
  finalLosses: Record<string, number>;
  /** updates skipped because the loss or a gradient was NaN/Inf, per role, and where */
  nonFinite: { skipped: Record<string, number>; events: { step: number; role: string }[] };
  /** the step this run was resumed from (absent: it ran from the start) */
  resumedFrom?: number;
  /** the last step trained when the run was stopped before `steps` (the lab's Stop); absent: it ran to the end */
  stoppedAt?: number;
}

/** each role's loss in the last metrics row */
export const lastLosses = (rows: Record<string, number | null>[]): Record<string, number> =>
  Object.fromEntries(Object.entries(rows[rows.length - 1] ?? {}).filter(([k]) => k.startsWith('loss.')).map(([k, v]) => [k.slice(5), v as number]));
