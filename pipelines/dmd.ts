/** @file DMD (Yin et al. 2024) on the ring: distribution matching plus the regression loss on teacher noise→sample
 * pairs (λ_reg = 0.25, MSE in place of LPIPS), fake score updated once per student update. */
import { pipeline } from '../dsl/pipeline.ts';
import { adam } from '../dsl/builder.ts';
import { mlp, toy } from '../dsl/models.ts';
import { dmd, denoisingLoss, regressionLoss } from '../ops/objectives.ts';

export const dmdRing = pipeline(
  'dmd-ring',
  { batch: 256, steps: 2000, evalEvery: 250, hidden: 128, lrStudent: 3e-4, lrFake: 1e-3, lambdaReg: 0.25, odeSteps: 16, fakeWarmup: 200 },
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
