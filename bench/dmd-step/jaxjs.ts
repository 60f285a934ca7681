/** @file The reference workload written in jax-js the way a JAX user would write it: parameters as pytrees, the
 * fake-score update and the generator update each one `jit`-compiled function (forward, `valueAndGrad`, Adam), the
 * draws of an update from a split PRNG key by a `jit`-compiled sampler. jax-js takes ownership of every argument
 * (reference counting), so each call passes `.ref`s of what it keeps. */
import type { HostTensor } from '../../ops/models/model.ts';
import { Rng } from '../../ops/rng.ts';
import { FAKE_STEPS, LR, T_RANGE } from './workload.ts';
import type { JaxJs } from './gemm.ts';

/* A structural view of the part of jax-js used here, so that the bench type-checks without the optional package. */
interface A {
  ref: A;
  shape: number[];
  add(o: A | number): A;
  sub(o: A | number): A;
  mul(o: A | number): A;
  div(o: A | number): A;
  mean(axis?: number, o?: { keepdims?: boolean }): A;
  slice(...i: (number | null | [number, number])[]): A;
  reshape(s: number[]): A;
  dispose(): void;
  dataSync(): Float32Array;
  blockUntilReady(): Promise<A>;
}
type Net = Record<string, A>;
type Adam = { m: Net; v: Net };
interface JaxFull extends JaxJs {
  numpy: JaxJs['numpy'] & {
    matmul(a: A, b: A): A;
    concatenate(xs: A[], axis: number): A;
    sin(a: A): A;
    cos(a: A): A;
    square(a: A): A;
    sqrt(a: A): A;
    absolute(a: A): A;
    power(a: A, b: A | number): A;
    zerosLike(a: A): A;
    array(a: Float32Array | number[]): A;
  };
  nn: { silu(a: A): A };
  lax: { stopGradient(a: A): A };
  random: { key(seed: number): A; split(k: A, n: number): A; normal(k: A, shape: number[]): A; uniform(k: A, shape: number[], o: { minval: number; maxval: number }): A };
  tree: { map<T>(f: (a: A) => A, t: T): T; dispose(t: unknown): void };
  valueAndGrad<F>(f: F): (...a: unknown[]) => [A, Net];
}

export interface JaxStep {
  /** one fake-score update; returns its loss */
  fakeStep(): number;
  /** one generator update; returns its loss */
  generatorStep(): number;
  /** one workload iteration (5 fake + 1 generator updates); returns when its results are computed */
  iteration(): void;
  /** the trainable weights, copied to the host */
  weights(): Record<'student' | 'fake', Record<string, Float32Array>>;
  dispose(): void;
}

type Draws = { z: A; t: A; eps: A };

export interface JaxStepOptions {
  D: number;
  B?: number;
  H?: number;
  seed?: number;
  /** initial weights per network, in distillery's layout (`l<i>.weight` [in, out], `l<i>.bias`); random otherwise */
  weights?: { student: Record<string, HostTensor>; teacher: Record<string, HostTensor>; fake: Record<string, HostTensor> };
  /** an update's draws from elsewhere (the agreement test's recorded ones); jax-js's PRNG otherwise */
  draw?: (what: 'z' | 't' | 'eps', shape: [number, number]) => Float32Array;
}

