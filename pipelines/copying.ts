/**
 * @file The copying experiment (docs/methods/copying.md): a DMD2 student of an exact teacher on K = 8 Gaussians
 * in R^d. Arms by option: initialised from the teacher or at random, update ratio 5 or 1, and DMD's regression on
 * teacher noise→data pairs as the positive control. The copying diagnostic compares G(z) with the teacher's Φ(z).
 *
 * Deviation from the EDM/VE setting of the paper (arXiv 2606.02237) and of DMD2: the rectified-flow schedule (x₁ = z),
 * so Φ starts from z itself. The one-step generator is G(z) = D_θ(t*·z, t*) at t* = 0.98 — the rf counterpart of
 * DMD2's D_θ(σ_max·z; σ_max): the same low signal-to-noise input (α/σ ≈ 0.02 vs 1/80), which the
 * teacher-initialised network maps nearly affinely.
 */
import { z } from 'zod';
import { pipeline } from '../dsl/pipeline.ts';
import { options } from '../dsl/options.ts';
import { adam } from '../dsl/builder.ts';
import { mlp, toy } from '../dsl/models.ts';
import { dmd, denoisingLoss, prefitToTeacher, regressionLoss } from '../dsl/objectives/dmd.ts';

export const copyingOptions = options(
  {
    dim: z.int().min(1).default(8).describe('dimension d of the data'),
    data: z.enum(['gaussians', 'ring']).default('gaussians').describe("'gaussians': F1, 8 Gaussians spread over R^d; 'ring': F2, the 2-D ring of 8 embedded in R^d (intrinsic dimension 2)"),
    logPairing: z.boolean().default(false).describe("log dCopy = pairingError(G(z), Φ(z)) every step (costs the teacher's ODE each step)"),
    init: z.enum(['teacher', 'random']).default('teacher').describe("'teacher': student and fake start as an MLP pre-fit to the exact teacher; 'random': fresh weights"),
    ratio: z.int().min(1).default(5).describe('fake-score updates per student update'),
    regression: z.number().min(0).default(0).describe("λ_reg of DMD's regression on (z, Φ(z)) pairs (0: off; 0.25 is DMD's)"),
    odeSteps: z.int().min(1).default(16).describe("Heun steps of the teacher's ODE for the regression pairs"),
    width: z.int().min(0).default(0).describe('MLP width (0: clamp(2d, 128, 256))'),
    layers: z.int().min(1).default(3).describe('hidden layers of each MLP'),
    // 1e-3, not 1e-4: the budget here is ~50× shorter than the 20k generator updates of a full run (at d = 64,
    // 400 steps: energy distance 0.025 at 1e-3 vs 0.076 at 1e-4)
    lrStudent: z.number().positive().default(1e-3).describe('Adam learning rate of the student'),
    lrFake: z.number().positive().default(1e-3).describe('Adam learning rate of the fake score'),
    prefitSteps: z.int().min(0).default(500).describe('pre-fit updates of student and fake to the teacher (init teacher)'),
    fakeWarmup: z.int().min(0).default(300).describe('fake-score warm-up on student samples (init random)'),
    tStar: z.number().gt(0).lt(1).default(0.98).describe('the generator is G(z) = D(t*·z, t*)'),
  },
  { batch: 256, steps: 300, evalEvery: 100 },
);
export type CopyingConfig = z.output<typeof copyingOptions>;

const widthFor = (c: Pick<CopyingConfig, 'width' | 'dim'>) => c.width || Math.min(256, Math.max(128, 2 * c.dim));

export const copying = pipeline(
  'copying',
  copyingOptions,
  (g, c) => {
    const target = c.data === 'ring' ? toy.embeddedRing({ dim: c.dim }) : toy.gaussians({ dim: c.dim });
    const D = c.dim;
    const net = mlp({ in: D, out: D, hidden: widthFor(c), layers: c.layers, time: true });
    const teacher = g.frozen('teacher', target.denoiser('rf'));
    const student = g.trainable('student', net);
    const fake = g.trainable('fake', net);

    if (c.init === 'teacher') {
      // pre-fit both networks to the exact teacher on noised data (DMD2 starts both as copies of the teacher)
      prefitToTeacher(g, [student, fake], teacher, () => g.data(target), { steps: c.prefitSteps, t: [0.001, 0.999] });
    }

    const z = g.noise([g.B, D]);
    const x = g.named('x', student(z.mul(c.tStar), g.fill([g.B, 1], c.tStar)));
    let loss = dmd(g, { x, teacher, fake, schedule: 'rf' }).loss;
    if (c.regression > 0) {
      const y = g.noGrad(() => g.odeSolve(teacher, z, { schedule: 'rf', solver: 'heun', steps: c.odeSteps }));
      loss = loss.add(regressionLoss(x, y).mul(c.regression));
    }
    g.minimize(student, loss, { optimizer: adam(c.lrStudent) });
    g.minimize(fake, denoisingLoss(g, fake, g.stopGradient(x), { schedule: 'rf' }), {
      optimizer: adam(c.lrFake),
      ratio: c.ratio,
      warmup: c.init === 'random' ? c.fakeWarmup : 0,
    });
    if (c.logPairing) g.output('dCopy', g.noGrad(() => g.pairingError(x, g.odeSolve(teacher, z, { schedule: 'rf', solver: 'heun', steps: c.odeSteps }))));
    g.evaluate({ samples: x, target, teacher, schedule: 'rf', noise: z });
  },
  'Copying experiment: DMD2 student of an exact teacher on 8 Gaussians in R^d (options: dim, init, ratio, regression)',
);
