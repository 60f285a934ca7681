/** @file DMD2 on 2-D toys: a one-step (or k-step, with backward simulation) student, fake score at 5 updates per student
 * update, optional GAN head on the fake score's features, no regression. */
import { z } from 'zod';
import { pipeline, type PipelineDef } from '../dsl/pipeline.ts';
import { options } from '../dsl/options.ts';
import { adam } from '../dsl/builder.ts';
import { mlp, type Toy } from '../dsl/models.ts';
import { dmd, denoisingLoss } from '../dsl/objectives/dmd.ts';
import { discriminatorLoss, generatorLoss, type GanHead } from '../dsl/objectives/gan.ts';
import { backwardSimulation, multistepSample, prefitOnLadder, studentLadder } from '../dsl/objectives/multistep.ts';
import { decayOf, lrDecayOptions } from './lr-decay-options.ts';

/** the defaults a toy may set apart from the others' */
export interface Dmd2ToyDefaults {
  steps?: number;
  studentSteps?: number;
  studentPrefit?: number;
}

/** DMD2's options. The defaults are the recipe measured best within about five minutes on two cores
 * (docs/methods/dmd.md): a one-step student with 3 hidden layers and 8 Fourier features of its noise, DMD's normaliser
 * taken over the batch with a floor of 0.05, 10,000 steps with every learning rate decayed along a cosine over the
 * second half; the GAN head, EMA, SNR weighting and k-step students are options. `toy` changes the step count
 * and the student's steps and pre-fit for one toy (the grid's 4-step student). */
export const dmd2Options = (toy: Dmd2ToyDefaults = {}) =>
  options(
    {
      hidden: z.int().min(1).default(128).describe('width of each MLP'),
      layers: z.int().min(1).default(3).describe('hidden layers of each MLP'),
      fourier: z.int().min(0).default(8).describe("Fourier features of the student's noise input (0: off)"),
      fourierDirections: z.int().min(0).default(0).describe("take the student's Fourier features along n directions equally spaced in angle (0: along the coordinates; 2-D toys)"),
      lrStudent: z.number().positive().default(3e-4).describe('Adam learning rate of the student'),
      lrFake: z.number().positive().default(1e-3).describe('Adam learning rate of the fake score'),
      ratio: z.int().min(1).default(5).describe('fake-score updates per student update'),
      fakeWarmup: z.int().min(0).default(200).describe('fake-score updates before the first student update'),
      tMin: z.number().min(0).max(1).default(0.02).describe('the DMD loss draws t ~ U[tMin, tMax]'),
      tMax: z.number().min(0).max(1).default(0.98).describe('the DMD loss draws t ~ U[tMin, tMax]'),
      normFloor: z.number().min(0).default(0.05).describe("a floor under DMD's normaliser mean|x − x0_real| (0: none)"),
      normalizer: z.enum(['sample', 'batch']).default('batch').describe("DMD's normaliser mean|x − x0_real| per sample (DMD2) or over the whole batch (one scalar)"),
      fakeWeighting: z.enum(['none', 'snr']).default('none').describe("the fake score's x0 errors weighted by 1 + α²/σ² ('snr', DMD2's ε-loss in x0 form) or not ('none')"),
      studentSteps: z.int().min(1).max(16).default(toy.studentSteps ?? 1).describe('steps of the student on the ladder t = 1, 1 − 1/k, …, 1/k; k > 1 trains by backward simulation'),
      ganGenerator: z.number().min(0).default(0).describe("weight of the non-saturating GAN term in the student's loss (0: no GAN head)"),
      ganDiscriminator: z.number().min(0).default(1).describe("weight of the discriminator term in the fake score's (and head's) loss"),
      studentRenoise: z.enum(['fresh', 'ddim']).default('fresh').describe("how a k-step student's sampler reaches its next rung: fresh noise (DMD2) or DDIM's implied noise (deterministic)"),
      fakeReadsRung: z.boolean().default(true).describe("a k-step student's fake score reads the rung of each sample (false: one fake score for the mixture of rungs, as DMD2)"),
      studentPrefit: z.int().min(0).default(toy.studentPrefit ?? 0).describe("warm-up updates fitting a k-step student to the teacher's denoiser at its rungs (k > 1; its init from the teacher)"),
      ganHidden: z.int().min(1).default(64).describe("width of the GAN head's hidden layer"),
      fakeHidden: z.int().min(1).optional().describe("width of the fake score's MLP (unset: hidden): a fake score that fits the student's samples more closely"),
      ema: z.number().min(0).lt(1).default(0).describe("EMA decay of the student's weights used for evaluation and export (0: off)"),
      ...lrDecayOptions('cosine'),
    },
    { batch: 256, steps: toy.steps ?? 10000, evalEvery: 500 },
  );
