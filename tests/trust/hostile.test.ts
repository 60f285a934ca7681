/**
 * Hostile inputs (property-based, fast-check): random JSON and mutated IR documents go through the loader and the
 * compiler, random option objects and `--set` strings through the option resolver. Each gets a structured error
 * (GraphError / UserError) or compiles — never a crash, never a hang. Corrupted checkpoints are refused clearly.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { buildIR } from '../../dsl/pipeline.ts';
import { parseIR } from '../../dsl/ir/verify.ts';
import { compile } from '../../dsl/compile/index.ts';
import { GraphError, UserError, isUserFacing } from '../../dsl/errors.ts';
import { PIPELINES } from '../../pipelines/index.ts';
import { parseSets, resolveOptions } from '../../dsl/options.ts';
import { runIR } from '../../runtime/run.ts';
import { loadCheckpoint, listCheckpoints } from '../../runtime/checkpoint.ts';

const SEED = Number(process.env.FUZZ_SEED ?? 20261122);

/** the loader and compiler as the CLI uses them; returns 'ok' or the structured error's class */
function loadAndCompile(json: unknown): 'ok' | 'graph' | 'user' {
  try {
    const { ir, issues } = parseIR(json);
    if (!ir) throw new GraphError(issues);
    compile(ir);
    return 'ok';
  } catch (e) {
    if (e instanceof GraphError) return 'graph';
    if (e instanceof UserError) return 'user';
    throw new Error(`crash on input ${JSON.stringify(json)?.slice(0, 400)}: ${(e as Error)?.stack}`);
  }
}

const seeds = ['dmd2-ring', 'dmd-ring', 'forbidden-zone', 'copying', 'dsm-ring'].map((n) => JSON.parse(JSON.stringify(buildIR(PIPELINES[n]!, { batch: 16 }))));

type Json = unknown;
/** every path into a JSON document (arrays and objects) */
function paths(x: Json, at: (string | number)[] = []): (string | number)[][] {
  if (x === null || typeof x !== 'object') return [at];
  const keys = Array.isArray(x) ? x.map((_, i) => i) : Object.keys(x);
  return [at, ...keys.flatMap((k) => paths((x as Record<string | number, Json>)[k], [...at, k]))];
}
function getAt(x: Json, p: (string | number)[]): Json {
  return p.reduce<Json>((o, k) => (o as Record<string | number, Json>)[k], x);
}
function setAt(x: Json, p: (string | number)[], v: Json | typeof DELETE): Json {
  if (!p.length) return v === DELETE ? null : v;
  const parent = getAt(x, p.slice(0, -1)) as Record<string | number, Json>;
  const k = p[p.length - 1]!;
  if (v === DELETE) Array.isArray(parent) ? parent.splice(Number(k), 1) : delete parent[k];
  else parent[k] = v;
  return x;
}
const DELETE = Symbol('delete');

/** values that tend to break things: wrong types, huge and negative sizes, other nodes' ids, unknown names */
const nasty = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.constantFrom(-1, 0, 1e9, 2 ** 31, -0.5, NaN, 'B', 'D', '%v0', '%v999', 'teacher', 'student', 'nope', 'call', 'pf_ode', 'randn', [], {}, null, true, [-1], [0, 0], ['B', 2]),
  fc.integer({ min: -5, max: 5000 }),
);

const mutation = fc.tuple(fc.nat(), fc.oneof(nasty.map((v) => ({ kind: 'set' as const, v })), fc.constant({ kind: 'delete' as const }), fc.nat().map((j) => ({ kind: 'swap' as const, j }))));

test('≥ 1,000 mutated IR documents: each compiles or gets a structured error; none crashes or hangs', () => {
  const outcomes = { ok: 0, graph: 0, user: 0 };
  fc.assert(
    fc.property(fc.nat({ max: seeds.length - 1 }), fc.array(mutation, { minLength: 1, maxLength: 4 }), (which, muts) => {
      let doc: Json = structuredClone(seeds[which]);
      for (const [pick, m] of muts) {
        const ps = paths(doc);
        const p = ps[pick % ps.length]!;
        if (m.kind === 'set') doc = setAt(doc, p, m.v);
        else if (m.kind === 'delete') doc = setAt(doc, p, DELETE);
        else {
          // swap two nodes: order, topology and use-before-def
          const nodes = (doc as { nodes?: Json[] })?.nodes;
          if (Array.isArray(nodes) && nodes.length > 1) {
            const a = pick % nodes.length;
            const b = m.j % nodes.length;
            [nodes[a], nodes[b]] = [nodes[b], nodes[a]];
          }
        }
      }
      outcomes[loadAndCompile(doc)]++;
    }),
    { numRuns: 1200, seed: SEED, interruptAfterTimeLimit: 120_000 },
  );
  const total = outcomes.ok + outcomes.graph + outcomes.user;
  assert.ok(total >= 1000, `ran ${total} documents`);
  assert.ok(outcomes.graph > 100 && outcomes.ok > 10, `both outcomes occur: ${JSON.stringify(outcomes)}`);
});

