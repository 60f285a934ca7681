/**
 * @file AMD's forbidden-zone toy (docs/methods/amd.md): a two-class ring of 8 modes (radius 4, σ 0.15) with an exact
 * rectified-flow teacher whose class-0 branch is wrong about the disc R = {‖x‖ < 1}: corrupted at low noise, so that
 * CFG amplifies a hallucinated pull (attractor) or removes the pull (dead zone), or exact for a mixture with a spurious
 * class-0 mode in R ('mode', the trap DMD2 keeps). One pipeline, every arm of the benchmark: DMD, DMD2 and AMD (DSA,
 * RLS or both) differ only in their options.
 */
import { z } from 'zod';
import { pipeline } from '../dsl/pipeline.ts';
import { options } from '../dsl/options.ts';
import { adam } from '../dsl/builder.ts';
import { gmmToy, mlp, toy, type Toy } from '../dsl/models.ts';
import { dmdGradient, dmdLoss, regressionLoss } from '../dsl/objectives/dmd.ts';
import { AMD_DEFAULTS, amd, cfg, clipAdvantage, normalisedAdvantage, rlsWeights, softClipReward, weightedDenoisingLoss } from '../dsl/objectives/amd.ts';
import type { Corruption } from '../ops/models/gmm.ts';

export const fzRing = toy.classRing({ modes: 8, radius: 4, std: 0.15, classes: 2 });
/** the region R where class 0's teacher is corrupted: a disc of radius 1 at the origin */
export const FZ_REGION = { center: [0, 0], radius: 1 } as const;
/** the teacher's default guidance scale (docs/methods/amd.md, calibration) */
export const FZ_OMEGA = 4;

export const fzOptions = options(
  {
    method: z.enum(['dmd', 'dmd2', 'amd']).default('amd').describe("'dmd': 1 fake update per student update; 'dmd2': `ratio` of them; 'amd': DMD2 + DSA (s) + RLS (lambdaRls)"),
    ratio: z.int().min(1).default(5).describe('fake-score updates per student update (dmd2, amd)'),
    omega: z.number().min(1).default(FZ_OMEGA).describe('classifier-free guidance scale ω of the teacher'),
    s: z.number().min(0).max(1).default(AMD_DEFAULTS.s).describe('DSA strength: α = 1 + s·ã, β = 1 − s·ã'),
    eps: z.number().positive().default(AMD_DEFAULTS.eps).describe('ε in ã = (r − mean r)/(std r + ε)'),
    clip: z.number().positive().default(AMD_DEFAULTS.clip).describe('ã is clipped to [−clip, clip]'),
    lambdaRls: z.number().min(0).default(AMD_DEFAULTS.lambdaRls).describe('λ_rls of the repulsive landscape sharpening'),
    rls: z.enum(['relu', 'beta', 'mask']).default(AMD_DEFAULTS.rls).describe('RLS weight form'),
    tau: z.number().positive().optional().describe('hard forbidden-zone threshold on ã (unset: the soft rule)'),
    dsa: z.enum(['both', 'alpha', 'beta', 'off']).default(AMD_DEFAULTS.dsa).describe("which DSA coefficient moves with ã: 'both', 'alpha' (β = 1), 'beta' (α = 1) or 'off' (s then only shapes ρ = β of rls 'beta')"),
    rlsClip: z.number().positive().optional().describe('lower clip of the ã that ρ sees, −rlsClip (unset: −clip)'),
    reward: z.enum(['clipped', 'soft']).default('clipped').describe("reward from log p(x|c): 'clipped' to [−15, 5] (constant over the corrupted disc), or 'soft' T·asinh(log p/T)"),
    temperature: z.number().positive().default(15).describe("T of the 'soft' reward: log p is kept where |log p| ≪ T and compressed logarithmically beyond"),
    lambdaReward: z.number().min(0).default(0).describe("reward-gradient baseline (DMDR-like): adds −λ·mean r(x) to the student's loss, differentiated through the sample"),
    permute: z.boolean().default(false).describe('control arm: ã shuffled across the batch, so the weights keep their distribution but lose the reward’s information'),
    teacher: z
      .enum(['attractor', 'dead', 'mode', 'clean'])
      .default('attractor')
      .describe("'attractor' | 'dead' corrupt class 0 in R below t = tc; 'mode': class 0's teacher is exact for a mixture with a spurious mode in R (modeMass of the class), a hallucination its own sampler reproduces; 'clean' is the uncorrupted control"),
    tc: z.number().min(0).max(1).default(0.5).describe('the corruption acts at t < tc (attractor, dead)'),
    modeMass: z.number().gt(0).lt(1).default(0.3).describe("the share of class 0 the 'mode' teacher puts in its spurious mode N(0, 0.2²I) in R"),
    proxy: z.enum(['aligned', 'noisy', 'misaligned']).default('aligned').describe("reward proxy: clipped true log p(x|c) ('aligned'), plus N(0,1) ('noisy'), or − ½‖x‖² ('misaligned', favours R)"),
    init: z.enum(['trap', 'random']).default('trap').describe("'trap': pre-train the student by regression onto the corrupted teacher's CFG ODE samples; 'random': no pre-training"),
    trapSteps: z.int().min(0).default(1000).describe('regression updates of the trap pre-training'),
    trapOdeSteps: z.int().min(1).default(8).describe("Heun steps of the teacher's guided ODE for the trap pairs"),
    trapSlice: z
      .number()
      .min(0)
      .max(1)
      .optional()
      .describe("fraction of class 0's latent space regressed onto R (the toy's fallback when the ODE alone traps < 25%, docs/methods/amd.md); 0: ODE pairs only; unset: 0.3, or 0 with the 'mode' teacher, whose own ODE visits R"),
    fakeWarmup: z.int().min(0).default(300).describe('fake-score updates before the first student update'),
    hidden: z.int().min(1).default(128).describe("width of the student's MLP"),
    layers: z.int().min(1).default(3).describe('hidden layers of each MLP'),
    fakeHidden: z.int().min(1).default(128).describe("width of the fake score's MLP"),
    lrStudent: z.number().positive().default(1e-4).describe('Adam learning rate of the student'),
    lrFake: z.number().positive().default(2e-4).describe('Adam learning rate of the fake score'),
    lrTrap: z.number().positive().default(1e-3).describe('Adam learning rate of the trap pre-training'),
  },
  { batch: 512, steps: 1500, evalEvery: 100 },
);
export type FzConfig = z.output<typeof fzOptions>;

