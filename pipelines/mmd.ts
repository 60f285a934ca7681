/**
 * @file Continuous MMD (Salimans et al. 2024; docs/methods/dmmd.md), the alternating auxiliary-model variant, on the
 * ring: a k-step generator x̂_η(z_t) whose samples z_s ~ q(z_s | z_t, x̂_η) are judged by the teacher and an
 * auxiliary fitted to them. Student and auxiliary start as fits to the exact teacher (a warm-up phase each), or the
 * auxiliary as the exact teacher plus a zero-initialised correction (option aux 'residual').
 */
import { z } from 'zod';
import { pipeline } from '../dsl/pipeline.ts';
import { options } from '../dsl/options.ts';
import { adam } from '../dsl/builder.ts';
import { mlp, toy } from '../dsl/models.ts';
import type { Port } from '../dsl/port.ts';
import type { Shape } from '../dsl/types.ts';
import { mmdLosses, stepInterval } from '../dsl/objectives/dmmd.ts';
import { prefitToTeacher } from '../dsl/objectives/dmd.ts';
import { decayOf, lrDecayOptions } from './lr-decay-options.ts';

type F = Port<'f32', Shape>;

export const mmdOptions = options(
  {
    k: z.int().min(1).max(64).default(4).describe('generator sampling steps'),
    hidden: z.int().min(1).default(128).describe('width of each MLP'),
    layers: z.int().min(1).default(3).describe('hidden layers of each MLP'),
    // measured (docs/methods/dmmd.md, 3 seeds): at these rates and a constant rate the energy distance turns upward
    // after ~500 steps on some seeds; decayed along a cosine over the second half of 600 steps it ends at 0.0094–0.0104,
    // against 0.018–0.022 for the former defaults (3e-5 / 1e-3, 300 steps, constant)
    lr: z.number().positive().default(1e-4).describe('Adam learning rate of the generator'),
    lrAux: z.number().positive().default(1e-2).describe('Adam learning rate of the auxiliary'),
    prefitSteps: z.int().min(0).default(1500).describe('updates fitting generator and auxiliary to the teacher first'),
    // measured (docs/methods/dmmd.md): the auxiliary's error against ½(E_g[x|z_s] + x̂_θ) stays at a floor (largest at
    // small s, where the pre-fit is off the teacher) while the true signal ½(E_g − x̂_θ) falls; 'residual' removes the
    // pre-fit's part; it did not stop the drift in energy distance (one seed), so it is not the default
    aux: z.enum(['prefit', 'residual']).default('prefit').describe("'prefit': an MLP fitted to the teacher first; 'residual': x̂_θ + MLP with its last layer at zero, exactly the teacher at the start"),
    ema: z.number().min(0).lt(1).default(0).describe("EMA decay of the generator's weights, read by evaluation and samples (0: off); see docs/methods/dmmd.md on the drift"),
    ...lrDecayOptions('cosine'),
  },
  { batch: 256, steps: 600, evalEvery: 100 },
);

export const mmdRing = pipeline(
  'mmd-ring',
  mmdOptions,
  (g, c) => {
    const target = toy.ring();
    const teacher = g.frozen('teacher', target.denoiser('rf'));
    const net = mlp({ in: 2, out: 2, hidden: c.hidden, layers: c.layers, time: true });
    const student = g.trainable('student', net);
    const residual = c.aux === 'residual';
    const aux = g.trainable('aux', residual ? mlp({ in: 2, out: 2, hidden: c.hidden, layers: c.layers, time: true, lastScale: 0 }) : net);
    prefitToTeacher(g, residual ? [student] : [aux, student], teacher, () => g.data(target), { steps: c.prefitSteps, t: [0.001, 1] });
    // x̂_φ(z, s): the auxiliary's prediction, a correction on top of the frozen teacher when residual
    const auxAt = (z: F, s: F) => (residual ? teacher(z, s).stopGradient().add(aux(z, s)) : aux(z, s)) as F;

    // Algorithm: s ~ U(0,1), t = min(1, s + U(0, 1/k)); z_t from forward-diffused data
    const { s, t } = stepInterval(g, g.B, c.k);
    const zt = g.alpha(t, 'rf').mul(g.data(target)).add(g.sigma(t, 'rf').mul(g.noise([g.B, 2]))) as F;
    const xEta = student(zt, t) as F;
    const zs = g.noGrad(() => g.gaussPosterior(zt, xEta, t, s, 'rf'));
    const { gen, aux: auxLoss } = mmdLosses({ xEta, teacherAtZs: g.noGrad(() => teacher(zs, s) as F), auxAtZs: g.noGrad(() => auxAt(zs, s)), auxAtZsGrad: auxAt(zs, s) });
    g.minimize(aux, auxLoss, { optimizer: adam(c.lrAux, decayOf(c)) });
    g.minimize(student, gen, { optimizer: adam(c.lr, decayOf(c)), ema: c.ema });

    g.evaluate({ samples: g.ancestralSample(student, { schedule: 'rf', steps: c.k, dim: 2 }), target, teacher, schedule: 'rf' });
  },
  'Continuous MMD (alternating, auxiliary model) on ring8: a k-step generator distilled from the exact rectified-flow teacher',
);
