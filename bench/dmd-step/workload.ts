/** @file The dmd-step reference workload (docs/performance.md) as a distillery pipeline: one step = 5 fake-score
 * updates + 1 generator update, B = H = 256, three 3-layer SiLU MLPs, a random frozen teacher, Adam lr 1e-4. */
import { z } from 'zod';
import { pipeline } from '../../dsl/pipeline.ts';
import { options } from '../../dsl/options.ts';
import { adam } from '../../dsl/builder.ts';
import { mlp } from '../../dsl/models.ts';
import { dmd, denoisingLoss } from '../../dsl/objectives/dmd.ts';

export const T_RANGE = [0.02, 0.98] as const;
export const LR = 1e-4;
export const FAKE_STEPS = 5;

export const dmdStepOptions = options(
  {
    dim: z.int().min(1).default(2).describe('data dimension D'),
    hidden: z.int().min(1).default(256).describe('MLP width H'),
  },
  { batch: 256, steps: 50, evalEvery: 0 },
);

/** The same networks as the eager version: no Fourier features of x, 8 time frequencies (E = 16). */
export const dmdStep = pipeline(
  'dmd-step',
  dmdStepOptions,
  (g, c) => {
    const D = c.dim;
    const net = (time: boolean) => mlp({ in: D, out: D, hidden: c.hidden, layers: 2, time, frequencies: 8 });
    const teacher = g.frozen('teacher', net(true));
    const student = g.trainable('student', net(false));
    const fake = g.trainable('fake', net(true));
    const zs = g.noise([g.B, D]);
    const x = student(zs);
    const { loss } = dmd(g, { x, teacher, fake, schedule: 'rf', t: T_RANGE });
    g.minimize(student, loss, { optimizer: adam(LR) });
    g.minimize(fake, denoisingLoss(g, fake, g.stopGradient(x), { schedule: 'rf', t: T_RANGE }), { optimizer: adam(LR), ratio: FAKE_STEPS });
  },
  'the reference DMD2 benchmark step: 5 fake-score updates + 1 generator update, random frozen teacher',
);
export default dmdStep;
