import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadBackend } from '../../gpu/backend.ts';
import { pfOde } from '../../gpu/lower/network.ts';
import { gmmDenoiserBody as gmmDenoiser } from '../../gpu/models/gmm.ts';
import { copyingMetrics, derangement, otEnergy } from '../../ops/metrics/copying.ts';
import { Rng } from '../../ops/rng.ts';
import { toy } from '../../dsl/models.ts';
import type { LowerCtx, Tensor } from '../../gpu/lower/index.ts';
import type { Schedule } from '../../dsl/ir/schema.ts';

const be = await loadBackend('cpu');
const tf = be.tf;

test('flow map and inverse: Φ⁻¹(Φ(z)) ≈ z for a GMM teacher under rf, vp and ve', () => {
  const ring = toy.ring();
  for (const schedule of [{ kind: 'rf' }, { kind: 'vp' }, { kind: 've', sigmaMin: 0.002, sigmaMax: 80, rho: 7 }] as Schedule[]) {
    const ctx = {
      tf,
      dims: {},
      rng: () => new Rng([0]),
      dataset: () => ring.spec,
      detach: (t: Tensor) => be.detach(t),
      model: () => (ins: Tensor[]) => gmmDenoiser.apply(tf, {}, ins, { dataset: 'ring8', schedule, conditional: false }, { dataset: () => ring.spec }),
    } as LowerCtx;
    const z0 = new Rng([9]).normals(256 * 2);
    const err = tf.tidy(() => {
      const z = tf.tensor(z0, [256, 2]);
      const p = { model: 't', schedule, solver: 'heun' as const, steps: 128, tMax: 1, tMin: 1e-3 };
      const x = pfOde(ctx, z, p);
      const back = pfOde(ctx, x, { ...p, invert: true });
      return tf.max(tf.abs(tf.sub(back, z))).dataSync()[0]!;
    });
    // tolerance: 128 Heun steps, both directions on the same grid from t = 1e-3
    assert.ok(err < 2e-2, `${schedule.kind}: max |Φ⁻¹(Φ(z)) − z| = ${err}`);
  }
});

/** Gaussian data N(0, s²I): the teacher's flow map is Φ(z) = s·z */
function couplings(d: number, n: number) {
  const s = 0.5;
  const z = new Rng([4, d]).normals(n * d);
  const phi = z.map((v) => s * v);
  const rot = new Float32Array(n * d); // 90° rotation in each coordinate pair: a valid remapping of N(0, I)
  for (let i = 0; i < n; i++)
    for (let j = 0; j < d; j += 2) {
      rot[i * d + j] = -z[i * d + j + 1]!;
      rot[i * d + j + 1] = z[i * d + j]!;
    }
  const perm = derangement(n, 77);
  const ind = new Float32Array(n * d);
  for (let i = 0; i < n; i++) ind.set(z.subarray(perm[i]! * d, (perm[i]! + 1) * d), i * d);
  return { s, z, phi, rot, ind };
}

test('copying metrics on constructed couplings: identity, rotation of the noise, independent', () => {
  const d = 4;
  const n = 512;
  const { s, z, phi, rot, ind } = couplings(d, n);
  const m = (recovered: Float32Array) => copyingMetrics({ z, student: recovered.map((v) => s * v), teacher: phi, recovered, d, sigmaData: 1, otRows: 256 });

  const copy = m(z);
  assert.equal(copy.dCopy, 0);
  assert.equal(copy.dNoise, 0);
  assert.equal(copy.copyingScore, 1);
  assert.ok(copy.procrustes!.rotationDistance < 1e-6 && copy.procrustes!.residual < 1e-9);
  assert.equal(copy.energy.e1, 0);
  assert.equal(copy.energy.e3, 0);

  const remap = m(rot);
  assert.ok(Math.abs(remap.dNoise! - 1) < 0.1, `rotation dNoise ${remap.dNoise}`);
  assert.ok(remap.copyingScore < 0.1);
  assert.ok(remap.dCopy > 0.85, `rotation dCopy ${remap.dCopy}`);
  // a global rotation: Procrustes finds it (distance 1 for 90°) and explains all of it
  assert.ok(Math.abs(remap.procrustes!.rotationDistance - 1) < 0.05 && remap.procrustes!.residual < 1e-6);

  const indep = m(ind);
  assert.ok(Math.abs(indep.dNoise! - 1) < 0.15, `independent dNoise ${indep.dNoise}`);
  assert.ok(Math.abs(indep.dCopy - 1) < 0.15, `independent dCopy ${indep.dCopy}`);
  assert.ok(indep.copyingScore < 0.15);
  // no orthogonal map explains an independent coupling
  assert.ok(indep.procrustes!.residual > 0.8, `independent residual ${indep.procrustes!.residual}`);
  // the energy view: the teacher's map is the monotone (optimal) one; the independent pairing sits at ΔE₂ ≈ 1
  assert.ok(Math.abs(indep.energy.e2Student - 1) < 0.1 && Math.abs(copy.energy.e2Student - copy.energy.e2Teacher) < 1e-9);
});

test('exact assignment: the Hungarian cost undoes a shuffle', () => {
  const d = 3;
  const n = 64;
  const z = new Rng([1]).normals(n * d);
  const perm = derangement(n, 5);
  const m = new Float32Array(n * d);
  for (let i = 0; i < n; i++) m.set(z.subarray(perm[i]! * d, (perm[i]! + 1) * d), i * d);
  assert.ok(otEnergy(m, z, d, 1, n) < 1e-9);
});
