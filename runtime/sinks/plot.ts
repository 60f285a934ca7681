/** @file PNG scatter of 2-D samples over the target's exact density (log scale), drawn with pngjs. */
import { PNG } from 'pngjs';
import type { GmmSpec } from '../../dsl/ir/schema.ts';
import { gmmLogDensity } from '../../ops/datasets.ts';

export function scatterOverDensity(target: GmmSpec, samples: Float32Array, o: { size?: number; extent?: number } = {}): Buffer {
  const size = o.size ?? 512;
  const ext = o.extent ?? Math.max(...target.means.flat().map(Math.abs)) + 4 * Math.max(...target.stds);
  const png = new PNG({ width: size, height: size });
  const toX = (v: number) => Math.round(((v + ext) / (2 * ext)) * (size - 1));
  const toY = (v: number) => Math.round(((ext - v) / (2 * ext)) * (size - 1));
  // background: exact log-density, clipped 12 nats below its maximum, white → blue
  const logp = new Float64Array(size * size);
  let mx = -Infinity;
  for (let py = 0; py < size; py++)
    for (let px = 0; px < size; px++) {
      const x = -ext + (2 * ext * px) / (size - 1);
      const y = ext - (2 * ext * py) / (size - 1);
      const v = gmmLogDensity(target, [x, y]);
      logp[py * size + px] = v;
      mx = Math.max(mx, v);
    }
  for (let i = 0; i < size * size; i++) {
    const a = Math.max(0, Math.min(1, 1 + (logp[i]! - mx) / 12));
    png.data[i * 4] = Math.round(255 - 190 * a);
    png.data[i * 4 + 1] = Math.round(255 - 120 * a);
    png.data[i * 4 + 2] = 255;
    png.data[i * 4 + 3] = 255;
  }
  const dot = (px: number, py: number) => {
    for (let dy = -1; dy <= 1; dy++)
      for (let dx = -1; dx <= 1; dx++) {
        const x = px + dx;
        const y = py + dy;
        if (x < 0 || y < 0 || x >= size || y >= size) continue;
        const i = (y * size + x) * 4;
        png.data[i] = 220;
        png.data[i + 1] = 40;
        png.data[i + 2] = 30;
      }
  };
  for (let i = 0; i + 1 < samples.length; i += 2) dot(toX(samples[i]!), toY(samples[i + 1]!));
  return PNG.sync.write(png);
}
