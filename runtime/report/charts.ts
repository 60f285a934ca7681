/** @file Charts with Vega-Lite: specs compiled and rendered headless to SVG (vega's SVG renderer needs no canvas),
 * then rasterised to PNG by resvg with the DejaVu Sans font shipped in an npm package (no system fonts needed). */
import { createRequire } from 'node:module';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { Resvg } from '@resvg/resvg-js';

const require = createRequire(import.meta.url);
const FONT = require.resolve('dejavu-fonts-ttf/ttf/DejaVuSans.ttf');

export interface Chart {
  svg: string;
  png: Uint8Array;
}

/** Render a Vega-Lite spec to SVG and PNG (PNG at `scale`× the SVG's size). */
export async function renderChart(spec: TopLevelSpec, scale = 2): Promise<Chart> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  const png = new Resvg(svg, {
    fitTo: { mode: 'zoom', value: scale },
    background: 'white',
    font: { fontFiles: [FONT], loadSystemFonts: false, defaultFontFamily: 'DejaVu Sans', sansSerifFamily: 'DejaVu Sans' },
  })
    .render()
    .asPng();
  return { svg, png };
}

export interface Series {
  name: string;
  points: { x: number; y: number }[];
}

/** at most `max` points per series, evenly spaced, the last one kept */
function thin<T>(xs: T[], max = 600): T[] {
  if (xs.length <= max) return xs;
  const k = Math.ceil(xs.length / max);
  const out = xs.filter((_, i) => i % k === 0);
  if (out[out.length - 1] !== xs[xs.length - 1]) out.push(xs[xs.length - 1]!);
  return out;
}

/** One line chart per series, stacked, each with its own y scale (losses of different roles differ in scale). */
export function panels(title: string, series: Series[], o: { x?: string; y?: string; log?: boolean } = {}): TopLevelSpec {
  const values = series.flatMap((s) => thin(s.points.filter((p) => Number.isFinite(p.y) && (!o.log || p.y > 0))).map((p) => ({ series: s.name, x: p.x, y: p.y })));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    data: { values },
    facet: { row: { field: 'series', type: 'nominal', title: null } },
    spec: {
      width: 520,
      height: 140,
      mark: { type: 'line', strokeWidth: 1.2 },
      encoding: {
        x: { field: 'x', type: 'quantitative', title: o.x ?? 'step' },
        y: { field: 'y', type: 'quantitative', title: o.y ?? null, scale: o.log ? { type: 'log' } : { zero: false } },
        color: { field: 'series', type: 'nominal', legend: null },
      },
    },
    resolve: { scale: { y: 'independent' } },
  } as TopLevelSpec;
}

/** Several series on one chart (log y optional), with a legend. */
export function overlay(title: string, series: Series[], o: { x?: string; y?: string; log?: boolean; points?: boolean } = {}): TopLevelSpec {
  const values = series.flatMap((s) => thin(s.points.filter((p) => Number.isFinite(p.y) && (!o.log || p.y > 0))).map((p) => ({ series: s.name, x: p.x, y: p.y })));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    width: 520,
    height: 240,
    data: { values },
    mark: { type: 'line', point: o.points ?? false, strokeWidth: 1.5 },
    encoding: {
      x: { field: 'x', type: 'quantitative', title: o.x ?? 'step' },
      y: { field: 'y', type: 'quantitative', title: o.y ?? null, scale: o.log ? { type: 'log' } : { zero: false } },
      color: { field: 'series', type: 'nominal', title: null, legend: { labelLimit: 320 } },
    },
  } as TopLevelSpec;
}

export interface ModeMass {
  /** each mode's weight as a share of the total */
  weights: number[];
  /** per sampler: its name, each mode's share of its on-mode samples, and its off-mode fraction */
  samplers: { name: string; shares: number[]; offMode: number }[];
}

/**
 * Per-mode mass as grouped bars: the target's weight share and each sampler's share of its on-mode samples, with a
 * grey band from ½ to 2× the weight share (within a factor 2), its ends drawn as ticks; beside it, each sampler's
 * off-mode fraction.
 */
export function modeMassChart(title: string, m: ModeMass): TopLevelSpec {
  const K = m.weights.length;
  const series = ['target weight', ...m.samplers.map((s) => s.name)];
  const color = { field: 'series', type: 'nominal', title: null, scale: { domain: series, range: ['#9e9e9e', '#dc281e', '#191919', '#1f77b4'].slice(0, series.length) }, sort: series, legend: { orient: 'bottom', labelLimit: 320 } };
  const mode = { field: 'mode', type: 'ordinal', title: 'mode', sort: null };
  const bars = [
    ...m.weights.map((w, k) => ({ mode: k, series: 'target weight', share: w })),
    ...m.samplers.flatMap((s) => s.shares.map((v, k) => ({ mode: k, series: s.name, share: v }))),
  ];
  const band = m.weights.map((w, k) => ({ mode: k, lo: w / 2, hi: 2 * w }));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v5.json',
    title,
    hconcat: [
      {
        width: Math.min(700, Math.max(240, K * 26)),
        height: 220,
        layer: [
          { data: { values: band }, mark: { type: 'bar', color: '#e8e8e8', width: { band: 0.9 } }, encoding: { x: mode, y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' } } },
          {
            data: { values: bars },
            mark: { type: 'bar' },
            encoding: { x: mode, xOffset: { field: 'series', sort: series }, y: { field: 'share', type: 'quantitative', title: 'share of the on-mode samples' }, color },
          },
          // the band's ends drawn over the bars, so that the lower one shows where a bar falls short of it
          ...['lo', 'hi'].map((f) => ({ data: { values: band }, mark: { type: 'tick', color: '#555', thickness: 1.5, bandSize: 0.9 }, encoding: { x: mode, y: { field: f, type: 'quantitative' } } })),
        ],
      },
      {
        width: 30 * m.samplers.length,
        height: 220,
        data: { values: m.samplers.map((s) => ({ series: s.name, off: s.offMode })) },
        mark: { type: 'bar' },
        encoding: {
          x: { field: 'series', type: 'nominal', sort: series, title: 'off-mode', axis: { labels: false, ticks: false } },
          y: { field: 'off', type: 'quantitative', title: 'share of all samples', scale: { domain: [0, 1] } },
          color,
        },
      },
    ],
  } as TopLevelSpec;
}
