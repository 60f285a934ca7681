/** @file The live views, drawn on canvases: samples over a 2-D target's density, and line charts (log scale) with
 * optional dashed levels. Pure drawing from the page's state; called at most once per animation frame. */
import type { TargetPicture } from '../protocol.ts';

export const COLORS = ['#2957c4', '#e07b22', '#2a9d5b', '#b03a8c', '#7b6cd9', '#8c6d31', '#c0392b'];

export interface Frame {
  x0: number;
  x1: number;
  y0: number;
  y1: number;
}

/** the square that holds every component within 3.5σ */
export function frameOf(t: TargetPicture): Frame {
  const r = t.means.map((m, k) => [m[0]!, m[1]!, 3.5 * t.stds[k]!] as const);
  const x0 = Math.min(...r.map(([x, , s]) => x - s));
  const x1 = Math.max(...r.map(([x, , s]) => x + s));
  const y0 = Math.min(...r.map(([, y, s]) => y - s));
  const y1 = Math.max(...r.map(([, y, s]) => y + s));
  const c = [(x0 + x1) / 2, (y0 + y1) / 2];
  const h = Math.max(x1 - x0, y1 - y0) / 2;
  return { x0: c[0]! - h, x1: c[0]! + h, y0: c[1]! - h, y1: c[1]! + h };
}

/** the mixture's density as a grey image (darker: denser), once per target */
export function densityImage(ctx: CanvasRenderingContext2D, t: TargetPicture, f: Frame): ImageData {
  const { width: w, height: h } = ctx.canvas;
  const img = ctx.createImageData(w, h);
  const dens = new Float64Array(w * h);
  let max = 0;
  const total = t.weights.reduce((a, b) => a + b, 0);
  for (let j = 0; j < h; j++)
    for (let i = 0; i < w; i++) {
      const x = f.x0 + ((i + 0.5) / w) * (f.x1 - f.x0);
      const y = f.y1 - ((j + 0.5) / h) * (f.y1 - f.y0);
      let p = 0;
      for (let k = 0; k < t.means.length; k++) {
        const s2 = t.stds[k]! ** 2;
        const dx = x - t.means[k]![0]!;
        const dy = y - t.means[k]![1]!;
        p += (t.weights[k]! / total) * Math.exp(-(dx * dx + dy * dy) / (2 * s2)) / (2 * Math.PI * s2);
      }
      dens[j * w + i] = p;
      max = Math.max(max, p);
    }
  for (let q = 0; q < w * h; q++) {
    const v = Math.round(255 - 110 * Math.sqrt(dens[q]! / max));
    img.data.set([v, v, Math.min(255, v + 6), 255], q * 4);
  }
  return img;
}

/** samples ([n, d] row-major, the first two coordinates) as dots over the background */
export function drawSamples(ctx: CanvasRenderingContext2D, bg: ImageData | undefined, f: Frame, layers: { samples: Float32Array; d: number; color: string }[]): void {
  const { width: w, height: h } = ctx.canvas;
  if (bg) ctx.putImageData(bg, 0, 0);
  else ctx.clearRect(0, 0, w, h);
  for (const l of layers) {
    ctx.fillStyle = l.color;
    ctx.globalAlpha = 0.55;
    for (let r = 0; r + 1 < l.samples.length; r += l.d) {
      const x = ((l.samples[r]! - f.x0) / (f.x1 - f.x0)) * w;
      const y = ((f.y1 - l.samples[r + 1]!) / (f.y1 - f.y0)) * h;
      if (x >= -2 && x <= w + 2 && y >= -2 && y <= h + 2) ctx.fillRect(x - 1.5, y - 1.5, 3, 3);
    }
  }
  ctx.globalAlpha = 1;
}

export interface Line {
  name: string;
  points: [number, number][];
  color: string;
}

/** line charts on a log y axis (non-positive values dropped), x from 0 to `xMax`; `levels` are dashed lines */
export function drawLines(ctx: CanvasRenderingContext2D, lines: Line[], xMax: number, levels: { name: string; y: number }[] = []): void {
  const { width: w, height: h } = ctx.canvas;
  // canvases are drawn at twice their displayed size: fonts and lines scale with the width
  const u = Math.max(1, Math.min(w / 280, h / 165));
  const pad = { l: 40 * u, r: 6 * u, t: 16 * u, b: 14 * u };
  ctx.clearRect(0, 0, w, h);
  ctx.font = `${Math.round(10 * u)}px system-ui, sans-serif`;
  ctx.lineWidth = u;
  const ys = [...lines.flatMap((l) => l.points.map((p) => p[1])), ...levels.map((l) => l.y)].filter((v) => v > 0 && Number.isFinite(v));
  if (!ys.length) {
    ctx.fillStyle = '#8a93a4';
    ctx.fillText('no values yet', pad.l, h / 2);
    return;
  }
  let lo = Math.log10(Math.min(...ys));
  let hi = Math.log10(Math.max(...ys));
  if (hi - lo < 0.5) (lo -= 0.25), (hi += 0.25);
  const X = (x: number) => pad.l + (x / Math.max(xMax, 1)) * (w - pad.l - pad.r);
  const Y = (y: number) => pad.t + ((hi - Math.log10(y)) / (hi - lo)) * (h - pad.t - pad.b);
  ctx.strokeStyle = '#e3e6ec';
  ctx.fillStyle = '#5a6477';
  for (let e = Math.ceil(lo); e <= Math.floor(hi); e++) {
    ctx.beginPath();
    ctx.moveTo(pad.l, Y(10 ** e));
    ctx.lineTo(w - pad.r, Y(10 ** e));
    ctx.stroke();
    ctx.fillText(`1e${e}`, 4, Y(10 ** e) + 3 * u);
  }
  ctx.fillText(String(xMax), w - pad.r - ctx.measureText(String(xMax)).width, h - 3 * u);
  ctx.fillText('0', pad.l, h - 3 * u);
  ctx.setLineDash([4 * u, 3 * u]);
  for (const l of levels) {
    ctx.strokeStyle = '#9aa3b3';
    ctx.beginPath();
    ctx.moveTo(pad.l, Y(l.y));
    ctx.lineTo(w - pad.r, Y(l.y));
    ctx.stroke();
    ctx.fillText(l.name, w - pad.r - ctx.measureText(l.name).width, Y(l.y) - 2 * u);
  }
  ctx.setLineDash([]);
  lines.forEach((l, i) => {
    ctx.strokeStyle = l.color;
    ctx.fillStyle = l.color;
    ctx.beginPath();
    let started = false;
    for (const [x, y] of l.points) {
      if (!(y > 0) || !Number.isFinite(y)) continue;
      if (started) ctx.lineTo(X(x), Y(y));
      else ctx.moveTo(X(x), Y(y)), (started = true);
    }
    ctx.stroke();
    if (l.points.length === 1 || lines.length === 1) for (const [x, y] of l.points) if (y > 0) ctx.fillRect(X(x) - 2 * u, Y(y) - 2 * u, 4 * u, 4 * u);
    ctx.fillText(l.name, pad.l + i * 75 * u, pad.t - 4 * u);
  });
}
