/** The summary's headline numbers: which teacher samplers the student beats, its step count, the one-line headline. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { beatsTeacherSteps, studentSteps, teacherHeadline } from '../../runtime/evaluate.ts';
import { buildIR } from '../../dsl/pipeline.ts';
import { PIPELINES } from '../../pipelines/index.ts';

// the teacher's Euler ladder of dmd2-ring (docs/methods/dmd.md)
const EULER = { '1': 1.447, '2': 0.157, '4': 0.0106, '8': 0.00244, '16': 0.00028, '32': -0.0002, '64': -0.0003 };
const HEUN = { '1': 1.447, '2': 0.0305, '4': 0.0017, '8': -0.00007, '16': -0.0003 };

test('beatsTeacherSteps: the largest step count the student matches or beats, with every cheaper one', () => {
  assert.equal(beatsTeacherSteps(EULER, 0.0095), 4); // between 4 steps (0.0106) and 8 (0.00244)
  assert.equal(beatsTeacherSteps(EULER, 0.00244), 8); // a tie counts
  assert.equal(beatsTeacherSteps(EULER, 2), null); // worse than 1 step
  assert.equal(beatsTeacherSteps(EULER, -0.001), 64); // the whole ladder
  assert.equal(beatsTeacherSteps({}, 0.01), null);
  // a noisy ladder: beating 32 steps but not 16 does not count as beating 32
  assert.equal(beatsTeacherSteps({ '8': 0.002, '16': 0.0003, '32': 0.0005 }, 0.0004), 8);
});

test('the headline names the samplers beaten and the next ones, which are not', () => {
  assert.equal(
    teacherHeadline({ studentSteps: 1, energyDistance: 0.0095, euler: EULER, heun: HEUN }),
    "the student (1 step, energy distance 0.0095) beats the teacher's 4-step Euler (0.0106) and 2-step Heun (0.0305) samplers, not its 8-step Euler (0.00244) or 4-step Heun (0.0017)",
  );
  assert.equal(
    teacherHeadline({ studentSteps: null, energyDistance: 2, euler: EULER, heun: HEUN }),
    "the student (energy distance 2) beats none of the teacher's samplers, not even its 1-step Euler (1.45) or 1-step Heun (1.45)",
  );
  assert.equal(
    teacherHeadline({ studentSteps: 4, energyDistance: -0.001, euler: EULER, heun: HEUN }),
    "the student (4 steps, energy distance -0.001) beats the teacher's 64-step Euler (-0.0003) and 16-step Heun (-0.0003) samplers, the largest on its ladders",
  );
  assert.equal(teacherHeadline({ studentSteps: 1, energyDistance: 0.01, euler: {}, heun: {} }), 'the student (1 step, energy distance 0.01): no teacher sampler to compare with');
});

test("the student's step count is read from the graph: 1 for a one-step generator, k for a k-step sampler", () => {
  assert.equal(studentSteps(buildIR(PIPELINES['dmd2-ring']!)), 1);
  assert.equal(studentSteps(buildIR(PIPELINES['mmd-ring']!, { k: 3 })), 3);
  const ir = buildIR(PIPELINES['dmd2-ring']!);
  assert.equal(studentSteps({ ...ir, eval: undefined }), null);
});