test('random JSON documents and IR-shaped noise: structured errors only', () => {
  fc.assert(
    fc.property(
      fc.oneof(
        fc.jsonValue({ maxDepth: 4 }),
        fc.record({ version: fc.oneof(fc.constant(seeds[0].version), fc.jsonValue()), name: fc.string(), dims: fc.dictionary(fc.string(), fc.integer()), nodes: fc.array(fc.jsonValue({ maxDepth: 2 })), models: fc.array(fc.jsonValue({ maxDepth: 2 })) }, { requiredKeys: [] }),
      ),
      (doc) => void loadAndCompile(doc),
    ),
    { numRuns: 1000, seed: SEED + 1 },
  );
});

test('random option objects and --set strings for every pipeline: a config or one UserError naming the key', () => {
  const names = Object.keys(PIPELINES);
  fc.assert(
    fc.property(
      fc.constantFrom(...names),
      fc.dictionary(fc.oneof(fc.constantFrom('batch', 'steps', 'evalEvery', 'hidden', 'ratio', 'method', 'lrStudent', 'tau', 'permute', 'dim', 'init'), fc.string()), nasty, { maxKeys: 4 }),
      fc.array(fc.tuple(fc.constantFrom('batch', 'ratio', 'method', 'permute', 'tau', 'lrFake', 'nope', ''), fc.oneof(fc.string(), fc.constantFrom('1', '-1', '1e9', 'true', 'NaN', 'Infinity', '0x10', ' 3 ', 'undefined'))).map(([k, v]) => `${k}=${v}`), { maxLength: 3 }),
      (name, obj, sets) => {
        const def = PIPELINES[name]!;
        for (const attempt of [() => resolveOptions(def.options, obj, name, 'cfg.json'), () => resolveOptions(def.options, parseSets(def.options, sets, name), name, '--set')]) {
          try {
            const c = attempt() as Record<string, unknown>;
            assert.ok(typeof c.batch === 'number' && Number.isInteger(c.batch) && c.batch >= 1);
          } catch (e) {
            if (!(e instanceof UserError)) throw e;
            assert.match(e.message, /option|--set/);
            assert.doesNotMatch(e.message, /\[object Object\]|undefined is not/);
          }
        }
      },
    ),
    { numRuns: 1500, seed: SEED + 2 },
  );
});

test('a corrupted checkpoint — truncated file, wrong shapes, wrong dtype, bad state — is refused with a clear message', async () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'distillery-ckpt-'));
  await runIR(buildIR(PIPELINES['dmd2-ring']!, { batch: 16, steps: 4, evalEvery: 0, fakeWarmup: 1 }), { seed: 1, backend: 'cpu', out, quiet: true, evalSamples: 128, checkpointEvery: 2 });
  const good = listCheckpoints(out)[0]!;
  const variant = (name: string, edit: (dir: string) => void) => {
    const dir = path.join(out, `bad-${name}`);
    fs.cpSync(good, dir, { recursive: true });
    edit(dir);
    return dir;
  };
  const resume = async (dir: string) => {
    try {
      const c = loadCheckpoint(dir);
      await runIR(c.ir, { seed: 1, backend: 'cpu', out: path.join(out, 'resumed'), quiet: true, evalSamples: 128, resume: c });
      return 'accepted';
    } catch (e) {
      assert.ok(isUserFacing(e), `structured error, got ${(e as Error).stack}`);
      return (e as Error).message;
    }
  };
  const w = (dir: string) => path.join(dir, 'weights.safetensors');
  const truncated = variant('truncated', (d) => fs.truncateSync(w(d), fs.statSync(w(d)).size - 100));
  assert.match(await resume(truncated), /weights\.safetensors: tensor '.+' \[.*\] does not fit its data offsets/);
  const headerCut = variant('header', (d) => fs.truncateSync(w(d), 20));
  assert.match(await resume(headerCut), /weights\.safetensors: header length \d+ runs past the end of the file/);
  const dtype = variant('dtype', (d) => {
    const b = fs.readFileSync(w(d));
    fs.writeFileSync(w(d), Buffer.from(b.toString('latin1').replaceAll('"F32"', '"F16"'), 'latin1'));
  });
  assert.match(await resume(dtype), /dtype F16; only F32 is supported/);
  const shapes = variant('shapes', (d) => {
    // a checkpoint of a wider network: same names, other shapes
    const ir = JSON.parse(fs.readFileSync(path.join(d, 'ir.json'), 'utf8'));
    for (const m of ir.models) if (m.config.hidden) m.config.hidden = 64;
    fs.writeFileSync(path.join(d, 'ir.json'), JSON.stringify(ir));
  });
  assert.match(await resume(shapes), /tensor 'student\/l0\.weight' has shape \[(\d+),128\], the run needs \[\1,64\]/);
  const state = variant('state', (d) => fs.writeFileSync(path.join(d, 'state.json'), '{"format": "distillery-checkpoint", "version": 1, "step": -4'));
  assert.match(await resume(state), /state\.json is not valid JSON \(truncated\?\)/);
  const wrongKind = variant('kind', (d) => {
    const s = JSON.parse(fs.readFileSync(path.join(d, 'state.json'), 'utf8'));
    s.step = 'four';
    fs.writeFileSync(path.join(d, 'state.json'), JSON.stringify(s));
  });
  assert.match(await resume(wrongKind), /state\.json: 'step' /);
  const missing = variant('missing', (d) => fs.rmSync(path.join(d, 'optimizer.safetensors')));
  assert.match(await resume(missing), /cannot read optimizer\.safetensors: ENOENT/);
  assert.equal(await resume(good), 'accepted');
});
