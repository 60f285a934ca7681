/**
 * @file D-MMD on a token toy with an exactly known law (docs/methods/dmmd.md): a k-step masked-diffusion student with
 * Gaussian input noise, distilled from the exact oracle teacher or from an MLP teacher trained here, with an
 * auxiliary model; 1 auxiliary : 1 generator update per step on fresh minibatches.
 *
 * "Student and auxiliary start as the teacher" cannot copy weights from the oracle (it has none) nor from
 * a teacher trained in the same run. Default ('residual'): both are residual models over the teacher,
 * softmax(log x̂_θ + MLP) with the MLP's last layer at zero, so they start exactly as the teacher. Option 'prefit':
 * plain MLPs fitted to the teacher in a warm-up phase (ε = 0 during it). The student's ε projection starts at zero.
 * Phases (warm-ups, in this order): the learned teacher's masked-diffusion CE training (teacher 'learned'), then the
 * pre-fit ('prefit' only).
 */
import { z } from 'zod';
import { pipeline } from '../dsl/pipeline.ts';
import { options } from '../dsl/options.ts';
import { adam } from '../dsl/builder.ts';
import { toy, tokenMlp } from '../dsl/models.ts';
import type { Port } from '../dsl/port.ts';
import type { Shape } from '../dsl/types.ts';
import { dmmd, dmmdDiagnostics, maskedMean, maskedPositions, positionTV, safeLog } from '../dsl/objectives/dmmd.ts';

type F = Port<'f32', Shape>;

export const dmmdOptions = options(
  {
    data: z.enum(['markov', 'coins']).default('markov').describe("'markov': the closed Markov language (V 6, L 8); 'coins': q(00) = q(11) = ½"),
    dataSeed: z.int().min(0).default(0).describe('seed of the Markov language’s successor table'),
    teacher: z.enum(['oracle', 'learned']).default('oracle').describe("'oracle': the exact x̂(z) = q(x_d | revealed); 'learned': an MLP trained here with the masked-diffusion CE"),
    k: z.int().min(1).max(64).default(4).describe('student sampling steps'),
    noise: z.int().min(0).default(16).describe("size of the student's Gaussian input ε (0: no noise input, an ablation)"),
    hidden: z.int().min(1).default(256).describe('width of each MLP'),
    layers: z.int().min(1).default(3).describe('hidden layers of each MLP'),
    // measured (docs/methods/dmmd.md): at 3e-4 for both (our first design), or 1e-4/1e-3, students barely moved
    // in 1,500 steps on the Markov language; the auxiliary learns 3× faster than the student (two time scales)
    lr: z.number().positive().default(1e-3).describe('Adam learning rate of the student'),
    lrAux: z.number().positive().default(3e-3).describe('Adam learning rate of the auxiliary'),
    noiseInit: z.number().min(0).default(4).describe("scale of the student's ε projection at init (× 1/√noise)"),
    teacherSteps: z.int().min(0).default(2000).describe('training updates of the learned teacher'),
    teacherLr: z.number().positive().default(1e-3).describe('Adam learning rate of the learned teacher'),
    init: z.enum(['residual', 'prefit']).default('residual').describe("how student and auxiliary start as the teacher: 'residual' softmax(log x̂_θ + MLP) with the last layer at zero (exact); 'prefit' plain MLPs fitted to the teacher"),
    smoothing: z.number().min(0).max(1).default(0.01).describe("residual models: their teacher base is smoothed to (1 − λ)·x̂_θ + λ/V, so the auxiliary can reach tokens the exact teacher gives probability 0"),
    studentInit: z.number().min(0).default(1).describe("residual student: scale of its last layer's initial weights (0: exactly the teacher, and its output ignores ε at first)"),
    prefitSteps: z.int().min(0).default(1000).describe("updates fitting student and auxiliary to the teacher before D-MMD (init 'prefit')"),
    prefitLr: z.number().positive().default(1e-3).describe('Adam learning rate of the pre-fit'),
    softTarget: z.boolean().default(true).describe('the auxiliary learns from sg(p_η) (masked diffusion allows it) instead of the hard one-hot x'),
    // inferred (docs/methods/dmmd.md, "the dead zone"): raw logs of the exact teacher's zeros (≈ 17 nats at 1e-8)
    // swamp the balancing signal; a floor caps them but gives forbidden tokens no signal at all below it; smoothing
    // both sides keeps the cap (log(V/λ)) and a signal proportional to the auxiliary's mass on forbidden tokens
    signalLog: z.enum(['smooth', 'floor']).default('smooth').describe("the generator's signal: 'smooth' log S(x̂_φ) − log S(x̂_θ) with S(p) = (1 − λ)p + λ/V; 'floor' log max(·, logFloor) (a dead zone below the floor)"),
    logSmoothing: z.number().gt(0).max(1).default(0.3).describe("λ of signalLog 'smooth'"),
    logFloor: z.number().positive().max(0.5).default(0.05).describe("probability floor of signalLog 'floor' (1e-8 in the method’s description)"),
    topP: z.number().gt(0).max(1).default(1).describe('top-p distillation: the teacher target keeps its nucleus and lowers the rest by topPDelta (1: off)'),
    topPDelta: z.number().positive().default(2).describe('Δ of the top-p lowering (2)'),
    teacherWeight: z.enum(['uniform', 'elbo']).default('uniform').describe("learned teacher's CE weight w(t): 1, or the ELBO's 1/t clipped at 20"),
    temperature: z.number().positive().default(1).describe('teacher temperature τ in the generator target'),
  },
  { batch: 256, steps: 2000, evalEvery: 500 },
);