export type Dmd2Config = z.output<ReturnType<typeof dmd2Options>>;

/** dmd2-grid's student: 4 steps with backward simulation, pre-fitted to the teacher on its ladder for 1000 updates,
 * trained 15,000 steps (its off-mode mass falls while the rates decay; docs/methods/dmd.md) */
export const GRID_DEFAULTS: Dmd2ToyDefaults = { steps: 15000, studentSteps: 4, studentPrefit: 1000 };

export function dmd2Toy(name: string, target: Toy, toyDefaults: Dmd2ToyDefaults = {}): PipelineDef<Dmd2Config> {
  const k = toyDefaults.studentSteps ?? 1;
  return pipeline(
    name,
    dmd2Options(toyDefaults),
    (g, c) => {
      const D = target.dim;
      const teacher = g.frozen('teacher', target.denoiser('rf'));
      const k = c.studentSteps;
      // a one-step student maps noise alone; a k-step one also reads its rung's t
      const student = g.trainable('student', mlp({ in: D, out: D, hidden: c.hidden, layers: c.layers, fourier: c.fourier, fourierDirections: c.fourierDirections, ...(k > 1 ? { time: true } : {}) }));
      // a k-step student's fake score also reads the rung (one-hot): it models each rung's samples apart, so that DMD
      // matches every rung to the data, not only their mixture (docs/methods/dmd.md)
      const byRung = k > 1 && c.fakeReadsRung;
      const fakeHidden = c.fakeHidden ?? c.hidden;
      const fake = g.trainable('fake', mlp({ in: D, out: D, hidden: fakeHidden, layers: c.layers, time: true, ...(byRung ? { classes: k } : {}) }));
      const sampler = { student, ladder: studentLadder(k), schedule: 'rf' as const, renoise: c.studentRenoise };

      // first in the warm-up: the student's fit to the teacher precedes the fake score's fit to the student
      if (k > 1 && c.studentPrefit > 0) prefitOnLadder(g, { ...sampler, student, teacher, data: () => g.data(target), steps: c.studentPrefit, lr: 1e-3 });
      const z = g.noise([g.B, D]);
      // k > 1: the x0 the student predicts at a random rung, its input built by its own sampler without gradient
      const sim = k > 1 ? backwardSimulation(g, z, sampler) : undefined;
      const x = g.named('x', sim ? sim.x : student(z));
      const cond = sim && byRung ? [sim.rung] : [];
      const { loss, grad } = dmd(g, { x, teacher, fake, schedule: 'rf', t: [c.tMin, c.tMax], normFloor: c.normFloor, normalizer: c.normalizer, fakeCond: cond });
      const xs = g.stopGradient(x);
      let fakeLoss = denoisingLoss(g, fake, xs, { schedule: 'rf', weighting: c.fakeWeighting, cond });
      let studentLoss = loss;
      let head, disc;
      if (c.ganGenerator > 0) {
        head = g.trainable('head', mlp({ in: fakeHidden, out: 1, hidden: c.ganHidden, layers: 1 }));
        const features = fake.output('features');
        const gan: GanHead = { features: (xt, t) => features(xt, t, ...cond), head, schedule: 'rf' };
        disc = discriminatorLoss(g, { ...gan, real: g.data(target), fake: xs }).mul(c.ganDiscriminator);
        const gen = generatorLoss(g, { ...gan, x });
        studentLoss = studentLoss.add(gen.mul(c.ganGenerator));
        fakeLoss = fakeLoss.add(disc);
        g.output('ganGenerator', gen);
      }
      const decay = decayOf(c);
      g.minimize(student, studentLoss, { optimizer: adam(c.lrStudent, decay), ema: c.ema });
      g.minimize(fake, fakeLoss, { optimizer: adam(c.lrFake, decay), ratio: c.ratio, warmup: c.fakeWarmup });
      // DMD2 steps the head with the fake score's optimiser; here it is its own role on the same schedule, after it
      if (head && disc) g.minimize(head, disc, { optimizer: adam(c.lrFake, decay), ratio: c.ratio, warmup: c.fakeWarmup });

      g.output('dmdGradNorm', grad.square().sum([1]).sqrt().mean());
      // evaluation runs the whole k-step sampler from the evaluation noise
      const samples = k > 1 ? g.noGrad(() => multistepSample(g, z, sampler)) : x;
      g.evaluate({ samples, target, teacher, schedule: 'rf', noise: z });
    },
    `DMD2 on ${target.name}: ${k === 1 ? 'one-step student' : `${k}-step student by default (backward simulation)`}, 5:1 fake-score updates, exact rectified-flow teacher`,
  );
}
