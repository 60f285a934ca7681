/** @file PNG scatter of 2-D samples over the target's exact density (log scale), drawn with pngjs. */
import { PNG } from 'pngjs';
import type { GmmSpec } from '../../dsl/ir/schema.ts';
import { gmmLogDensity } from '../../ops/datasets.ts';

/** the teacher's samples' colour (the student's are red) */
export const TEACHER_COLOR = [25, 25, 25] as const;

export function scatterOverDensity(
  target: GmmSpec,
  samples: Float32Array,
  o: { size?: number; extent?: number; circles?: { center: readonly number[]; radius: number }[]; colors?: (i: number) => readonly [number, number, number] } = {},
): Buffer {
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
  const dot = (px: number, py: number, rgb: readonly [number, number, number]) => {
    for (let dy = -1; dy <= 1; dy++)
      for (let dx = -1; dx <= 1; dx++) {
        const x = px + dx;
        const y = py + dy;
        if (x < 0 || y < 0 || x >= size || y >= size) continue;
        const i = (y * size + x) * 4;
        png.data[i] = rgb[0];
        png.data[i + 1] = rgb[1];
        png.data[i + 2] = rgb[2];
      }
  };
  for (let i = 0; i + 1 < samples.length; i += 2) dot(toX(samples[i]!), toY(samples[i + 1]!), o.colors?.(i / 2) ?? [220, 40, 30]);
  for (const c of o.circles ?? [])
    for (let a = 0; a < 2000; a++) {
      const th = (2 * Math.PI * a) / 2000;
      const x = toX(c.center[0]! + c.radius * Math.cos(th));
      const y = toY(c.center[1]! + c.radius * Math.sin(th));
      if (x >= 0 && y >= 0 && x < size && y < size) png.data.set([0, 0, 0, 255], (y * size + x) * 4);
    }
  return PNG.sync.write(png);
}

/** Line chart of several series on shared axes (x from 0 to the largest x, y from 0 to `yMax`), with a light grid. */
export function lineChart(series: { color: readonly [number, number, number]; points: [number, number][] }[], o: { yMax: number; width?: number; height?: number }): Buffer {
  const W = o.width ?? 640;
  const H = o.height ?? 400;
  const png = new PNG({ width: W, height: H });
  png.data.fill(255);
  const xMax = Math.max(1, ...series.flatMap((s) => s.points.map((p) => p[0])));
  const pad = 30;
  const toX = (v: number) => Math.round(pad + (v / xMax) * (W - 2 * pad));
  const toY = (v: number) => Math.round(H - pad - (Math.min(Math.max(v, 0), o.yMax) / o.yMax) * (H - 2 * pad));
  const put = (x: number, y: number, rgb: readonly number[]) => {
    if (x >= 0 && y >= 0 && x < W && y < H) png.data.set([rgb[0]!, rgb[1]!, rgb[2]!, 255], (y * W + x) * 4);
  };
  for (let k = 0; k <= 10; k++) {
    for (let x = pad; x <= W - pad; x++) put(x, toY((k / 10) * o.yMax), k === 0 ? [0, 0, 0] : [225, 225, 225]);
    for (let y = pad; y <= H - pad; y++) put(toX((k / 10) * xMax), y, k === 0 ? [0, 0, 0] : [225, 225, 225]);
  }
  for (const s of series)
    for (let i = 0; i + 1 < s.points.length; i++) {
      const [x0, y0] = [toX(s.points[i]![0]), toY(s.points[i]![1])];
      const [x1, y1] = [toX(s.points[i + 1]![0]), toY(s.points[i + 1]![1])];
      const n = Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0), 1);
      for (let k = 0; k <= n; k++)
        for (const d of [-1, 0, 1]) put(Math.round(x0 + ((x1 - x0) * k) / n), Math.round(y0 + ((y1 - y0) * k) / n) + d, s.color);
    }
  return PNG.sync.write(png);
}
