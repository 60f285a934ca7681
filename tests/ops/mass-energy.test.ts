import { test } from 'node:test';
import assert from 'node:assert/strict';
import { componentDistances, massEnergyDistance } from '../../ops/metrics/mass-energy.ts';
import { energyDistance } from '../../ops/metrics/energy.ts';
import { sampleGmm } from '../../ops/datasets.ts';
import { Rng } from '../../ops/rng.ts';
import { toy } from '../../dsl/models.ts';

test('component distances: E|X − X′| = 2σ/√π within one 1-D Gaussian, ≈ the distance of the means between far ones', () => {
  const g = { kind: 'gmm' as const, means: [[-2], [2]], stds: [0.1, 0.1], weights: [1, 1] };
  const D = componentDistances(g, new Rng([1]), 1024);
  const within = (2 * 0.1) / Math.sqrt(Math.PI);
  for (const k of [0, 1]) assert.ok(Math.abs(D[k]![k]! - within) < 0.03 * within, `D${k}${k} = ${D[k]![k]} vs ${within}`);
  // |X₀ − X₁′| ~ N(4, 2σ²); its mean over 1024² pairs has a std of about σ√2·√(2/1024) = 0.006
  assert.ok(Math.abs(D[0]![1]! - 4) < 0.02, `D01 = ${D[0]![1]}`);
  assert.equal(D[0]![1], D[1]![0]);
});

test('mass energy distance: (p − ½)²(2D₀₁ − D₀₀ − D₁₁) for two modes; 0 for balanced shares; NaN with nothing on a mode', () => {
  const D = [[0.1, 4], [4, 0.1]];
  // shares 0.7 / 0.3 against weights ½ / ½: δ = ±0.2
  assert.ok(Math.abs(massEnergyDistance(D, [0.7, 0.3], [1, 1]) - 0.04 * (8 - 0.2)) < 1e-12);
  // shares are read as shares of the on-mode samples: 0.35 / 0.15 is the same split
  assert.ok(Math.abs(massEnergyDistance(D, [0.35, 0.15], [2, 2]) - 0.04 * 7.8) < 1e-12);
  assert.equal(massEnergyDistance(D, [0.5, 0.5], [1, 1]), 0);
  assert.ok(Number.isNaN(massEnergyDistance(D, [0, 0], [1, 1])));
});

test('mass energy distance: the large-sample limit of the energy distance between exact samples spread over the ring with other shares', () => {
  const g = toy.ring().spec;
  const D = componentDistances(g, new Rng([2]), 1024);
  // far enough from even that the estimator's noise (~3e-4 at 4000 samples, from where each mode's samples fall) is
  // about 1 % of the value
  const shares = [0.25, 0.05, 0.2, 0.05, 0.15, 0.1, 0.15, 0.05];
  const even = shares.map(() => 1 / 8);
  // samples stratified by mode (counts fixed, so a multinomial draw's mass noise, ~0.004 per mode, adds no cross term);
  // the estimator's expectation for them, its within-sample terms being U-statistics, follows from D
  const expected = (a: number[], b: number[]) => {
    const N = a.reduce((x, y) => x + y, 0);
    const M = b.reduce((x, y) => x + y, 0);
    const quad = (u: number[], v: number[]) => u.reduce((s, ui, i) => s + v.reduce((t, vj, j) => t + ui * vj * D[i]![j]!, 0), 0);
    const diag = (u: number[]) => u.reduce((s, ui, i) => s + ui * D[i]![i]!, 0);
    return (2 * quad(a, b)) / (N * M) - (quad(a, a) - diag(a)) / (N * (N - 1)) - (quad(b, b) - diag(b)) / (M * (M - 1));
  };
  const n = 4000;
  const counts = (sh: number[]) => sh.map((v) => Math.round(v * n));
  const rng = new Rng([3]);
  const spread = (c: number[]) => {
    const parts = c.map((m, k) => sampleGmm({ ...g, weights: g.weights.map((_, j) => (j === k ? 1 : 0)) }, m, rng));
    const x = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
    let o = 0;
    for (const p of parts) (x.set(p, o), (o += p.length));
    return x;
  };
  const measured = energyDistance(spread(counts(shares)), spread(counts(even)), 2);
  const want = expected(counts(shares), counts(even));
  assert.ok(Math.abs(measured - want) < 0.05 * want, `measured ${measured} vs expected ${want}`);
  // the metric is that expectation for infinitely many samples
  const big = (sh: number[]) => sh.map((v) => v * 1e9);
  const predicted = massEnergyDistance(D, shares, g.weights);
  assert.ok(predicted > 0.02 && Math.abs(expected(big(shares), big(even)) - predicted) < 1e-6 * predicted, `${predicted}`);
});

test("exact samples' energy distance: centred on 0 (the estimator is unbiased), its spread shrinking as 1/n", async () => {
  const { exactSamplesEnergyDistance } = await import('../../runtime/evaluate.ts');
  const g = toy.ring().spec;
  const at = (n: number) => exactSamplesEnergyDistance(5, { kind: 'gmm', target: g, d: 2, n, targetSamples: sampleGmm(g, n, new Rng([5, 't'])), componentDistances: [] });
  const [small, large] = [at(256), at(1024)];
  assert.equal(small.draws, 8);
  // 8 draws: the mean lies within 3 standard errors of 0
  for (const e of [small, large]) assert.ok(Math.abs(e.mean) < (3 * e.sd) / Math.sqrt(8), JSON.stringify(e));
  // 4× the samples: about ¼ of the spread (between ⅛ and ½ allows for 8 draws' own scatter)
  assert.ok(large.sd > small.sd / 8 && large.sd < small.sd / 2, `${small.sd} → ${large.sd}`);
});
