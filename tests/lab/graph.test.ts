import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Resvg } from '@resvg/resvg-js';
import { buildIR } from '../../dsl/pipeline.ts';
import { compile } from '../../dsl/compile/index.ts';
import { PIPELINES } from '../../pipelines/index.ts';
import { collapseIR, type CollapsedGraph, type GraphNode } from '../../lab/graph/collapse.ts';
import { layeredLayout } from '../../lab/graph/layout.ts';
import { graphSvg } from '../../lab/graph/svg.ts';

const ir = (name: string, o: Record<string, unknown> = {}) => buildIR(PIPELINES[name]!, o);

/** is there a path from `a` to `b` in the collapsed graph (through any nodes)? */
function reaches(g: CollapsedGraph, a: GraphNode, b: GraphNode): boolean {
  const seen = new Set([a.id]);
  const stack = [a.id];
  while (stack.length) {
    const id = stack.pop()!;
    if (id === b.id) return true;
    for (const e of g.edges) {
      if (e.from !== id || seen.has(e.to)) continue;
      seen.add(e.to);
      stack.push(e.to);
    }
  }
  return false;
}
const edge = (g: CollapsedGraph, a: GraphNode, b: GraphNode) => g.edges.find((e) => e.from === a.id && e.to === b.id);

/** well-formed XML, as far as a picture needs: every tag closed in order, no stray `<` or `&` in text or attributes */
function assertWellFormed(svg: string) {
  const stack: string[] = [];
  const tag = /<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>/g;
  let last = 0;
  for (let m = tag.exec(svg); m; m = tag.exec(svg)) {
    const text = svg.slice(last, m.index);
    assert.ok(!text.includes('<') && !/&(?!(amp|lt|gt|quot|apos);)/.test(text), `bad text before ${m[0]}: ${text}`);
    assert.ok(!/&(?!(amp|lt|gt|quot|apos);)/.test(m[3]!), `bad attribute in ${m[0]}`);
    if (m[1]) assert.equal(stack.pop(), m[2], `closing ${m[2]}`);
    else if (!m[4]) stack.push(m[2]!);
    last = tag.lastIndex;
  }
  assert.deepEqual(stack, [], 'unclosed tags');
  assert.equal(svg.slice(last).trim(), '');
  // resvg parses it as XML and SVG and throws on either being invalid
  const png = new Resvg(svg, { font: { loadSystemFonts: false } }).render();
  assert.ok(png.width > 0 && png.height > 0);
}

test('dmd2-ring collapses to noise → student → (noised) teacher and fake → student loss; the fake trains on a detached student', () => {
  const g = collapseIR(ir('dmd2-ring'));
  const of = (k: string) => g.nodes.filter((n) => n.kind === k);
  const [student] = of('student');
  assert.equal(of('student').length, 1);
  const [teacher] = of('teacher');
  const fakes = of('fake');
  assert.ok(student && teacher && fakes.length === 2, g.nodes.map((n) => n.label).join());
  const studentLoss = g.nodes.find((n) => n.kind === 'loss' && n.role === 'student')!;
  const fakeLoss = g.nodes.find((n) => n.kind === 'loss' && n.role === 'fake')!;
  assert.ok(studentLoss && fakeLoss);
  assert.match(fakeLoss.detail ?? '', /×5\/step, warm-up 200/);
  // the generator's noise
  assert.ok(g.nodes.some((n) => n.kind === 'noise' && edge(g, n, student)));
  // the DMD direction: the student's sample, noised, read by the frozen teacher and the fake score with no gradient
  assert.deepEqual(edge(g, student, teacher)?.via, ['noised']);
  const scoring = fakes.find((f) => edge(g, student, f))!;
  assert.ok(scoring?.noGrad && teacher.noGrad);
  assert.deepEqual(edge(g, student, scoring)?.via, ['noised']);
  // teacher and fake reach the student's loss through the stop-gradient of x − sg(x − g)
  for (const m of [teacher, scoring]) {
    const sg = g.nodes.find((n) => n.kind === 'stop' && edge(g, m, n) && edge(g, n, studentLoss));
    assert.ok(sg?.noGrad, `${m.label} → stop-grad → student loss`);
  }
  assert.ok(edge(g, student, studentLoss));
  // the fake's own training: it reads the student's sample through a stop-gradient (the no-gradient region), and is trained itself
  const training = fakes.find((f) => f !== scoring)!;
  assert.equal(training.noGrad, false);
  const detach = g.nodes.find((n) => n.kind === 'stop' && edge(g, student, n) && edge(g, n, training));
  assert.ok(detach?.noGrad, 'student → stop-grad → fake');
  assert.ok(!edge(g, student, training), 'no edge from the student into the fake that bypasses the stop-gradient');
  assert.ok(edge(g, training, fakeLoss));
  assert.ok(!reaches(g, fakeLoss, studentLoss) && !reaches(g, studentLoss, fakeLoss));
  // the evaluated samples are the student's
  assert.ok(g.edges.some((e) => e.from === student.id && g.nodes.find((n) => n.id === e.to)?.kind === 'eval'));
  // a time and its ε drawn for the same calls are one node; no node is drawn twice
  assert.equal(new Set(g.nodes.map((n) => n.id)).size, g.nodes.length);
  assert.ok(g.nodes.some((n) => n.kind === 'noise' && n.label === 't, ε' && n.noGrad));
});

