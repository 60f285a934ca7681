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
