/** @file Progress: a bar with steps/s, ETA and the latest losses on a TTY; plain lines otherwise. */
import cliProgress from 'cli-progress';
import type { StepEvent } from '../train.ts';

export interface Progress {
  update(e: StepEvent): void;
  stop(): void;
}

const fmt = (v: Record<string, number>) => Object.entries(v).map(([k, x]) => `${k}=${x.toPrecision(4)}`).join(' ');

export function progress(total: number, o: { tty?: boolean; quiet?: boolean; every?: number } = {}): Progress {
  if (o.quiet) return { update() {}, stop() {} };
  if (o.tty ?? process.stderr.isTTY) {
    const bar = new cliProgress.SingleBar(
      { format: 'train |{bar}| {value}/{total} steps | {rate} it/s | ETA {eta_formatted} | {losses}', stream: process.stderr, hideCursor: true },
      cliProgress.Presets.shades_classic,
    );
    bar.start(total, 0, { rate: '0.0', losses: '' });
    return {
      update: (e) => bar.update(e.step, { rate: e.stepsPerSecond.toFixed(1), losses: fmt(e.losses) }),
      stop: () => bar.stop(),
    };
  }
  const every = o.every ?? Math.max(1, Math.round(total / 20));
  return {
    update(e) {
      if (e.step % every !== 0 && e.step !== total && e.eval === undefined) return;
      const eta = e.stepsPerSecond > 0 ? (total - e.step) / e.stepsPerSecond : 0;
      const m = e.eval?.metrics;
      const ev = !m ? '' : m.energyDistance !== undefined ? ` energyDistance=${m.energyDistance.toPrecision(4)} modes=${m.modesCovered}/${m.modesTotal}` : ` tv=${m.tv?.toPrecision(3)} invalid=${m.invalidRate?.toPrecision(3)} gm=${m.gm?.toPrecision(3)}`;
      process.stderr.write(`step ${e.step}/${total} ${e.stepsPerSecond.toFixed(1)} it/s eta ${eta.toFixed(0)}s ${fmt(e.losses)}${ev}\n`);
    },
    stop() {},
  };
}
