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
import { discriminatorLoss, generatorLoss, type GanHead } from '../dsl/objectives/gan.ts';
import { UserError } from '../dsl/errors.ts';

export const copyingOptions = options(
  {
    dim: z.int().min(1).default(8).describe('dimension d of the data'),
    data: z.enum(['gaussians', 'ring']).default('gaussians').describe("'gaussians': F1, 8 Gaussians spread over R^d; 'ring': F2, the 2-D ring of 8 embedded in R^d (intrinsic dimension 2)"),
    separation: z.number().min(0).default(6).describe("F1: the nearest means this many component stds apart at every d (0: means drawn at random, which nearly merge at d = 2)"),
    teacher: z.enum(['exact', 'mlp']).default('exact').describe("'exact': the closed-form denoiser; 'mlp': a trained MLP teacher loaded from teacherWeights (the copying-teacher pipeline), whose weights student and fake start from exactly"),
    teacherWeights: z.string().default('').describe("teacher 'mlp': the safetensors file of the trained teacher (weights/teacher.safetensors of a copying-teacher run with the same dim, data and width)"),
    gan: z.number().min(0).default(0).describe("weight of DMD2's non-saturating GAN term in the student's loss, on the fake score's features (0: no GAN head)"),
    logPairing: z.boolean().default(false).describe("log dCopy = pairingError(G(z), Φ(z)) every step (costs the teacher's ODE each step)"),
    init: z.enum(['teacher', 'random']).default('teacher').describe("'teacher': student and fake start as an MLP pre-fit to the exact teacher; 'random': fresh weights"),
    ratio: z.int().min(1).default(5).describe('fake-score updates per student update'),
    regression: z.number().min(0).default(0).describe("λ_reg of DMD's regression on (z, Φ(z)) pairs (0: off; 0.25 is DMD's)"),
    odeSteps: z.int().min(1).default(16).describe("Heun steps of the teacher's ODE for the regression pairs"),
    width: z.int().min(0).default(0).describe('MLP width (0: clamp(2d, 128, 1024))'),
    layers: z.int().min(1).default(3).describe('hidden layers of each MLP'),
    // 1e-4 for both networks, as the copying paper's setting (DMD2's two time-scale rule at a CPU-sized network).
    // 1e-3 fits a short budget but makes a teacher-initialised student drift off the teacher's map fastest at high d:
    // the learning rate is a swept arm of the bench, never a fixed choice behind a conclusion (docs/methods/copying.md)
    lrStudent: z.number().positive().default(1e-4).describe('Adam learning rate of the student'),
    lrFake: z.number().positive().default(1e-4).describe('Adam learning rate of the fake score'),
    prefitSteps: z.int().min(0).default(500).describe('pre-fit updates of student and fake to the teacher (init teacher)'),
    fakeWarmup: z.int().min(0).default(300).describe('fake-score warm-up on student samples (init random)'),
    tStar: z.number().gt(0).lt(1).default(0.98).describe('the generator is G(z) = D(t*·z, t*)'),
  },
  { batch: 256, steps: 300, evalEvery: 100 },
);
export type CopyingConfig = z.output<typeof copyingOptions>;

const widthFor = (c: Pick<CopyingConfig, 'width' | 'dim'>) => c.width || Math.min(1024, Math.max(128, 2 * c.dim));

/** F1 (with fixed separation, or random means) or F2, from the options both copying pipelines share */
const targetOf = (c: Pick<CopyingConfig, 'data' | 'dim' | 'separation'>) =>
  c.data === 'ring' ? toy.embeddedRing({ dim: c.dim }) : c.separation > 0 ? toy.separatedGaussians({ dim: c.dim, separation: c.separation }) : toy.gaussians({ dim: c.dim });
const netOf = (c: Pick<CopyingConfig, 'width' | 'dim' | 'layers'>) => mlp({ in: c.dim, out: c.dim, hidden: widthFor(c), layers: c.layers, time: true });