test('dmd2-ring: the SVG is well-formed, has the legend, and is drawn the same twice', () => {
  const svg = graphSvg(ir('dmd2-ring'));
  assertWellFormed(svg);
  for (const t of ['student (trained)', 'teacher (frozen)', 'fake score / critic (trained)', 'noise', 'loss (→ the role it trains)', 'no gradient (g.noGrad, stop-gradient)'])
    assert.ok(svg.includes(`>${t}</text>`), `legend: ${t}`);
  assert.ok(!svg.includes('GAN head'), 'the legend shows only the kinds drawn');
  assert.equal(graphSvg(ir('dmd2-ring')), svg);
  assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" width="[\d.]+" height="[\d.]+" viewBox="0 0 [\d.]+ [\d.]+"/);
  // with the plan, each loss also gives its update's working set
  assert.match(graphSvg(ir('dmd2-ring'), { plan: compile(ir('dmd2-ring')) }), /\d\.\d MiB/);
});

test('forbidden-zone: the reward gate appears, feeding the advantage that weights the student and ρ that weights the fake', () => {
  const g = collapseIR(ir('forbidden-zone'));
  const reward = g.nodes.find((n) => n.kind === 'reward');
  assert.ok(reward && reward.role === 'reward' && reward.noGrad);
  const advantage = g.nodes.find((n) => n.label === 'advantage')!;
  const rho = g.nodes.find((n) => n.label === 'rho')!;
  assert.ok(edge(g, reward, advantage) && edge(g, reward, rho));
  const loss = (role: string) => g.nodes.filter((n) => n.kind === 'loss' && n.role === role);
  assert.equal(loss('student').length, 2, 'the warm-up regression and the DMD loss');
  assert.ok(loss('student').some((l) => reaches(g, advantage, l)));
  assert.ok(reaches(g, rho, loss('fake')[0]!));
  assert.ok(g.nodes.some((n) => n.kind === 'teacher' && n.label === 'teacher ODE'));
  const svg = graphSvg(ir('forbidden-zone'));
  assertWellFormed(svg);
  assert.ok(svg.includes('>reward / gate (frozen)</text>') && svg.includes('>reads the class label</text>'));
});

