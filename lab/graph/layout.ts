/** @file A small layered (Sugiyama) layout, top to bottom: longest-path layers with sources pulled down next to
 * their first reader, dummy nodes on long edges, barycentre sweeps against crossings, then x positions pulled
 * toward neighbours under a minimum spacing. Pure; sizes in user units. */

export interface Box {
  id: string;
  width: number;
  height: number;
}
export interface Placed extends Box {
  /** centre */
  x: number;
  y: number;
  layer: number;
}
export interface Point {
  x: number;
  y: number;
}
export interface Route {
  from: string;
  to: string;
  /** from the bottom of `from` through the long edge's dummies to the top of `to` */
  points: Point[];
}
export interface Layout {
  nodes: Map<string, Placed>;
  routes: Route[];
  width: number;
  height: number;
}

const DUMMY = '\u0000d';

export function layeredLayout(boxes: Box[], edges: { from: string; to: string }[], o: { nodeGap?: number; layerGap?: number; margin?: number } = {}): Layout {
  const nodeGap = o.nodeGap ?? 24;
  const layerGap = o.layerGap ?? 48;
  const margin = o.margin ?? 16;
  const ids = boxes.map((b) => b.id);
  const known = new Set(ids);
  const es = edges.filter((e) => known.has(e.from) && known.has(e.to) && e.from !== e.to);
  const preds = new Map(ids.map((id) => [id, [] as string[]]));
  const succs = new Map(ids.map((id) => [id, [] as string[]]));
  for (const e of es) {
    preds.get(e.to)!.push(e.from);
    succs.get(e.from)!.push(e.to);
  }

  // longest path from the sources (Kahn order; a node on a cycle, which a DAG never has, stays at layer 0)
  const layer = new Map(ids.map((id) => [id, 0]));
  const indeg = new Map(ids.map((id) => [id, preds.get(id)!.length]));
  const queue = ids.filter((id) => indeg.get(id) === 0);
  for (let k = 0; k < queue.length; k++) {
    const id = queue[k]!;
    for (const s of succs.get(id)!) {
      layer.set(s, Math.max(layer.get(s)!, layer.get(id)! + 1));
      indeg.set(s, indeg.get(s)! - 1);
      if (indeg.get(s) === 0) queue.push(s);
    }
  }
  // a source sits just above its first reader, not at the top with every other source
  for (const id of ids)
    if (!preds.get(id)!.length && succs.get(id)!.length) layer.set(id, Math.max(0, Math.min(...succs.get(id)!.map((s) => layer.get(s)!)) - 1));

  // long edges become chains of dummies, one per layer crossed
  const width = new Map(boxes.map((b) => [b.id, b.width]));
  const height = new Map(boxes.map((b) => [b.id, b.height]));
  const up = new Map(ids.map((id) => [id, [] as string[]]));
  const down = new Map(ids.map((id) => [id, [] as string[]]));
  const chains: { from: string; to: string; via: string[] }[] = [];
  let nd = 0;
  for (const e of es) {
    const via: string[] = [];
    let prev = e.from;
    for (let l = layer.get(e.from)! + 1; l < layer.get(e.to)!; l++) {
      const d = `${DUMMY}${nd++}`;
      layer.set(d, l);
      width.set(d, 4);
      height.set(d, 0);
      up.set(d, [prev]);
      down.set(d, []);
      down.get(prev)!.push(d);
      via.push(d);
      prev = d;
    }
    down.get(prev)!.push(e.to);
    up.get(e.to)!.push(prev);
    chains.push({ ...e, via });
  }
  const nLayers = Math.max(0, ...layer.values()) + 1;
  let layers: string[][] = Array.from({ length: nLayers }, () => []);
  for (const [id, l] of layer) layers[l]!.push(id);

  // barycentre sweeps, down then up, keeping the order with the fewest crossings
  const crossings = (ls: string[][]) => {
    let c = 0;
    for (let l = 0; l + 1 < ls.length; l++) {
      const pos = new Map(ls[l + 1]!.map((id, i) => [id, i]));
      const segs = ls[l]!.flatMap((id, i) => down.get(id)!.map((t) => [i, pos.get(t)!] as const));
      for (let a = 0; a < segs.length; a++) for (let b = a + 1; b < segs.length; b++) if ((segs[a]![0] - segs[b]![0]) * (segs[a]![1] - segs[b]![1]) < 0) c++;
    }
    return c;
  };
  let best = layers.map((l) => [...l]);
  let bestC = crossings(best);
  for (let it = 0; it < 24 && bestC > 0; it++) {
    const goingDown = it % 2 === 0;
    const order = goingDown ? layers.map((_, l) => l).slice(1) : layers.map((_, l) => l).reverse().slice(1);
    for (const l of order) {
      const ref = layers[goingDown ? l - 1 : l + 1]!;
      const pos = new Map(ref.map((id, i) => [id, i]));
      const key = new Map(
        layers[l]!.map((id, i) => {
          const ns = (goingDown ? up : down).get(id)!.filter((n) => pos.has(n));
          return [id, ns.length ? ns.reduce((a, n) => a + pos.get(n)!, 0) / ns.length : i];
        }),
      );
      layers[l] = [...layers[l]!].sort((a, b) => key.get(a)! - key.get(b)!);
    }
    const c = crossings(layers);
    if (c < bestC) [best, bestC] = [layers.map((x) => [...x]), c];
  }
  layers = best;

  // x: packed, then pulled toward the mean of each node's neighbours; the spacing holds by averaging a
  // left-packed and a right-packed placement of the wished positions
  const x = new Map<string, number>();
  for (const ls of layers) {
    let at = 0;
    ls.forEach((id, i) => {
      if (i) at += (width.get(ls[i - 1]!)! + width.get(id)!) / 2 + nodeGap;
      x.set(id, at);
    });
  }
  const sep = (a: string, b: string) => (width.get(a)! + width.get(b)!) / 2 + (a.startsWith(DUMMY) && b.startsWith(DUMMY) ? 8 : nodeGap);
  for (let it = 0; it < 30; it++) {
    for (const ls of it % 2 ? [...layers].reverse() : layers) {
      const wish = ls.map((id) => {
        const ns = [...up.get(id)!, ...down.get(id)!];
        // dummies pull harder on each other so long edges run straight
        const w = ns.map((n) => (id.startsWith(DUMMY) && n.startsWith(DUMMY) ? 4 : 1));
        return ns.length ? ns.reduce((a, n, i) => a + w[i]! * x.get(n)!, 0) / w.reduce((a, b) => a + b, 0) : x.get(id)!;
      });
      const left = [...wish];
      for (let i = 1; i < ls.length; i++) left[i] = Math.max(left[i]!, left[i - 1]! + sep(ls[i - 1]!, ls[i]!));
      const right = [...wish];
      for (let i = ls.length - 2; i >= 0; i--) right[i] = Math.min(right[i]!, right[i + 1]! - sep(ls[i]!, ls[i + 1]!));
      ls.forEach((id, i) => x.set(id, (left[i]! + right[i]!) / 2));
    }
  }
  // empty vertical strips wider than the spacing (left between parts the pulls drew apart) are closed up
  const spans = [...x].map(([id, v]) => [v - width.get(id)! / 2, v + width.get(id)! / 2] as const).sort((a, b) => a[0] - b[0]);
  const cuts: { at: number; by: number }[] = [];
  let reach = spans[0]?.[1] ?? 0;
  for (const [a, b] of spans) {
    if (a - reach > 2 * nodeGap) cuts.push({ at: a, by: a - reach - 2 * nodeGap });
    reach = Math.max(reach, b);
  }
  for (const [id, v] of x) x.set(id, v - cuts.filter((c) => c.at <= v).reduce((t, c) => t + c.by, 0));
  const minX = Math.min(...[...x].map(([id, v]) => v - width.get(id)! / 2));
  const maxX = Math.max(...[...x].map(([id, v]) => v + width.get(id)! / 2));

  const nodes = new Map<string, Placed>();
  const yOf = new Map<string, number>();
  let top = margin;
  for (const ls of layers) {
    const h = Math.max(0, ...ls.map((id) => height.get(id)!));
    for (const id of ls) yOf.set(id, top + h / 2);
    top += h + layerGap;
  }
  for (const b of boxes) nodes.set(b.id, { ...b, x: x.get(b.id)! - minX + margin, y: yOf.get(b.id)!, layer: layer.get(b.id)! });
  const at = (id: string): Point => ({ x: x.get(id)! - minX + margin, y: yOf.get(id)! });

  // ports: a node's edges leave (and arrive) spread over its width, in the order of where they go (come from)
  const spread = (id: string, others: string[]) => {
    const w = Math.min(width.get(id)! * 0.6, 14 * (others.length - 1));
    const sorted = [...others].sort((a, b) => x.get(a)! - x.get(b)!);
    return new Map(sorted.map((o, i) => [o, sorted.length > 1 ? -w / 2 + (w * i) / (sorted.length - 1) : 0]));
  };
  const outPort = new Map(ids.map((id) => [id, spread(id, down.get(id)!)]));
  const inPort = new Map(ids.map((id) => [id, spread(id, up.get(id)!)]));
  const routes = chains.map((c): Route => {
    const first = c.via[0] ?? c.to;
    const last = c.via[c.via.length - 1] ?? c.from;
    const a = at(c.from);
    const b = at(c.to);
    return {
      from: c.from,
      to: c.to,
      points: [
        { x: a.x + outPort.get(c.from)!.get(first)!, y: a.y + height.get(c.from)! / 2 },
        ...c.via.map(at),
        { x: b.x + inPort.get(c.to)!.get(last)!, y: b.y - height.get(c.to)! / 2 },
      ],
    };
  });
  return { nodes, routes, width: maxX - minX + 2 * margin, height: top - layerGap + margin };
}