export function fzCorruption(c: Pick<FzConfig, 'teacher' | 'tc'>): Corruption | undefined {
  if (c.teacher === 'clean' || c.teacher === 'mode') return undefined;
  return { class: 0, center: [...FZ_REGION.center], radius: FZ_REGION.radius, softness: 0.1, tMax: c.tc, kind: c.teacher, shrink: 0.3 };
}

/** the spurious mode of the 'mode' teacher: N(0, 0.2²I), the spread the trap's fallback sends its slice to */
export const FZ_SPURIOUS_STD = 0.2;

/**
 * The 'mode' teacher's world: the class ring plus one class-0 component at R's centre holding `mass` of class 0. Its
 * exact denoiser is a consistent score at every t, so DMD's fixed point (student = teacher) keeps that mass in R: a
 * trap that matching alone never leaves, and that only the reward (log p of the true ring, very low in R) can tell.
 */
export function fzHallucinated(mass: number): Toy {
  const s = fzRing.spec;
  const classes = s.classes!;
  const w0 = s.weights.reduce((a, w, k) => a + (classes[k] === 0 ? w : 0), 0);
  return gmmToy(`classring8x2mode${mass}`, {
    ...s,
    means: [...s.means, [...FZ_REGION.center]],
    stds: [...s.stds, FZ_SPURIOUS_STD],
    weights: [...s.weights, (mass * w0) / (1 - mass)],
    classes: [...classes, 0],
  });
}