test('dmd2-ring with 4 student steps: the backward simulation calls the student with no gradient, drawn shaded', () => {
  const i = ir('dmd2-ring', { studentSteps: 4 });
  const g = collapseIR(i);
  const students = g.nodes.filter((n) => n.kind === 'student');
  const shaded = students.filter((n) => n.noGrad);
  // 3 rungs of the backward simulation, 4 evaluation steps; one call on the tape
  assert.equal(students.length - shaded.length, 1);
  assert.ok(shaded.length >= 3);
  const svg = graphSvg(i);
  assertWellFormed(svg);
  assert.equal(svg.split('class="node student nograd"').length - 1, shaded.length);
  // each shaded node sits on a pad of the no-gradient pattern: as many pads as shaded nodes drawn
  const pads = svg.slice(svg.indexOf('<g class="nograd">'), svg.indexOf('<g class="edges"')).match(/<rect /g) ?? [];
  assert.equal(pads.length, (svg.match(/class="node [a-z]+ nograd"/g) ?? []).length);
  // in a plain dmd2-ring the student is not shaded
  assert.ok(!graphSvg(ir('dmd2-ring')).includes('class="node student nograd"'));
});

test('dmd2-ring with the GAN term: the head reads the fake score features of real and generated samples', () => {
  const g = collapseIR(ir('dmd2-ring', { ganGenerator: 0.1 }));
  const heads = g.nodes.filter((n) => n.kind === 'head');
  assert.equal(heads.length, 3);
  for (const h of heads) assert.ok(g.edges.some((e) => e.to === h.id && g.nodes.find((n) => n.id === e.from)?.detail === 'features'));
  const data = g.nodes.find((n) => n.kind === 'data')!;
  assert.ok(reaches(g, data, g.nodes.find((n) => n.kind === 'loss' && n.role === 'head')!));
  assert.ok(g.nodes.some((n) => n.kind === 'value' && n.label === 'ganGenerator'));
  assertWellFormed(graphSvg(ir('dmd2-ring', { ganGenerator: 0.1 })));
});

test('text is escaped: a name with markup in it stays text', () => {
  const i = { ...ir('dmd-ring'), name: 'a<b> & "c" \'d\'' };
  const svg = graphSvg(i);
  assertWellFormed(svg);
  assert.ok(svg.includes('a&lt;b&gt; &amp; &quot;c&quot; &apos;d&apos;'));
  assert.ok(!svg.includes('a<b>'));
});

test('every ready-made pipeline draws: well-formed, boxes of a layer never overlap, every edge routed top to bottom', () => {
  for (const [name, def] of Object.entries(PIPELINES)) {
    const i = buildIR(def);
    assertWellFormed(graphSvg(i));
    const g = collapseIR(i);
    const lay = layeredLayout(g.nodes.map((n) => ({ id: n.id, width: 60 + n.label.length * 8, height: 30 })), g.edges);
    const placed = [...lay.nodes.values()];
    for (const a of placed)
      for (const b of placed)
        if (a.id < b.id && a.layer === b.layer) assert.ok(Math.abs(a.x - b.x) >= (a.width + b.width) / 2, `${name}: ${a.id} overlaps ${b.id}`);
    assert.equal(lay.routes.length, g.edges.length);
    for (const r of lay.routes) for (let k = 1; k < r.points.length; k++) assert.ok(r.points[k]!.y > r.points[k - 1]!.y, `${name}: ${r.from} → ${r.to} goes up`);
    for (const p of placed) assert.ok(p.x - p.width / 2 >= 0 && p.x + p.width / 2 <= lay.width, `${name}: ${p.id} outside`);
  }
});

test('lab/graph is portable: it imports only types and its own files (no Node, no DOM)', () => {
  const dir = fileURLToPath(new URL('../../lab/graph/', import.meta.url));
  for (const f of readdirSync(dir).filter((f) => f.endsWith('.ts'))) {
    const src = readFileSync(dir + f, 'utf8');
    for (const m of src.matchAll(/^import\s+(type\s+)?[^'"]*from\s+'([^']+)'/gm)) assert.ok(m[1] || /^\.\/[\w-]+\.ts$/.test(m[2]!), `${f} imports ${m[2]} at run time`);
    assert.ok(!/\b(process|Buffer|require|document|window)\b[.(]/.test(src), `${f} touches a platform global`);
  }
});
