/** @file DMD2 on 2-D toys: one-step student, fake score at 5 updates per student update, no regression. */
import { pipeline, type PipelineDef, type RunDefaults } from '../dsl/pipeline.ts';
import { adam } from '../dsl/builder.ts';
import { mlp, type Toy } from '../dsl/models.ts';
import { dmd, denoisingLoss } from '../ops/objectives.ts';

export interface Dmd2Config extends RunDefaults {
  hidden: number;
  /** hidden layers of each MLP */
  layers: number;
  /** Fourier features of the student's noise input (0: off) */
  fourier: number;
  lrStudent: number;
  lrFake: number;
  ratio: number;
  fakeWarmup: number;
  /** the DMD loss draws t ~ U[tMin, tMax] */
  tMin: number;
  tMax: number;
}

export const dmd2Defaults: Dmd2Config = { batch: 256, steps: 6000, evalEvery: 500, hidden: 128, layers: 2, fourier: 0, lrStudent: 3e-4, lrFake: 1e-3, ratio: 5, fakeWarmup: 200, tMin: 0.02, tMax: 0.98 };

export function dmd2Toy(name: string, target: Toy, defaults: Dmd2Config = dmd2Defaults): PipelineDef<Dmd2Config> {
  return pipeline(
    name,
    defaults,
    (g, c) => {
      const D = target.dim;
      const teacher = g.frozen('teacher', target.denoiser('rf'));
      const student = g.trainable('student', mlp({ in: D, out: D, hidden: c.hidden, layers: c.layers, fourier: c.fourier }));
      const fake = g.trainable('fake', mlp({ in: D, out: D, hidden: c.hidden, layers: c.layers, time: true }));

      const z = g.noise([g.B, D]);
      const x = g.named('x', student(z));
      const { loss, grad } = dmd(g, { x, teacher, fake, schedule: 'rf', t: [c.tMin, c.tMax] });
      g.minimize(student, loss, { optimizer: adam(c.lrStudent) });
      g.minimize(fake, denoisingLoss(g, fake, g.stopGradient(x), { schedule: 'rf' }), { optimizer: adam(c.lrFake), ratio: c.ratio, warmup: c.fakeWarmup });

      g.output('dmdGradNorm', grad.square().sum([1]).sqrt().mean());
      g.evaluate({ samples: x, target, teacher, schedule: 'rf', noise: z });
    },
    `DMD2 on ${target.name}: one-step student, ${defaults.ratio}:1 fake-score updates, exact rectified-flow teacher`,
  );
}