export const forbiddenZone = pipeline(
  'forbidden-zone',
  fzOptions,
  (g, c) => {
    const corrupt = fzCorruption(c);
    const world = c.teacher === 'mode' ? fzHallucinated(c.modeMass) : fzRing;
    const teacher = g.frozen('teacher', world.denoiser('rf', { conditional: true, ...(corrupt ? { corrupt } : {}) }));
    const reward = g.frozen('reward', fzRing.logDensity({ conditional: true }));
    const student = g.trainable('student', mlp({ in: 2, out: 2, hidden: c.hidden, layers: c.layers, classes: 2 }));
    const fake = g.trainable('fake', mlp({ in: 2, out: 2, hidden: c.fakeHidden, layers: c.layers, time: true, classes: 2 }));

    const labels = g.labels(2); // balanced: the group of a sample is its class
    const z = g.noise([g.B, 2]);
    const x = g.named('x', student(z, labels));

    if (c.init === 'trap') {
      // DMD's paired set, drawn fresh: (z, Φ_ω(z)) with the corrupted teacher's guided ODE …
      const y = g.noGrad(() => {
        const ode = g.odeSolve(teacher, z, { schedule: 'rf', solver: 'heun', steps: c.trapOdeSteps, labels, guidance: c.omega });
        const slice = c.trapSlice ?? (c.teacher === 'mode' ? 0 : 0.3);
        if (slice === 0) return ode;
        // … and the toy's fallback (docs/methods/amd.md): a fixed slice of class 0's latent space, z₁ + z₂ > √2·Φ⁻¹(1 − slice), sent onto N(0, 0.2²I) in R
        const cut = Math.SQRT2 * normalQuantile(1 - slice);
        const m = z.sum([1], true).gt(cut).cast('f32').mul(labels.cast('f32').eq(0).cast('f32').reshape([g.B, 1]));
        return ode.mul(m.neg().add(1)).add(g.noise([g.B, 2]).mul(FZ_SPURIOUS_STD).mul(m));
      });
      g.minimize(student, regressionLoss(x, y), { optimizer: adam(c.lrTrap), ratio: 0, warmup: c.trapSteps });
    }

    // the reward proxy of a sample; `x` may carry a gradient (only the reward-gradient baseline differentiates it)
    const rewardOf = (xs: typeof x) => {
      const logp = reward(xs, labels);
      let r = c.reward === 'soft' ? softClipReward(g, logp, c.temperature) : logp.maximum(-15).minimum(5);
      if (c.proxy === 'noisy') r = r.add(g.noise([g.B, 1]));
      if (c.proxy === 'misaligned') r = r.sub(xs.square().sum([1], true).mul(0.5));
      return r;
    };
    // reward → advantage ã, no gradient (AMD does not backpropagate through the reward); ρ's ã may keep more of its low side
    const { adv, advRls } = g.noGrad(() => {
      const raw = normalisedAdvantage(g, rewardOf(g.stopGradient(x)), { labels, classes: 2, eps: c.eps });
      const a = c.permute ? g.shuffle(raw) : raw;
      return { adv: g.named('advantage', clipAdvantage(a, c.clip)), advRls: clipAdvantage(a, c.rlsClip ?? c.clip, c.clip) };
    });

    let studentLoss;
    if (c.method === 'amd') {
      studentLoss = amd(g, { x, labels, teacher, fake, advantage: adv, omega: c.omega, s: c.s, dsa: c.dsa, ...(c.tau === undefined ? {} : { tau: c.tau }), schedule: 'rf' }).loss;
    } else {
      const grad = g.noGrad(() => {
        const { t, xt } = g.diffuse(x, { schedule: 'rf', t: [0.02, 0.98] });
        return dmdGradient({ x, real: cfg(g, teacher, xt, t, labels, c.omega).guided, fake: fake(xt, t, labels) });
      });
      studentLoss = dmdLoss(x, grad);
    }
    if (c.lambdaReward > 0) studentLoss = studentLoss.sub(rewardOf(x).mean().mul(c.lambdaReward));
    g.minimize(student, studentLoss, { optimizer: adam(c.lrStudent) });
    const weights = c.method === 'amd' ? g.noGrad(() => g.named('rho', rlsWeights(advRls, c))) : undefined;
    const fakeLoss = weightedDenoisingLoss(g, fake, g.stopGradient(x), { labels, schedule: 'rf', ...(weights ? { weights } : {}) });
    g.minimize(fake, fakeLoss, { optimizer: adam(c.lrFake), ratio: c.method === 'dmd' ? 1 : c.ratio, warmup: c.fakeWarmup });

    g.evaluate({ samples: x, target: fzRing, extras: { advantage: adv, label: labels.cast('f32'), ...(weights ? { rho: weights } : {}) } });
  },
  'AMD forbidden-zone toy: 2-class ring, class 0 teacher wrong about a disc (attractor, dead zone or spurious mode); DMD / DMD2 / AMD arms by option',
);

/** Φ⁻¹(p) of the standard normal (Acklam's rational approximation, |error| < 1.2e-9) */
function normalQuantile(p: number): number {
  const a = [-39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239];
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771082, -13.28068155288572];
  const c = [-0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const tail = (q: number) => (((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) / ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1);
  if (p < 0.02425) return tail(Math.sqrt(-2 * Math.log(p)));
  if (p > 1 - 0.02425) return -tail(Math.sqrt(-2 * Math.log(1 - p)));
  const q = p - 0.5;
  const r = q * q;
  return ((((((a[0]! * r + a[1]!) * r + a[2]!) * r + a[3]!) * r + a[4]!) * r + a[5]!) * q) / (((((b[0]! * r + b[1]!) * r + b[2]!) * r + b[3]!) * r + b[4]!) * r + 1);
}
