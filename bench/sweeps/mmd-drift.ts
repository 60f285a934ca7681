/**
 * @file mmd-ring's drift, measured (docs/methods/dmmd.md, "Continuous MMD on the ring"): along training, with the
 * weights frozen at each measurement, the auxiliary x̂_φ(z_s) against its ideal ½(E_g[x | z_s] + x̂_θ(z_s)), beside
 * the generator's signal x̂_φ − x̂_θ and the signal it would get from that ideal, ½(E_g − x̂_θ).
 *
 * E_g[x | z_s] is exact up to Monte Carlo: at a fixed s, a pool of the training law's draws (x ~ data, t = min(1,
 * s + U(0, 1/k)), z_t, x_i = x̂_η(z_t,i)) with their Gaussian posteriors q(z_s | z_t,i, x_i), importance-weighted at
 * z_s (ops/metrics/conditional-mean.ts); the queries z_s are drawn from the pool's own rows, each left out of its
 * estimate. Two disjoint halves of the pool give the Monte Carlo error.
 *
 *   npx tsx bench/sweeps/mmd-drift.ts [--steps 600] [--every 50] [--seed 1] [--set key=value …] [--out DIR]
 *   npx tsx bench/sweeps/mmd-drift.ts --plot name=DIR/drift.json,… --out DIR     (the charts of earlier runs)
 */
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildIR } from '../../dsl/pipeline.ts';
import { mmdRing } from '../../pipelines/mmd.ts';
import { openExecutor } from '../../runtime/open.ts';
import { evalSetup, studentMetrics } from '../../runtime/evaluate.ts';
import { measureAlong } from './measure.ts';
import { Rng } from '../../ops/rng.ts';
import { sampleGmm } from '../../ops/datasets.ts';
import { scheduleAt, schedule } from '../../ops/schedules.ts';
import { posteriorCoefficients } from '../../ops/ancestral.ts';
import { conditionalMean } from '../../ops/metrics/conditional-mean.ts';
import { overlay, renderChart } from '../../runtime/report/charts.ts';
import type { Executor } from '../../runtime/executor.ts';
import type { GmmSpec } from '../../dsl/ir/schema.ts';
import type { Tensor } from '../../gpu/lower/index.ts';

const D = 2;
const RF = schedule('rf');

export interface DriftAtS {
  s: number;
  /** root mean square over the queries of ‖x̂_φ − x̂_θ‖ (the signal), ½‖E_g − x̂_θ‖ (the ideal signal),
   * ‖x̂_φ − ½(E_g + x̂_θ)‖ (the auxiliary's error), and the Monte Carlo error of the E_g estimate */
  signal: number;
  idealSignal: number;
  auxError: number;
  mcError: number;
  /** median effective pool size of the importance weights */
  ess: number;
}

export interface DriftPoint {
  step: number;
  energyDistance: number;
  perS: DriftAtS[];
  /** the per-s figures averaged over s */
  signal: number;
  idealSignal: number;
  auxError: number;
  mcError: number;
}

/** the model `role` on rows of z [n, D] at per-row times t, raw (trained) weights */
function apply(exe: Executor, role: string, z: Float32Array, t: Float32Array): Float32Array {
  const n = t.length;
  return exe.withModels({ ...exe.ir.dims, B: n }, `drift-${role}`, (ctx) => {
    const tf = ctx.tf;
    return (ctx.model(role)([tf.tensor(z, [n, D]), tf.tensor(t, [n, 1])]) as Tensor).dataSync() as Float32Array;
  }, 'raw');
}

