/** The copying bench's run: a trained MLP teacher copied exactly into student and fake, the verdict, and a budget
 * that stops at the first measurement meeting its rule. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runCopyingArm } from '../../bench/sweeps/copying-run.ts';
import { measureAlong } from '../../bench/sweeps/measure.ts';
import { openExecutor } from '../../runtime/open.ts';
import { buildIR } from '../../dsl/pipeline.ts';
import { copying } from '../../pipelines/copying.ts';

test('F4: the student starts as an exact copy of the trained teacher (its own flow map is Φ itself) and is measured against the teacher’s distribution', async () => {
  const r = await runCopyingArm({ arm: 'f4', dim: 4, seed: 1, overrides: { data: 'ring', teacher: 'mlp', init: 'teacher', ratio: 1, steps: 4, evalEvery: 2, batch: 32 }, evalSamples: 128, backend: 'cpu', teacherSteps: 30 });
  assert.equal(r.initialFlowMap.dCopy, 0);
  assert.equal(r.initialFlowMap.modeAgreement, 1);
  assert.ok(r.trainedTeacher && Number.isFinite(r.trainedTeacher.teacherError) && r.trainedTeacher.steps === 30);
  // quality is measured against the teacher's own distribution: a 30-update teacher is far from the data (its mode
  // masses are off by a TV of 0.6) yet at distance ≈ 0 from itself, so the floor stays tight
  assert.ok(r.teacher.modeTV > 0.3, `mode TV ${r.teacher.modeTV}`);
  assert.ok(Math.abs(r.teacher.energyDistance) < 0.01, `the teacher against its own samples: ${r.teacher.energyDistance}`);
  assert.deepEqual(r.curve.map((p) => p.step), [0, 2, 4]);
  assert.ok(['collapsed', 'unconverged', 'converged'].includes(r.verdict));
  // the in-plane and off-plane parts are measured on F2
  assert.equal(typeof r.final.dCopyInPlane, 'number');
  assert.equal(typeof r.final.dCopyOffPlane, 'number');
});

test('a pre-fitted student’s own flow map differs from Φ: the pre-fit’s error is measured, not assumed away', async () => {
  const r = await runCopyingArm({ arm: 'prefit', dim: 4, seed: 1, overrides: { data: 'ring', init: 'teacher', ratio: 1, steps: 2, evalEvery: 2, prefitSteps: 20, batch: 32 }, evalSamples: 128, backend: 'cpu' });
  assert.ok(r.initialFlowMap.dCopy > 0, `dCopy ${r.initialFlowMap.dCopy}`);
  assert.equal(r.trainedTeacher, undefined);
});

test('measureAlong stops at the first measurement that meets `done`; `steps` is only the cap', async () => {
  const ir = buildIR(copying, { dim: 2, data: 'ring', init: 'random', fakeWarmup: 0, steps: 10, evalEvery: 2, batch: 16 });
  const exe = await openExecutor(ir, 1, 'cpu');
  try {
    const seen = await measureAlong(exe, 10, 2, (step) => step, { done: (step) => step >= 4 });
    assert.deepEqual(seen, [0, 2, 4]);
  } finally {
    exe.dispose();
  }
});
