/** @file DMD (Yin et al. 2024) on the ring: distribution matching plus the regression loss on teacher noise→sample
 * pairs (λ_reg = 0.25, MSE in place of LPIPS), fake score updated once per student update. */
import { z } from 'zod';
import { pipeline } from '../dsl/pipeline.ts';
import { options } from '../dsl/options.ts';
import { adam } from '../dsl/builder.ts';
import { mlp, toy } from '../dsl/models.ts';
import { dmd, denoisingLoss, regressionLoss } from '../dsl/objectives/dmd.ts';

export const dmdRing = pipeline(
  'dmd-ring',
  options(
    {
      hidden: z.int().min(1).default(128).describe('width of each MLP'),
      lrStudent: z.number().positive().default(3e-4).describe('Adam learning rate of the student'),
      lrFake: z.number().positive().default(1e-3).describe('Adam learning rate of the fake score'),
      lambdaReg: z.number().min(0).default(0.25).describe('weight of the regression loss on teacher ODE pairs'),
      odeSteps: z.int().min(1).default(16).describe("Heun steps of the teacher's ODE for the regression pairs"),
      fakeWarmup: z.int().min(0).default(200).describe('fake-score updates before the first student update'),
    },
    { batch: 256, steps: 2000, evalEvery: 250 },
  ),
  (g, c) => {
    const target = toy.ring();
    const teacher = g.frozen('teacher', target.denoiser('rf'));
    const student = g.trainable('student', mlp({ in: 2, out: 2, hidden: c.hidden }));
    const fake = g.trainable('fake', mlp({ in: 2, out: 2, hidden: c.hidden, time: true }));

    const noise = g.noise([g.B, 2]);
    const x = g.named('x', student(noise));
    const { loss: dm } = dmd(g, { x, teacher, fake, schedule: 'rf' });
    // regression on pairs (z, Φ(z)) from the teacher's probability-flow ODE, drawn fresh each step
    const z = g.noise([g.B, 2]);
    const y = g.noGrad(() => g.odeSolve(teacher, z, { schedule: 'rf', solver: 'heun', steps: c.odeSteps }));
    const reg = regressionLoss(student(z), y);
    g.minimize(student, dm.add(reg.mul(c.lambdaReg)), { optimizer: adam(c.lrStudent) });
    g.minimize(fake, denoisingLoss(g, fake, g.stopGradient(x), { schedule: 'rf' }), { optimizer: adam(c.lrFake), warmup: c.fakeWarmup });

    g.output('regression', reg);
    g.evaluate({ samples: x, target, teacher, schedule: 'rf', noise });
  },
  'DMD on ring8: distribution matching + regression on teacher ODE pairs, 1:1 updates, exact rectified-flow teacher',
);
