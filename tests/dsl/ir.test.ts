import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildIR, pipeline } from '../../dsl/pipeline.ts';
import { adam } from '../../dsl/builder.ts';
import { mlp } from '../../dsl/models.ts';
import { verify, parseIR } from '../../dsl/ir/verify.ts';
import { GraphError } from '../../dsl/errors.ts';
import { compile, PIPELINE } from '../../dsl/compile/index.ts';
import { runPasses } from '../../dsl/compile/index.ts';
import { PIPELINES } from '../../pipelines/index.ts';
import { printIR } from '../../dsl/ir/print.ts';

const deepFreeze = <T>(o: T): T => {
  Object.values(o as object).forEach((v) => typeof v === 'object' && v !== null && deepFreeze(v));
  return Object.freeze(o);
};

test('IR JSON round trip: parse(stringify(ir)) equals ir and compiles to the same plan', () => {
  for (const def of Object.values(PIPELINES)) {
    const ir = buildIR(def);
    const back = parseIR(JSON.parse(JSON.stringify(ir)));
    assert.deepEqual(back.issues, []);
    assert.deepEqual(back.ir, ir);
    assert.equal(JSON.stringify(compile(back.ir!).updates), JSON.stringify(compile(ir).updates));
  }
});

test('passes are pure and verify stays clean after each one', () => {
  for (const def of Object.values(PIPELINES)) {
    const ir = deepFreeze(buildIR(def));
    const out = runPasses(ir, PIPELINE, { verifyEachPass: true });
    assert.ok(out.nodes.length <= ir.nodes.length + 10);
  }
});

test('printIR names ops, types and the declaring file:line', () => {
  const text = printIR(buildIR(PIPELINES['dmd2-ring']!));
  assert.match(text, /%v1 'x' : f32\[B,2\] = call\[model=student\]\(%v0\)\s+# pipelines\/dmd2\.ts:\d+/);
  assert.match(text, /minimize fake loss=%v\d+ adam\(lr=0\.001, cosine 5000→10000 to 0\.1\) ratio=5/);
});

test('verify: a shape mismatch names the node and the file:line that declared it', () => {
  const bad = pipeline('bad', { batch: 4, steps: 1, evalEvery: 0 }, (g) => {
    const s = g.trainable('s', mlp({ in: 2, out: 2 }));
    const x = s(g.noise([g.B, 2]));
    g.minimize(s, x.add(g.noise([g.B, 3])).mean(), { optimizer: adam(1e-3) });
  });
  assert.throws(() => buildIR(bad), (e: unknown) => {
    assert.ok(e instanceof GraphError);
    assert.equal(e.issues[0]!.code, 'shape_mismatch');
    assert.match(e.issues[0]!.at!, /tests\/dsl\/ir\.test\.ts:\d+/);
    assert.match(e.message, /cannot be broadcast/);
    return true;
  });
  // the same mismatch in a saved IR is caught by verify
  const ir = structuredClone(buildIR(PIPELINES['dmd2-ring']!));
  ir.nodes[1]!.type.shape = ['B', 3];
  const issues = verify(ir);
  assert.ok(issues.some((i) => i.code === 'shape_mismatch' && i.node === 'x' && /pipelines\/dmd2\.ts:\d+/.test(i.at ?? '')));
});

test('verify: a gradient into a frozen role, and a loss that reaches no trainable parameter', () => {
  const ir = structuredClone(buildIR(PIPELINES['dmd2-ring']!));
  ir.models.find((m) => m.role === 'fake')!.trainable = false;
  const frozen = verify(ir).find((i) => i.code === 'grad_into_frozen');
  assert.ok(frozen && frozen.node === 'fake' && /pipelines\/dmd2\.ts:\d+/.test(frozen.at!), JSON.stringify(verify(ir)));

  const unreachable = pipeline('u', { batch: 4, steps: 1, evalEvery: 0 }, (g) => {
    const s = g.trainable('s', mlp({ in: 2, out: 2 }));
    const x = g.noGrad(() => s(g.noise([g.B, 2])));
    g.minimize(s, x.square().mean(), { optimizer: adam(1e-3) });
  });
  const issues = verify(buildIR(unreachable));
  const u = issues.find((i) => i.code === 'loss_unreachable');
  assert.ok(u && /tests\/dsl\/ir\.test\.ts:\d+/.test(u.at!), JSON.stringify(issues));
});

test('schema errors come back as issues with their path', () => {
  const r = parseIR({ version: 1, name: 'x', dims: { B: -1 } });
  assert.ok(r.issues.length > 0 && r.issues.some((i) => i.message.startsWith('dims.B')));
});