export const copying = pipeline(
  'copying',
  copyingOptions,
  (g, c) => {
    const target = targetOf(c);
    const D = c.dim;
    const net = netOf(c);
    if (c.teacher === 'mlp' && !c.teacherWeights) throw new UserError("teacher 'mlp' needs teacherWeights: the weights/teacher.safetensors of a copying-teacher run");
    // a trained teacher is copied exactly into student and fake (DMD2's init); the exact one is pre-fitted below
    const teacher = c.teacher === 'mlp' ? g.frozen('teacher', net, { load: c.teacherWeights }) : g.frozen('teacher', target.denoiser('rf'));
    const fromTeacher = c.teacher === 'mlp' && c.init === 'teacher' ? { initFrom: teacher } : {};
    const student = g.trainable('student', net, fromTeacher);
    const fake = g.trainable('fake', net, fromTeacher);

    if (c.init === 'teacher' && c.teacher === 'exact') {
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
    const xs = g.stopGradient(x);
    let fakeLoss = denoisingLoss(g, fake, xs, { schedule: 'rf' });
    let head, disc;
    if (c.gan > 0) {
      // DMD2's GAN head on the fake score's last hidden features; the discriminator term joins the fake's loss
      head = g.trainable('head', mlp({ in: widthFor(c), out: 1, hidden: 64, layers: 1 }));
      const gan: GanHead = { features: fake.output('features'), head, schedule: 'rf' };
      disc = discriminatorLoss(g, { ...gan, real: g.data(target), fake: xs });
      loss = loss.add(generatorLoss(g, { ...gan, x }).mul(c.gan));
      fakeLoss = fakeLoss.add(disc);
    }
    const warmup = c.init === 'random' ? c.fakeWarmup : 0;
    g.minimize(student, loss, { optimizer: adam(c.lrStudent) });
    g.minimize(fake, fakeLoss, { optimizer: adam(c.lrFake), ratio: c.ratio, warmup });
    if (head && disc) g.minimize(head, disc, { optimizer: adam(c.lrFake), ratio: c.ratio, warmup });
    if (c.logPairing) g.output('dCopy', g.noGrad(() => g.pairingError(x, g.odeSolve(teacher, z, { schedule: 'rf', solver: 'heun', steps: c.odeSteps }))));
    g.evaluate({ samples: x, target, teacher, schedule: 'rf', noise: z });
  },
  'Copying experiment: DMD2 student of an exact or trained teacher on 8 Gaussians (F1) or a ring (F2) in R^d (options: dim, data, init, teacher, ratio, regression, gan)',
);

/**
 * The trained teacher of the copying experiment (F4): the student's MLP fitted to the same data by denoising score
 * matching. Its weights land in weights/teacher.safetensors for `copying --set teacher=mlp`. `teacherError` logs
 * E‖D_θ(x_t, t) − D*(x_t, t)‖² / E‖D*(x_t, t) − x₀‖², its distance from the exact denoiser D* relative to D*'s own
 * error: how converged the teacher is.
 */
export const copyingTeacher = pipeline(
  'copying-teacher',
  options(
    {
      dim: copyingOptions.shape.dim,
      data: copyingOptions.shape.data,
      separation: copyingOptions.shape.separation,
      width: copyingOptions.shape.width,
      layers: copyingOptions.shape.layers,
      lr: z.number().positive().default(1e-3).describe('Adam learning rate'),
    },
    { batch: 256, steps: 4000, evalEvery: 1000 },
  ),
  (g, c) => {
    const target = targetOf(c);
    const teacher = g.trainable('teacher', netOf(c));
    const exact = g.frozen('exact', target.denoiser('rf'));
    g.minimize(teacher, denoisingLoss(g, teacher, g.data(target), { schedule: 'rf' }), { optimizer: adam(c.lr) });
    const x0 = g.data(target);
    const { t, xt } = g.diffuse(x0, { schedule: 'rf', t: [0.001, 0.999] });
    const best = g.noGrad(() => exact(xt, t));
    g.output('teacherError', g.noGrad(() => teacher(xt, t).sub(best).square().sum([1]).mean().div(best.sub(x0).square().sum([1]).mean())));
    const samples = g.noGrad(() => g.odeSolve(teacher, g.noise([g.B, c.dim]), { schedule: 'rf', solver: 'heun', steps: 32 }));
    g.evaluate({ samples, target, teacher, schedule: 'rf' });
  },
  'The copying experiment’s trained MLP teacher (F4): denoising score matching on its data; saves weights/teacher.safetensors',
);
