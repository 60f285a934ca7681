/** @file The reference workload as hand-written, idiomatic TensorFlow.js eager code — the baseline the compiled
 * pipeline is measured against. Written the way a tfjs user would, stop-gradients included: variables, `tf.train.adam`, `optimizer.minimize`, and a `tf.customGrad` generator loss. */
import type * as tfns from '@tensorflow/tfjs';
import type { HostTensor } from '../../ops/models/model.ts';
import { FAKE_STEPS, LR, T_RANGE } from './workload.ts';

type TF = typeof tfns;
type T = tfns.Tensor;
type T2 = tfns.Tensor2D;

/** where a step's random values come from: tfjs's own RNG in the benchmark, recorded draws in the agreement test */
export type Draw = (what: 'z' | 't' | 'eps', shape: [number, number]) => T;

export interface EagerOptions {
  D: number;
  B?: number;
  H?: number;
  /** initial weights per network, in distillery's layout (`l<i>.weight` [in, out], `l<i>.bias`); random otherwise */
  weights?: { student: Record<string, HostTensor>; teacher: Record<string, HostTensor>; fake: Record<string, HostTensor> };
  draw?: Draw;
  seed?: number;
}

export interface EagerStep {
  /** one fake-score update; returns its loss */
  fakeStep(): number;
  /** one generator update; returns its loss */
  generatorStep(): number;
  /** one workload iteration (5 fake + 1 generator), without reading losses back */
  iteration(): void;
  variables: Record<'student' | 'fake', Record<string, tfns.Variable>>;
  dispose(): void;
}

export function eagerDmdStep(tf: TF, o: EagerOptions): EagerStep {
  const { D } = o;
  const B = o.B ?? 256;
  const H = o.H ?? 256;
  const E = 16;
  let seed = o.seed ?? 0;
  const draw: Draw =
    o.draw ?? ((what, shape) => (what === 't' ? tf.randomUniform(shape, T_RANGE[0], T_RANGE[1], 'float32', seed++) : tf.randomNormal(shape, 0, 1, 'float32', seed++)));

  const net = (name: string, din: number, trainable: boolean, init?: Record<string, HostTensor>) => {
    const vars: Record<string, tfns.Variable> = {};
    [din, H, H, D].forEach((w, i, ws) => {
      if (i === 0) return;
      const fanIn = ws[i - 1]!;
      const bound = 1 / Math.sqrt(fanIn);
      const given = init?.[`l${i - 1}.weight`];
      const gb = init?.[`l${i - 1}.bias`];
      const variable = (init: () => T, n: string) => tf.tidy(() => tf.variable(init(), trainable, `${name}/${n}`));
      vars[`l${i - 1}.weight`] = variable(() => (given ? tf.tensor(given.data, given.shape) : tf.randomUniform([fanIn, w], -bound, bound, 'float32', seed++)), `l${i - 1}.weight`);
      vars[`l${i - 1}.bias`] = variable(() => (gb ? tf.tensor(gb.data, gb.shape) : tf.randomUniform([w], -bound, bound, 'float32', seed++)), `l${i - 1}.bias`);
    });
    return vars;
  };
  const G = net('eagerG', D, true, o.weights?.student);
  const Tn = net('eagerT', D + E, false, o.weights?.teacher);
  const F = net('eagerF', D + E, true, o.weights?.fake);

  const mlp = (v: Record<string, tfns.Variable>, h: T): T => {
    for (let i = 0; i < 3; i++) {
      h = tf.add(tf.matMul(h as T2, v[`l${i}.weight`] as T2), v[`l${i}.bias`]!);
      if (i < 2) h = tf.mul(h, tf.sigmoid(h));
    }
    return h;
  };
  const freqs = tf.tidy(() => tf.mul(tf.range(1, E / 2 + 1, 1, 'float32'), 2 * Math.PI).reshape([1, E / 2]));
  const temb = (t: T) => {
    const a = tf.mul(t, freqs);
    return tf.concat([tf.sin(a), tf.cos(a)], 1);
  };
  const noised = (x: T, t: T, eps: T) => tf.add(tf.mul(tf.sub(1, t), x), tf.mul(t, eps));

  const optG = tf.train.adam(LR, 0.9, 0.999, 1e-8);
  const optF = tf.train.adam(LR, 0.9, 0.999, 1e-8);
  const fVars = Object.values(F);
  const gVars = Object.values(G);

  // the generator loss 0.5·mean((x − sg(x − grad))²): its forward runs the frozen networks with the tape off
  const genLoss = tf.customGrad(((x: T, t: T, eps: T, save: (ts: T[]) => void) => {
    const xt = noised(x, t, eps);
    const inp = tf.concat([xt, temb(t)], 1);
    const real = mlp(Tn, inp);
    const fake = mlp(F, inp);
    const w = tf.div(1, tf.mean(tf.abs(tf.sub(x, real)), 1, true));
    const grad = tf.mul(tf.sub(fake, real), w);
    // x − sg(x − grad), rounded as PyTorch's 0.5·mse(x, (x − grad).detach()) rounds it
    const r = tf.sub(x, tf.sub(x, grad));
    save([r]);
    return {
      value: tf.mul(0.5, tf.mean(tf.square(r))),
      gradFunc: (dy: T, [rs]: T[]) => [tf.mul(dy, tf.div(rs!, rs!.size)), tf.zerosLike(t), tf.zerosLike(eps)],
    };
  }) as never) as unknown as (x: T, t: T, eps: T) => tfns.Scalar;

  const fakeLoss = (): tfns.Scalar => {
    const x = tf.tidy(() => mlp(G, draw('z', [B, D])));
    const t = draw('t', [B, 1]);
    const eps = draw('eps', [B, D]);
    const xt = noised(x, t, eps);
    return tf.mean(tf.square(tf.sub(mlp(F, tf.concat([xt, temb(t)], 1)), x)));
  };
  const generatorLoss = (): tfns.Scalar => {
    const x = mlp(G, draw('z', [B, D]));
    return genLoss(x, draw('t', [B, 1]), draw('eps', [B, D]));
  };
  const minimize = (opt: tfns.Optimizer, f: () => tfns.Scalar, vars: tfns.Variable[], read: boolean) =>
    tf.tidy(() => {
      const l = opt.minimize(f, read, vars);
      return read ? l!.dataSync()[0]! : NaN;
    });

  return {
    fakeStep: () => minimize(optF, fakeLoss, fVars, true),
    generatorStep: () => minimize(optG, generatorLoss, gVars, true),
    iteration() {
      for (let i = 0; i < FAKE_STEPS; i++) minimize(optF, fakeLoss, fVars, false);
      minimize(optG, generatorLoss, gVars, false);
    },
    variables: { student: G, fake: F },
    dispose() {
      [...Object.values(G), ...Object.values(Tn), ...Object.values(F), freqs].forEach((v) => v.dispose());
      optG.dispose();
      optF.dispose();
    },
  };
}
