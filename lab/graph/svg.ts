/** @file The objective as a picture: the collapsed graph (collapse.ts) laid out in layers (layout.ts) and drawn as
 * one standalone SVG string, coloured by role, the no-gradient region shaded, with a legend. Pure: runs in a
 * browser page and in Node alike. */
import type { GraphIR } from '../../dsl/ir/schema.ts';
import type { Plan } from '../../dsl/compile/plan.ts';
import { collapseIR, type GraphKind, type GraphNode } from './collapse.ts';
import { layeredLayout, type Point } from './layout.ts';

const STYLE: Record<GraphKind, { fill: string; stroke: string; text: string; legend: string }> = {
  noise: { fill: '#eeeeee', stroke: '#8c8c8c', text: '#333', legend: 'noise' },
  data: { fill: '#d5ecd4', stroke: '#4f8f4f', text: '#1d3d1d', legend: 'data / class labels' },
  student: { fill: '#cfe0fb', stroke: '#2f67c4', text: '#0f2a57', legend: 'student (trained)' },
  teacher: { fill: '#ddd3ee', stroke: '#6a4fa0', text: '#2e1f4d', legend: 'teacher (frozen)' },
  fake: { fill: '#fddcb9', stroke: '#cc7020', text: '#5a2e05', legend: 'fake score / critic (trained)' },
  head: { fill: '#fbeea6', stroke: '#ad8f00', text: '#4a3d00', legend: 'GAN head (trained)' },
  reward: { fill: '#f6c9c6', stroke: '#bf3a30', text: '#571510', legend: 'reward / gate (frozen)' },
  stop: { fill: '#ffffff', stroke: '#555555', text: '#333', legend: 'stop-gradient' },
  value: { fill: '#fbf8ec', stroke: '#a09a80', text: '#333', legend: 'named value / loss term' },
  loss: { fill: '#3a3a3a', stroke: '#111111', text: '#ffffff', legend: 'loss (→ the role it trains)' },
  eval: { fill: '#ffffff', stroke: '#2f67c4', text: '#0f2a57', legend: 'evaluated samples' },
};
/** edge colours: the models' flow, what noise and data feed, what flows inside the no-gradient region */
const TONE = { dark: '#505050', light: '#b4b4b4', nograd: '#9088b4' } as const;
const MODEL_KINDS = new Set<GraphKind>(['student', 'teacher', 'fake', 'head', 'reward']);
const LEGEND_ORDER: GraphKind[] = ['noise', 'data', 'student', 'teacher', 'fake', 'head', 'reward', 'value', 'stop', 'loss', 'eval'];

const FONT = 'DejaVu Sans, Verdana, Arial, sans-serif';
const LABEL = 13;
const DETAIL = 10.5;
const PAD = 7; // the no-gradient shade around a node

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
/** an estimate of the text's width in DejaVu Sans (no font metrics in a pure function) */
const textWidth = (s: string, size: number, bold = false) => [...s].length * size * (bold ? 0.66 : 0.6);
const f = (v: number) => +v.toFixed(1);

/** the second line drawn under the label: a noise law goes to the tooltip, the label says enough */
const shown = (n: GraphNode) => (n.kind === 'noise' ? undefined : n.detail);

function size(n: GraphNode): { width: number; height: number } {
  if (n.kind === 'stop') return { width: textWidth(n.label, 11) + 16, height: 20 };
  if (n.kind === 'noise') return { width: Math.max(40, textWidth(n.label, LABEL, true) + 20), height: 26 };
  const w = Math.max(textWidth(n.label, LABEL, true), n.detail ? textWidth(n.detail, DETAIL) : 0) + 22;
  return { width: Math.max(70, w), height: n.detail ? 38 : 26 };
}