export function jaxDmdStep(jaxIn: JaxJs, o: JaxStepOptions): JaxStep {
  const jax = jaxIn as unknown as JaxFull;
  const { numpy: np, nn, lax, random } = jax;
  const { D } = o;
  const B = o.B ?? 256;
  const H = o.H ?? 256;
  const E = 16;
  let seed = o.seed ?? 1;
  const host = (data: Float32Array, shape: number[]) => np.array(data).reshape(shape) as unknown as A;
  const rng = new Rng([seed, 'jaxjs-init']);
  const uniformInit = (n: number, bound: number) => rng.uniforms(n, -bound, bound);
  const net = (din: number, init?: Record<string, HostTensor>): Net => {
    const p: Net = {};
    [din, H, H, D].forEach((w, i, ws) => {
      if (i === 0) return;
      const bound = 1 / Math.sqrt(ws[i - 1]!);
      const [wk, bk] = [`l${i - 1}.weight`, `l${i - 1}.bias`];
      p[wk] = host(init ? Float32Array.from(init[wk]!.data) : uniformInit(ws[i - 1]! * w, bound), [ws[i - 1]!, w]);
      p[bk] = host(init ? Float32Array.from(init[bk]!.data) : uniformInit(w, bound), [w]);
    });
    return p;
  };
  // every function below consumes its arguments: a net is read through `.ref`s, its owner keeps it
  const mlp = (p: Net, h: A): A => {
    for (let i = 0; i < 3; i++) {
      h = np.matmul(h, p[`l${i}.weight`]!.ref).add(p[`l${i}.bias`]!.ref);
      if (i < 2) h = nn.silu(h);
    }
    return h;
  };
  const freqs = () => host(Float32Array.from({ length: E / 2 }, (_, k) => (k + 1) * 2 * Math.PI), [1, E / 2]);
  const withTime = (xt: A, t: A) => {
    const a = t.mul(freqs());
    return np.concatenate([xt, np.sin(a.ref), np.cos(a)], 1);
  };
  const noised = (x: A, t: A, eps: A) => x.mul(t.ref.mul(-1).add(1)).add(t.mul(eps));
  const sample = jax.jit((key: A): Draws => {
    const ks = random.split(key, 3);
    const z = random.normal(ks.ref.slice(0), [B, D]);
    const t = random.uniform(ks.ref.slice(1), [B, 1], { minval: T_RANGE[0], maxval: T_RANGE[1] });
    const eps = random.normal(ks.slice(2), [B, D]);
    return { z, t, eps };
  }) as unknown as (key: A) => Draws;
  const draws = (): Draws =>
    o.draw ? { z: host(o.draw('z', [B, D]), [B, D]), t: host(o.draw('t', [B, 1]), [B, 1]), eps: host(o.draw('eps', [B, D]), [B, D]) } : sample(random.key(seed++));
  // the bias corrections come from the host, per update: jax-js's `power` is an exp/log approximation off by ~1e-5,
  // which 1 − 0.999^t (= 0.001 at t = 1) turns into a 1 % error of the second-moment correction, about 0.5 % of the first steps
  const adam = (p: Net, g: Net, s: Adam, k: A, c2: A): [Net, Adam] => {
    const next: Net = {};
    const m: Net = {};
    const v: Net = {};
    for (const key of Object.keys(p)) {
      m[key] = s.m[key]!.mul(0.9).add(g[key]!.ref.mul(0.1));
      v[key] = s.v[key]!.mul(0.999).add(np.square(g[key]!).mul(0.001));
      const step = m[key]!.ref.mul(k.ref).div(np.sqrt(v[key]!.ref.div(c2.ref)).add(1e-8));
      next[key] = p[key]!.sub(step);
    }
    k.dispose();
    c2.dispose();
    return [next, { m, v }];
  };
  const corrections = (t: number) => [np.array([LR / (1 - 0.9 ** t)]) as unknown as A, np.array([1 - 0.999 ** t]) as unknown as A] as const;
  let [tG, tF] = [0, 0];
  const zeros = (p: Net): Adam => ({ m: jax.tree.map((a) => np.zerosLike(a.ref), p), v: jax.tree.map((a) => np.zerosLike(a.ref), p) });

  let G = net(D, o.weights?.student);
  const T = net(D + E, o.weights?.teacher);
  let F = net(D + E, o.weights?.fake);
  let optG = zeros(G);
  let optF = zeros(F);

  const fakeLoss = (f: Net, g: Net, { z, t, eps }: Draws) => {
    const x = lax.stopGradient(mlp(g, z));
    const pred = mlp(f, withTime(noised(x.ref, t.ref, eps), t));
    jax.tree.dispose([f, g]);
    return np.square(pred.sub(x)).mean();
  };
  const genLoss = (g: Net, f: Net, tn: Net, { z, t, eps }: Draws) => {
    const x = mlp(g, z);
    const inp = withTime(noised(x.ref, t.ref, eps), t);
    const real = lax.stopGradient(mlp(tn, inp.ref));
    const fake = lax.stopGradient(mlp(f, inp));
    jax.tree.dispose([g, f, tn]);
    const w = np.absolute(x.ref.sub(real.ref)).mean(1, { keepdims: true });
    const grad = fake.sub(real).div(w);
    // 0.5·mean((x − sg(x − grad))²): its gradient in x is grad / (B·D)
    const target = lax.stopGradient(x.ref.sub(grad));
    return np.square(x.sub(target)).mean().mul(0.5);
  };
  const fakeUpdate = jax.jit((f: Net, s: Adam, k: A, c2: A, g: Net, d: Draws) => {
    const [loss, grads] = jax.valueAndGrad(fakeLoss)(jax.tree.map((a) => a.ref, f), g, d);
    const [next, s2] = adam(f, grads, s, k, c2);
    return [next, s2, loss];
  }) as unknown as (f: Net, s: Adam, k: A, c2: A, g: Net, d: Draws) => [Net, Adam, A];
  const genUpdate = jax.jit((g: Net, s: Adam, k: A, c2: A, f: Net, tn: Net, d: Draws) => {
    const [loss, grads] = jax.valueAndGrad(genLoss)(jax.tree.map((a) => a.ref, g), f, tn, d);
    const [next, s2] = adam(g, grads, s, k, c2);
    return [next, s2, loss];
  }) as unknown as (g: Net, s: Adam, k: A, c2: A, f: Net, tn: Net, d: Draws) => [Net, Adam, A];
  const refs = (p: Net) => jax.tree.map((a) => a.ref, p);
  const fake = (): A => {
    let loss: A;
    [F, optF, loss] = fakeUpdate(F, optF, ...corrections(++tF), refs(G), draws());
    return loss;
  };
  const generator = (): A => {
    let loss: A;
    [G, optG, loss] = genUpdate(G, optG, ...corrections(++tG), refs(F), refs(T), draws());
    return loss;
  };
  // reading an array waits for it and consumes it
  const read = (a: A) => a.dataSync()[0]!;

  return {
    fakeStep: () => read(fake()),
    generatorStep: () => read(generator()),
    iteration() {
      for (let i = 0; i < FAKE_STEPS; i++) fake().dispose();
      read(generator()); // wait for the results, as the other contestants do
    },
    weights() {
      const copy = (p: Net) => Object.fromEntries(Object.entries(p).map(([k, a]) => [k, Float32Array.from(a.ref.dataSync())]));
      return { student: copy(G), fake: copy(F) };
    },
    dispose() {
      jax.tree.dispose([G, T, F, optG, optF]);
    },
  };
}
