/** @file The trained-teacher path: fit an MLP denoiser to ring samples with denoising score matching. Its final
 * weights land in the run folder as weights/teacher.safetensors, loadable by `g.frozen(..., { load })`. */
import { z } from 'zod';
import { pipeline } from '../dsl/pipeline.ts';
import { options } from '../dsl/options.ts';
import { adam } from '../dsl/builder.ts';
import { mlp, toy } from '../dsl/models.ts';
import { denoisingLoss } from '../dsl/objectives/dmd.ts';

export const TEACHER_MLP = { in: 2, out: 2, hidden: 128, time: true } as const;

export const dsmRing = pipeline(
  'dsm-ring',
  options({ lr: z.number().positive().default(1e-3).describe('Adam learning rate') }, { batch: 256, steps: 3000, evalEvery: 500 }),
  (g, c) => {
    const target = toy.ring();
    const teacher = g.trainable('teacher', mlp(TEACHER_MLP));
    g.minimize(teacher, denoisingLoss(g, teacher, g.data(target), { schedule: 'rf' }), { optimizer: adam(c.lr) });
    const samples = g.noGrad(() => g.odeSolve(teacher, g.noise([g.B, 2]), { schedule: 'rf', solver: 'heun', steps: 16 }));
    g.evaluate({ samples, target, teacher, schedule: 'rf' });
  },
  'Pre-train a rectified-flow MLP teacher on ring8 with denoising score matching; saves weights/teacher.safetensors',
);