/** the drift figures at one s, with the weights as they are now */
/** `residualAux`: the auxiliary role holds a correction on top of the teacher (mmd-ring's aux 'residual') */
export function driftAt(exe: Executor, o: { s: number; k: number; pool: number; queries: number; seed: number; step: number; residualAux?: boolean }): DriftAtS {
  const target = exe.ir.datasets[exe.ir.eval!.target] as GmmSpec;
  const rng = new Rng([o.seed, 'mmd-drift', o.step, o.s]);
  const M = o.pool;
  const x0 = sampleGmm(target, M, rng);
  const eps = rng.normals(M * D);
  const delta = rng.uniforms(M, 0, 1 / o.k);
  const t = Float32Array.from(delta, (d) => Math.min(1, o.s + d));
  const zt = new Float32Array(M * D);
  for (let i = 0; i < M; i++) {
    const { alpha, sigma } = scheduleAt(RF, t[i]!);
    for (let d = 0; d < D; d++) zt[i * D + d] = alpha * x0[i * D + d]! + sigma * eps[i * D + d]!;
  }
  const x = apply(exe, 'student', zt, t);
  const mu = new Float64Array(M * D);
  const c = new Float64Array(M);
  for (let i = 0; i < M; i++) {
    const p = posteriorCoefficients(RF, t[i]!, o.s);
    c[i] = p.c;
    for (let d = 0; d < D; d++) mu[i * D + d] = p.a * zt[i * D + d]! + p.b * x[i * D + d]!;
  }
  if (!(c[0]! > 0)) throw new Error(`mmd-drift: s ${o.s} has no posterior noise`);
  const Q = o.queries;
  const xi = rng.normals(Q * D);
  const zs = Float32Array.from({ length: Q * D }, (_, j) => mu[j]! + c[Math.floor(j / D)]! * xi[j]!);
  const sArr = new Float32Array(Q).fill(o.s);
  const teacher = apply(exe, 'teacher', zs, sArr);
  const aux = apply(exe, 'aux', zs, sArr);
  if (o.residualAux) aux.forEach((v, i) => (aux[i] = v + teacher[i]!));
  let signal = 0, ideal = 0, err = 0, mc = 0;
  const ess: number[] = [];
  for (let j = 0; j < Q; j++) {
    const z = zs.subarray(j * D, j * D + D);
    const all = conditionalMean({ x, mu, c }, D, z, { exclude: j });
    const even = conditionalMean({ x, mu, c }, D, z, { exclude: j, stride: 2, offset: 0 });
    const odd = conditionalMean({ x, mu, c }, D, z, { exclude: j, stride: 2, offset: 1 });
    ess.push(all.ess);
    for (let d = 0; d < D; d++) {
      const th = teacher[j * D + d]!, ph = aux[j * D + d]!, eg = all.mean[d]!;
      signal += (ph - th) ** 2;
      ideal += ((eg - th) / 2) ** 2;
      err += (ph - (eg + th) / 2) ** 2;
      // the full pool's estimate has about half a half's variance: ‖E_even − E_odd‖² ≈ 4·Var(full), and the ideal's
      // error is half of E_g's
      mc += ((even.mean[d]! - odd.mean[d]!) / 4) ** 2;
    }
  }
  ess.sort((a, b) => a - b);
  const rms = (v: number) => Math.sqrt(v / Q);
  return { s: o.s, signal: rms(signal), idealSignal: rms(ideal), auxError: rms(err), mcError: rms(mc), ess: ess[Math.floor(Q / 2)]! };
}

