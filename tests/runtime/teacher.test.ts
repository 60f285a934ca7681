import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { runIR } from '../../runtime/run.ts';
import { buildIR, pipeline } from '../../dsl/pipeline.ts';
import { adam } from '../../dsl/builder.ts';
import { mlp, toy } from '../../dsl/models.ts';
import { dmd, denoisingLoss } from '../../dsl/objectives/dmd.ts';
import { compile } from '../../dsl/compile/index.ts';
import { loadBackend } from '../../gpu/backend.ts';
import { Executor } from '../../runtime/executor.ts';
import { initialWeights } from '../../runtime/init.ts';
import { loadSafetensors } from '../../runtime/safetensors.ts';
import { PIPELINES } from '../../pipelines/index.ts';
import { TEACHER_MLP } from '../../pipelines/dsm.ts';
import { lastValueFrom, of } from 'rxjs';
import { trainStep } from '../../runtime/train.ts';

const distil = (teacherFile: string, hidden: number = TEACHER_MLP.hidden) =>
  pipeline('dmd2-trained-teacher', { batch: 64, steps: 2, evalEvery: 0 }, (g) => {
    const teacher = g.frozen('teacher', mlp({ ...TEACHER_MLP, hidden }), { load: teacherFile });
    const student = g.trainable('student', mlp({ in: 2, out: 2 }));
    const fake = g.trainable('fake', mlp({ in: 2, out: 2, time: true }));
    const x = student(g.noise([g.B, 2]));
    g.minimize(student, dmd(g, { x, teacher, fake, schedule: 'rf' }).loss, { optimizer: adam(1e-4) });
    g.minimize(fake, denoisingLoss(g, fake, g.stopGradient(x), { schedule: 'rf' }), { optimizer: adam(1e-3), ratio: 5 });
    g.evaluate({ samples: x, target: toy.ring() });
  });

test('trained-teacher path: dsm-ring saves a teacher that a DMD2 pipeline loads frozen, unchanged by training', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'distillery-teacher-'));
  try {
    await runIR(buildIR(PIPELINES['dsm-ring']!, { batch: 64 }), { seed: 2, backend: 'cpu', out: path.join(dir, 'dsm'), steps: 20, quiet: true, evalSamples: 256 });
    const file = path.join(dir, 'dsm', 'weights', 'teacher.safetensors');
    const saved = loadSafetensors(file);
    const ir = buildIR(distil(file));
    const exe = new Executor(await loadBackend('cpu'), compile(ir), 1, initialWeights(ir, 1, loadSafetensors));
    await lastValueFrom(of(1, 2).pipe(trainStep(exe)));
    const after = exe.hostWeights('teacher');
    exe.dispose();
    for (const [k, t] of Object.entries(saved)) assert.deepEqual(Array.from(after[k]!.data), Array.from(t.data), k);
    // a file whose shapes do not fit the declared model is refused with the role and the tensor named
    const wrong = buildIR(distil(file, 64));
    assert.throws(() => initialWeights(wrong, 1, loadSafetensors), /role 'teacher'.*l0\.weight.*shape/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