export type DmmdConfig = z.output<typeof dmmdOptions>;

export const dmmdPipeline = pipeline(
  'dmmd',
  dmmdOptions,
  (g, c) => {
    const data = c.data === 'coins' ? toy.twoCoins() : toy.markov({ seed: c.dataSeed });
    const { length: L, vocab: V, mask } = data;
    const net = { length: L, vocab: V, hidden: c.hidden, layers: c.layers };
    const learned = c.teacher === 'learned' ? g.trainable('teacher', tokenMlp(net)) : undefined;
    const teacher = learned ?? g.frozen('teacher', data.oracle());
    const residual = c.init === 'residual';
    const res = residual ? { residual, smoothing: c.smoothing } : {};
    const student = g.trainable('student', tokenMlp({ ...net, noise: c.noise, ...res, ...(residual ? { lastInit: c.studentInit } : {}), noiseInit: c.noiseInit }));
    const aux = g.trainable('aux', tokenMlp({ ...net, ...res }));

    // masked positions of z_t as f32[B,L,1]
    const maskedOf = (zt: Port<'i32', Shape>) => maskedPositions(zt, mask, g.B, L);
    const forward = () => {
      const x0 = g.tokens(data);
      const t = g.uniform([g.B, 1], 0, 1);
      return { x0, t, zt: g.maskDiffuse(x0, t, mask) };
    };

    if (learned) {
      // the masked-diffusion objective with w(t) = 1: CE(x | x̂_θ(z_t)) at the masked positions
      const { x0, t, zt } = forward();
      let perRow = g.oneHot(x0, V).mul(safeLog(teacher(zt, t) as F)).mul(maskedOf(zt)).sum([1, 2]);
      if (c.teacherWeight === 'elbo') perRow = perRow.mul(t.maximum(0.05).pow(-1).reshape([g.B]));
      const ce = perRow.mean().neg();
      g.minimize(learned, ce, { optimizer: adam(c.teacherLr), ratio: 0, warmup: c.teacherSteps });
    }
    if (!residual && c.prefitSteps > 0) {
      // student and auxiliary start as the teacher: CE(x̂_θ | x̂_model) at masked positions of noised data
      const zeros = g.fill([g.B, c.noise], 0);
      for (const m of [aux, student]) {
        const { t, zt } = forward();
        const target = g.noGrad(() => teacher(zt, t) as F);
        const p = (m === student && c.noise > 0 ? m(zt, t, zeros) : m(zt, t)) as F;
        g.minimize(m, target.mul(safeLog(p)).mul(maskedOf(zt)).sum([1, 2]).mean().neg(), { optimizer: adam(c.prefitLr), ratio: 0, warmup: c.prefitSteps });
      }
    }

    const eps = c.noise > 0 ? g.noise([g.B, c.noise]) : undefined;
    const d = dmmd(g, { x0: g.tokens(data), toy: data, student, teacher, aux, steps: c.k, softTarget: c.softTarget, temperature: c.temperature, signalLog: c.signalLog === 'smooth' ? { kind: 'smooth', lambda: c.logSmoothing } : { kind: 'floor', floor: c.logFloor }, residual, ...(c.topP < 1 ? { topP: { p: c.topP, delta: c.topPDelta } } : {}), ...(eps ? { eps } : {}) });
    g.minimize(aux, d.aux, { optimizer: adam(c.lrAux) });
    g.minimize(student, d.gen, { optimizer: adam(c.lr) });

    // diagnostics: KL(x̂_θ ‖ x̂_φ) at the masked positions of z_s (should fall toward 0) and the student's output entropy
    g.output('klTeacherAux', g.noGrad(() => d.pTeacher.mul(safeLog(d.pTeacher).sub(safeLog(d.pAux))).mul(d.masked).sum([1, 2]).mean()));
    g.output('studentEntropy', g.noGrad(() => d.p.mul(safeLog(d.p)).neg().sum([2], true).mul(maskedOf(d.zt)).sum().div(maskedOf(d.zt).sum().maximum(1))));
    for (const [name, v] of Object.entries(g.noGrad(() => dmmdDiagnostics(d)))) g.output(name, v);
    // the student's use of ε: TV between its outputs at two independent ε for the same z_t, at z_t's masked positions
    if (eps) {
      const other = g.noGrad(() => student(d.zt, d.t, g.noise([g.B, c.noise]), ...(d.base ? [d.base] : [])) as F);
      g.output('epsSensitivity', g.noGrad(() => maskedMean(positionTV(d.p.stopGradient() as F, other), maskedOf(d.zt))));
    }

    g.evaluate({ samples: g.maskedSample(student, data, { steps: c.k, noise: c.noise, ...(residual ? { base: teacher } : {}) }), target: data, teacher });
  },
  'D-MMD on a token toy with an exact law: a k-step masked-diffusion student with input noise, oracle or learned teacher',
);