export async function mmdDrift(o: { seed: number; steps: number; every: number; overrides: Record<string, unknown>; sGrid?: number[]; pool?: number; queries?: number; evalSamples?: number; log?: (l: string) => void }): Promise<DriftPoint[]> {
  const ir = buildIR(mmdRing, { ...o.overrides, steps: o.steps, evalEvery: o.every });
  const k = Number(o.overrides.k ?? mmdRing.defaults.k);
  const exe = await openExecutor(ir, o.seed, 'wasm');
  try {
    const setup = evalSetup(exe, o.evalSamples ?? 4096);
    const sGrid = o.sGrid ?? [0.1, 0.3, 0.5, 0.7, 0.9];
    const measure = (step: number): DriftPoint => {
      const perS = sGrid.map((s) => driftAt(exe, { s, k, pool: o.pool ?? 16384, queries: o.queries ?? 512, seed: o.seed, step, residualAux: o.overrides.aux === 'residual' }));
      const avg = (key: 'signal' | 'idealSignal' | 'auxError' | 'mcError') => perS.reduce((a, p) => a + p[key], 0) / perS.length;
      const point = { step, energyDistance: studentMetrics(exe, setup).metrics.energyDistance!, perS, signal: avg('signal'), idealSignal: avg('idealSignal'), auxError: avg('auxError'), mcError: avg('mcError') };
      o.log?.(`step ${step}: energy ${point.energyDistance.toFixed(4)}, signal ${point.signal.toFixed(4)}, ideal signal ${point.idealSignal.toFixed(4)}, aux error ${point.auxError.toFixed(4)} (MC ${point.mcError.toFixed(4)}; ESS ${perS.map((p) => p.ess.toFixed(0)).join('/')})`);
      return point;
    };
    return await measureAlong(exe, o.steps, o.every, measure);
  } finally {
    exe.dispose();
  }
}

/** energy distance and the three signal sizes against the step, one chart each, written as PNG + SVG */
export async function driftCharts(runs: { name: string; points: DriftPoint[] }[], out: string, prefix = 'mmd-drift'): Promise<string[]> {
  const files: string[] = [];
  const write = async (name: string, spec: ReturnType<typeof overlay>) => {
    const chart = await renderChart(spec);
    for (const [ext, body] of [['png', chart.png], ['svg', chart.svg]] as const) {
      const f = path.join(out, `${prefix}-${name}.${ext}`);
      fs.writeFileSync(f, body);
      files.push(f);
    }
  };
  await write('energy', overlay('mmd-ring: energy distance to the target', runs.map((r) => ({ name: r.name, points: r.points.map((p) => ({ x: p.step, y: p.energyDistance })) })), { x: 'step', y: 'energy distance', log: true, points: true }));
  const lines = runs.flatMap((r) =>
    (['signal', 'idealSignal', 'auxError'] as const).map((key) => ({
      name: `${r.name}: ${{ signal: 'signal', idealSignal: 'ideal signal', auxError: 'aux error' }[key]}`,
      points: r.points.map((p) => ({ x: p.step, y: p[key] })),
    })),
  );
  await write('signal', overlay('signal ‖x̂_φ − x̂_θ‖, ideal ½‖E_g − x̂_θ‖, aux error ‖x̂_φ − ½(E_g + x̂_θ)‖', lines, { x: 'step', y: 'RMS', log: true, points: true }));
  return files;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const args = process.argv.slice(2);
  const flag = (name: string, def: string) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1]! : def;
  };
  const overrides: Record<string, unknown> = {};
  args.forEach((a, i) => {
    if (a !== '--set') return;
    const [key, value] = args[i + 1]!.split('=');
    overrides[key!] = Number.isNaN(Number(value)) ? value : Number(value);
  });
  const out = flag('out', 'runs/mmd-drift');
  fs.mkdirSync(out, { recursive: true });
  const plot = flag('plot', '');
  if (plot) {
    const runs = plot.split(',').map((entry) => {
      const [name, file] = entry.split('=');
      if (!name || !file) throw new Error(`--plot wants name=drift.json entries separated by commas, got '${entry}'`);
      return { name, points: (JSON.parse(fs.readFileSync(file, 'utf8')) as { points: DriftPoint[] }).points };
    });
    console.log((await driftCharts(runs, out)).join('\n'));
    process.exit(0);
  }
  const t0 = performance.now();
  const points = await mmdDrift({ seed: Number(flag('seed', '1')), steps: Number(flag('steps', '600')), every: Number(flag('every', '50')), overrides, log: console.log });
  fs.writeFileSync(path.join(out, 'drift.json'), JSON.stringify({ overrides, wallSeconds: (performance.now() - t0) / 1000, points }, null, 1));
  console.log(`→ ${path.join(out, 'drift.json')} (${((performance.now() - t0) / 1000).toFixed(0)} s)`);
}
