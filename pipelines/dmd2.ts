/** @file DMD2 on 2-D toys: one-step student, fake score at 5 updates per student update, no regression. */
import { z } from 'zod';
import { pipeline, type PipelineDef } from '../dsl/pipeline.ts';
import { options } from '../dsl/options.ts';
import { adam } from '../dsl/builder.ts';
import { mlp, type Toy } from '../dsl/models.ts';
import { dmd, denoisingLoss } from '../dsl/objectives/dmd.ts';

/** DMD2's options; `fourier` is the one knob the grid changes (its default there is 4). */
export const dmd2Options = (o: { fourier?: number } = {}) =>
  options(
    {
      hidden: z.int().min(1).default(128).describe('width of each MLP'),
      layers: z.int().min(1).default(2).describe('hidden layers of each MLP'),
      fourier: z.int().min(0).default(o.fourier ?? 0).describe("Fourier features of the student's noise input (0: off)"),
      lrStudent: z.number().positive().default(3e-4).describe('Adam learning rate of the student'),
      lrFake: z.number().positive().default(1e-3).describe('Adam learning rate of the fake score'),
      ratio: z.int().min(1).default(5).describe('fake-score updates per student update'),
      fakeWarmup: z.int().min(0).default(200).describe('fake-score updates before the first student update'),
      tMin: z.number().min(0).max(1).default(0.02).describe('the DMD loss draws t ~ U[tMin, tMax]'),
      tMax: z.number().min(0).max(1).default(0.98).describe('the DMD loss draws t ~ U[tMin, tMax]'),
      normFloor: z.number().min(0).default(0).describe("a floor under DMD's per-sample normaliser mean|x − x0_real| (0: none)"),
      fakeWeighting: z.enum(['none', 'snr']).default('none').describe("the fake score's x0 errors weighted by 1 + α²/σ² ('snr', DMD2's ε-loss in x0 form) or not ('none')"),
      ema: z.number().min(0).lt(1).default(0).describe("EMA decay of the student's weights used for evaluation and export (0: off)"),
    },
    { batch: 256, steps: 6000, evalEvery: 500 },
  );
export type Dmd2Config = z.output<ReturnType<typeof dmd2Options>>;

export function dmd2Toy(name: string, target: Toy, schema = dmd2Options()): PipelineDef<Dmd2Config> {
  return pipeline(
    name,
    schema,
    (g, c) => {
      const D = target.dim;
      const teacher = g.frozen('teacher', target.denoiser('rf'));
      const student = g.trainable('student', mlp({ in: D, out: D, hidden: c.hidden, layers: c.layers, fourier: c.fourier }));
      const fake = g.trainable('fake', mlp({ in: D, out: D, hidden: c.hidden, layers: c.layers, time: true }));

      const z = g.noise([g.B, D]);
      const x = g.named('x', student(z));
      const { loss, grad } = dmd(g, { x, teacher, fake, schedule: 'rf', t: [c.tMin, c.tMax], normFloor: c.normFloor });
      g.minimize(student, loss, { optimizer: adam(c.lrStudent), ema: c.ema });
      g.minimize(fake, denoisingLoss(g, fake, g.stopGradient(x), { schedule: 'rf', weighting: c.fakeWeighting }), { optimizer: adam(c.lrFake), ratio: c.ratio, warmup: c.fakeWarmup });

      g.output('dmdGradNorm', grad.square().sum([1]).sqrt().mean());
      g.evaluate({ samples: x, target, teacher, schedule: 'rf', noise: z });
    },
    `DMD2 on ${target.name}: one-step student, 5:1 fake-score updates, exact rectified-flow teacher`,
  );
}