/** the mark of a node that reads a condition (its name) */
const badge = (x: number, y: number, name: string) =>
  `<circle cx="${f(x)}" cy="${f(y)}" r="7" fill="${STYLE.data.fill}" stroke="${STYLE.data.stroke}"/><text x="${f(x)}" y="${f(y + 3.5)}" font-size="10" text-anchor="middle" fill="${STYLE.data.text}">${esc(name)}</text>`;

/** a path through `pts` with vertical tangents at each point (smooth through the dummies of a long edge) */
function curve(pts: Point[]): string {
  let d = `M${f(pts[0]!.x)},${f(pts[0]!.y)}`;
  for (let i = 1; i < pts.length; i++) {
    const a = pts[i - 1]!;
    const b = pts[i]!;
    const dy = (b.y - a.y) / 2;
    d += ` C${f(a.x)},${f(a.y + dy)} ${f(b.x)},${f(b.y - dy)} ${f(b.x)},${f(b.y)}`;
  }
  return d;
}

/** The objective of `ir` as a standalone SVG document (width and height in px, a viewBox to scale it). `plan`
 * (compile(ir)): each loss also gives its update's working set. */
export function graphSvg(ir: GraphIR, o: { plan?: Plan } = {}): string {
  const g = collapseIR(ir, o);
  const byId = new Map(g.nodes.map((n) => [n.id, n]));
  // a condition's edges reach nearly every node: its readers wear a badge instead
  const conditioned = new Map<string, string>();
  for (const e of g.edges) if (byId.get(e.from)!.condition) conditioned.set(e.to, byId.get(e.from)!.label.split(' ').pop()!);
  // a loss (or stop-gradient) reads masks and weights made from the noise and data too: those edges are left out,
  // so that what noise and data feed reads as the models' inputs
  const source = (id: string) => ['noise', 'data'].includes(byId.get(id)!.kind);
  const edges = g.edges.filter((e) => !byId.get(e.from)!.condition && !(source(e.from) && ['loss', 'stop'].includes(byId.get(e.to)!.kind)));
  const drawn = new Set(edges.flatMap((e) => [e.from, e.to]));
  const nodes = g.nodes.filter((n) => !source(n.id) || n.condition || drawn.has(n.id));
  const lay = layeredLayout(
    nodes.map((n) => ({ id: n.id, ...size(n) })),
    edges,
    { nodeGap: 20, layerGap: 54, margin: PAD + 6 },
  );
  // ids local to this picture, so that several pictures can share a page
  const uid = `g${[...ir.name].reduce((h, c) => (h * 31 + c.charCodeAt(0)) >>> 0, 7).toString(36)}`;

  const kinds = LEGEND_ORDER.filter((k) => nodes.some((n) => n.kind === k));
  const legendItems = [...kinds.map((k) => ({ k: k as GraphKind | 'nograd', text: STYLE[k].legend })), ...(nodes.some((n) => n.noGrad) ? [{ k: 'nograd' as const, text: 'no gradient (g.noGrad, stop-gradient)' }] : []),
    ...(conditioned.size ? [{ k: 'cond' as const, text: 'reads the class label' }] : [])];
  const itemW = (t: string) => 26 + textWidth(t, 11) + 16;
  const titleH = 44;
  const minWidth = 640;
  const width = Math.max(minWidth, lay.width);
  // the legend wraps in rows under the graph
  const rows: (typeof legendItems)[] = [[]];
  let rowW = 0;
  for (const it of legendItems) {
    if (rowW + itemW(it.text) > width - 24 && rows[rows.length - 1]!.length) {
      rows.push([]);
      rowW = 0;
    }
    rows[rows.length - 1]!.push(it);
    rowW += itemW(it.text);
  }
  const legendTop = titleH + lay.height + 10;
  const height = legendTop + rows.length * 22 + 12;
  const dx = (width - lay.width) / 2;
  const at = (p: Point): Point => ({ x: p.x + dx, y: p.y + titleH });

  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${f(width)}" height="${f(height)}" viewBox="0 0 ${f(width)} ${f(height)}" font-family="${FONT}">`,
    `<title>${esc(ir.name)}: objective graph</title>`,
    '<defs>',
    `<pattern id="${uid}-ng" patternUnits="userSpaceOnUse" width="8" height="8" patternTransform="rotate(45)"><rect width="8" height="8" fill="#e9e7f1"/><rect width="3" height="8" fill="#d9d5e8"/></pattern>`,
    ...(['dark', 'light', 'nograd'] as const).map(
      (t) => `<marker id="${uid}-${t}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,1 L10,5 L0,9 z" fill="${TONE[t]}"/></marker>`,
    ),
    '</defs>',
    `<rect width="100%" height="100%" fill="#ffffff"/>`,
  );
  const updates = [...ir.updates].filter((u) => u.ratio > 0).map((u) => `${u.role} ×${u.ratio}`);
  out.push(`<text x="12" y="20" font-size="15" font-weight="bold" fill="#222">${esc(ir.name)}</text>`);
  out.push(`<text x="12" y="36" font-size="11" fill="#666">${esc(`per step: ${updates.join(', ') || 'no update'}`)}</text>`);

  // the no-gradient region: a shaded pad under each such node; edges inside it are drawn in its colour
  const shade: string[] = [];
  for (const n of nodes) {
    if (!n.noGrad) continue;
    const p = lay.nodes.get(n.id)!;
    const c = at(p);
    shade.push(`<rect x="${f(c.x - p.width / 2 - PAD)}" y="${f(c.y - p.height / 2 - PAD)}" width="${f(p.width + 2 * PAD)}" height="${f(p.height + 2 * PAD)}" rx="10" fill="url(#${uid}-ng)"/>`);
  }
  out.push(`<g class="nograd">`, ...shade, `</g>`);

  // edges; those from noise and data are lighter, so the models' flow reads first
  out.push('<g class="edges" fill="none">');
  const labels: string[] = [];
  const named = new Set<string>();
  // where text may not go: the nodes, then each label placed
  const taken = nodes.map((n) => {
    const p = lay.nodes.get(n.id)!;
    const c = at(p);
    return { x0: c.x - p.width / 2, x1: c.x + p.width / 2, y0: c.y - p.height / 2, y1: c.y + p.height / 2 };
  });
  for (const r of lay.routes) {
    const src = byId.get(r.from)!;
    const light = src.kind === 'noise' || src.kind === 'data';
    const inside = src.noGrad && byId.get(r.to)!.noGrad;
    const tone = light ? 'light' : inside ? 'nograd' : 'dark';
    const pts = r.points.map(at);
    out.push(`<path d="${curve(pts)}" stroke="${TONE[tone]}" stroke-width="${light ? 1 : 1.4}" marker-end="url(#${uid}-${tone})"/>`);
    const via = edges.find((e) => e.from === r.from && e.to === r.to)?.via;
    const to = byId.get(r.to)!;
    const text = via?.join(', ');
    // only edges into a model call are named (what its input went through), once per reader and name
    if (!light && text && MODEL_KINDS.has(to.kind) && !named.has(`${r.to}\u0000${text}`)) {
      named.add(`${r.to}\u0000${text}`);
      // two thirds down the last stretch, near the reader, where the edges from one node have parted
      const a = pts[pts.length - 2]!;
      const b = pts[pts.length - 1]!;
      const t = 0.62;
      const m = { x: a.x + (b.x - a.x) * (3 * t * t - 2 * t * t * t), y: a.y + (b.y - a.y) * t };
      // a label that would overprint a node or another label moves a line up or down, or is left out
      const w = textWidth(text, 10);
      const box = (y: number) => ({ x0: m.x + 5, x1: m.x + 5 + w, y0: y - 9, y1: y + 3 });
      const free = (y: number) => !taken.some((o) => box(y).x0 < o.x1 && o.x0 < box(y).x1 && box(y).y0 < o.y1 && o.y0 < box(y).y1);
      const y = [m.y, m.y - 11, m.y + 11].find(free);
      if (y === undefined) continue;
      m.y = y;
      taken.push(box(y));
      labels.push(`<text x="${f(m.x + 5)}" y="${f(m.y + 3)}" font-size="10" font-style="italic" fill="#555" stroke="#fff" stroke-width="3" paint-order="stroke">${esc(text)}</text>`);
    }
  }
  out.push('</g>', '<g class="edge-labels">', ...labels, '</g>');

  // nodes
  out.push('<g class="nodes">');
  for (const n of nodes) {
    const p = lay.nodes.get(n.id)!;
    const c = at(p);
    const s = STYLE[n.kind];
    const x = f(c.x - p.width / 2);
    const y = f(c.y - p.height / 2);
    const rx = n.kind === 'noise' || n.kind === 'data' || n.kind === 'stop' ? p.height / 2 : n.kind === 'loss' ? 3 : 7;
    const dash = n.kind === 'stop' || n.kind === 'eval' ? ' stroke-dasharray="4 3"' : '';
    const tip = [n.kind === 'loss' || !n.role ? n.kind : `${n.kind}: ${n.role}`, ...(n.kind === 'noise' && n.detail ? [n.detail] : []), n.id, ...(n.at ? [n.at] : []), ...(n.noGrad ? ['no gradient'] : [])].join(' · ');
    out.push(`<g class="node ${n.kind}${n.noGrad ? ' nograd' : ''}"><title>${esc(tip)}</title>`);
    out.push(`<rect x="${x}" y="${y}" width="${f(p.width)}" height="${f(p.height)}" rx="${f(rx)}" fill="${s.fill}" stroke="${s.stroke}" stroke-width="${n.kind === 'loss' ? 1 : 1.5}"${dash}/>`);
    if (n.kind === 'stop') out.push(`<text x="${f(c.x)}" y="${f(c.y + 4)}" font-size="11" text-anchor="middle" fill="${s.text}">${esc(n.label)}</text>`);
    else if (shown(n)) {
      out.push(`<text x="${f(c.x)}" y="${f(c.y - 3)}" font-size="${LABEL}" font-weight="bold" text-anchor="middle" fill="${s.text}">${esc(n.label)}</text>`);
      out.push(`<text x="${f(c.x)}" y="${f(c.y + 12)}" font-size="${DETAIL}" text-anchor="middle" fill="${s.text}" fill-opacity="0.8">${esc(shown(n)!)}</text>`);
    } else out.push(`<text x="${f(c.x)}" y="${f(c.y + 4.5)}" font-size="${LABEL}" font-weight="bold" text-anchor="middle" fill="${s.text}">${esc(n.label)}</text>`);
    const cond = conditioned.get(n.id);
    if (cond) out.push(badge(c.x + p.width / 2 - 2, c.y - p.height / 2 + 2, cond));
    out.push('</g>');
  }
  out.push('</g>');

  // legend
  out.push('<g class="legend">');
  rows.forEach((row, ri) => {
    let lx = 12;
    const ly = legendTop + ri * 22;
    for (const it of row) {
      if (it.k === 'nograd') out.push(`<rect x="${lx}" y="${ly}" width="20" height="14" rx="3" fill="url(#${uid}-ng)"/>`);
      else if (it.k === 'cond') out.push(badge(lx + 10, ly + 7, 'c'));
      else {
        const s = STYLE[it.k];
        out.push(`<rect x="${lx}" y="${ly}" width="20" height="14" rx="3" fill="${s.fill}" stroke="${s.stroke}" stroke-width="1.2"${it.k === 'stop' || it.k === 'eval' ? ' stroke-dasharray="3 2"' : ''}/>`);
      }
      out.push(`<text x="${lx + 26}" y="${ly + 11}" font-size="11" fill="#333">${esc(it.text)}</text>`);
      lx += itemW(it.text);
    }
  });
  out.push('</g>', '</svg>');
  return out.join('\n');
}
