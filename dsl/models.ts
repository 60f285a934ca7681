/** @file Model declarations a pipeline hands to `g.frozen` / `g.trainable`, and toy datasets. */
import type { DatasetSpec, GmmSpec, Schedule, TokensSpec } from './ir/schema.ts';
import type { MlpConfig } from '../ops/models/mlp.ts';
import type { TokenMlpConfig } from '../ops/models/token.ts';
import { markovLanguage, twoCoins, type MarkovOptions } from '../ops/tokens.ts';
import type { Corruption } from '../ops/models/gmm.ts';
import { Rng } from '../ops/rng.ts';
import { randomBasis } from '../ops/subspace.ts';
import { UserError } from './errors.ts';
import type { ModelKind } from '../ops/kinds.ts';
import { schedule as toSchedule, type ScheduleName } from '../ops/schedules.ts';

export interface ModelSpec {
  kind: ModelKind;
  config: Record<string, unknown>;
  /** datasets the model needs (closed-form teachers) */
  datasets?: Record<string, DatasetSpec>;
}

/** An MLP; `time: true` adds a Fourier embedding of t ∈ [0, 1]. */
export const mlp = (config: Partial<MlpConfig> & Pick<MlpConfig, 'in' | 'out'>): ModelSpec => ({ kind: 'mlp', config: { ...config } });

/** An MLP over token sequences for masked diffusion: (z, t[, ε]) → probabilities f32[B, length, vocab]. */
export const tokenMlp = (config: Partial<TokenMlpConfig> & Pick<TokenMlpConfig, 'length' | 'vocab'>): ModelSpec => ({ kind: 'token_mlp', config: { ...config } });

/** A token dataset with an exactly known law, and its exact masked-diffusion denoiser. */
export interface TokenToy {
  name: string;
  spec: TokensSpec;
  length: number;
  vocab: number;
  /** the MASK token's id (= vocab) */
  mask: number;
  /** x̂(z)_d = q(x_d | revealed tokens of z), exactly: (z, t) → f32[B, length, vocab] */
  oracle(): ModelSpec;
}

export function tokenToy(name: string, spec: TokensSpec): TokenToy {
  return {
    name,
    spec,
    length: spec.length,
    vocab: spec.vocab,
    mask: spec.vocab,
    oracle: () => ({ kind: 'token_oracle', config: { dataset: name }, datasets: { [name]: spec } }),
  };
}

/** A toy distribution with an exact density and an exact denoiser. */
export interface Toy {
  name: string;
  spec: GmmSpec;
  dim: number;
  /** the closed-form x0-prediction E[x0 | x_t] under a schedule; `conditional` takes a class label (x_t, t, c) */
  denoiser(schedule: ScheduleName | Schedule, o?: { conditional?: boolean; corrupt?: Corruption }): ModelSpec;
  /** the exact log-density log p(x) — or log p(x | c) with `conditional` — as f32[B,1] (a reward proxy) */
  logDensity(o?: { conditional?: boolean }): ModelSpec;
  /** number of classes (0: unconditional) */
  classes: number;
}

export function gmmToy(name: string, spec: GmmSpec): Toy {
  return {
    name,
    spec,
    dim: spec.means[0]!.length,
    classes: spec.classes ? Math.max(...spec.classes) + 1 : 0,
    denoiser: (s, o = {}) => ({
      kind: 'gmm_denoiser',
      config: { dataset: name, schedule: toSchedule(s), ...(o.conditional ? { conditional: true } : {}), ...(o.corrupt ? { corrupt: o.corrupt } : {}) },
      datasets: { [name]: spec },
    }),
    logDensity: (o = {}) => ({ kind: 'gmm_log_density', config: { dataset: name, ...(o.conditional ? { conditional: true } : {}) }, datasets: { [name]: spec } }),
  };
}

export const toy = {
  /** docs/methods/dmmd.md: two tokens, q(00) = q(11) = ½ */
  twoCoins(): TokenToy {
    return tokenToy('twocoins', twoCoins());
  },
  /** docs/methods/dmmd.md: a closed Markov language (V 6, L 8, two successors per token, x_L = x_1), enumerated exactly */
  markov(o: MarkovOptions = {}): TokenToy {
    const spec = markovLanguage(o);
    return tokenToy(`markov${spec.vocab}x${spec.length}s${o.seed ?? 0}`, spec);
  },
  /** `modes` Gaussians of std `std` evenly spaced on a circle of `radius` */
  ring({ modes = 8, radius = 2, std = 0.2 } = {}): Toy {
    const means = [...Array(modes).keys()].map((k) => [radius * Math.cos((2 * Math.PI * k) / modes), radius * Math.sin((2 * Math.PI * k) / modes)]);
    return gmmToy(`ring${modes}`, { kind: 'gmm', means, stds: means.map(() => std), weights: means.map(() => 1) });
  },
  /** a ring whose modes alternate between `classes` classes (mode k belongs to class k mod classes) */
  classRing({ modes = 8, radius = 4, std = 0.15, classes = 2 } = {}): Toy {
    const r = toy.ring({ modes, radius, std });
    return gmmToy(`classring${modes}x${classes}`, { ...r.spec, classes: r.spec.means.map((_, k) => k % classes) });
  },
  /**
   * docs/methods/copying.md: K isotropic Gaussians in R^d, means ~ N(0, ρ·σ_data² I) drawn once from
   * `seed`, component std √((1 − ρ)·σ_data²), so every coordinate has variance ≈ σ_data² at any d.
   */
  gaussians({ dim, modes = 8, rho = 0.8, sigmaData = 0.5, seed = 0 }: { dim: number; modes?: number; rho?: number; sigmaData?: number; seed?: number }): Toy {
    const rng = new Rng([seed, 'gaussians', dim, modes]);
    const scale = Math.sqrt(rho) * sigmaData;
    const means = [...Array(modes).keys()].map(() => Array.from(rng.normals(dim), (v) => v * scale));
    const std = Math.sqrt(1 - rho) * sigmaData;
    return gmmToy(`gaussians${modes}d${dim}`, { kind: 'gmm', means, stds: means.map(() => std), weights: means.map(() => 1) });
  },
  /**
   * docs/methods/copying.md: 8 isotropic Gaussians whose nearest means lie `separation` component stds apart at every
   * d, so that telling the modes apart is equally hard at every d (with random means, modes nearly merge at d = 2 and
   * drift apart like √d). The constellation: 8 points on a line (d = 1), an octagon (d = 2), a cube's corners (d = 3),
   * the cross-polytope ±e₁…±e₄ in a random 4-D frame (d ≥ 4). The std s is set so that the per-coordinate variance,
   * s² + E‖μ‖²/d, is σ_data² = 0.25.
   */
  separatedGaussians({ dim, separation, seed = 0 }: { dim: number; separation: number; seed?: number }): Toy {
    const rng = new Rng([seed, 'separated-gaussians', dim]);
    // the constellation at unit nearest distance
    const unit: number[][] =
      dim === 1
        ? [...Array(8).keys()].map((k) => [k - 3.5])
        : dim === 2
          ? [...Array(8).keys()].map((k) => [Math.cos((k * Math.PI) / 4), Math.sin((k * Math.PI) / 4)].map((v) => v / (2 * Math.sin(Math.PI / 8))))
          : dim === 3
            ? [...Array(8).keys()].map((k) => [k & 1, (k >> 1) & 1, (k >> 2) & 1].map((b) => b - 0.5))
            : [0, 1, 2, 3].flatMap((i) => [1, -1].map((sgn) => [0, 1, 2, 3].map((j) => (i === j ? sgn / Math.SQRT2 : 0))));
    const r = unit[0]!.length;
    const frame = r === dim ? [...Array(dim).keys()].map((i) => [...Array(dim).keys()].map((j) => (i === j ? 1 : 0))) : randomBasis(r, dim, (n) => rng.normals(n));
    const spread = unit.reduce((a, m) => a + m.reduce((b, v) => b + v * v, 0), 0) / unit.length; // E‖μ‖² at unit distance (centred)
    const std = Math.sqrt(0.25 / (1 + (separation ** 2 * spread) / dim));
    const means = unit.map((m) => frame[0]!.map((_, j) => separation * std * m.reduce((a, v, i) => a + v * frame[i]![j]!, 0)));
    return gmmToy(`gaussians8d${dim}sep${separation}s${seed}`, { kind: 'gmm', means, stds: means.map(() => std), weights: means.map(() => 1) });
  },
  /**
   * docs/methods/copying.md: the 2-D ring of `modes` Gaussians (radius 1, std 0.1) embedded in R^d by a random
   * orthonormal frame U (drawn from `seed`), with std `eta` off the plane: intrinsic dimension 2 at any d.
   */
  embeddedRing({ dim, modes = 8, radius = 1, std = 0.1, eta = 0.05, seed = 0 }: { dim: number; modes?: number; radius?: number; std?: number; eta?: number; seed?: number }): Toy {
    if (dim < 2) throw new UserError(`the embedded ring (data 'ring') needs dim ≥ 2, got ${dim}`);
    const rng = new Rng([seed, 'embedded-ring', dim]);
    const basis = randomBasis(2, dim, (n) => rng.normals(n));
    const means = [...Array(modes).keys()].map((k) => {
      const [c, s] = [radius * Math.cos((2 * Math.PI * k) / modes), radius * Math.sin((2 * Math.PI * k) / modes)];
      return basis[0]!.map((u, j) => c * u + s * basis[1]![j]!);
    });
    return gmmToy(`ring${modes}in${dim}s${seed}`, { kind: 'gmm', means, stds: means.map(() => std), weights: means.map(() => 1), subspace: { basis, eta } });
  },
  /** an n×n grid of Gaussians with the given spacing, centred on 0 */
  grid({ n = 5, spacing = 1, std = 0.1 } = {}): Toy {
    const c = ((n - 1) * spacing) / 2;
    const means = [...Array(n * n).keys()].map((k) => [(k % n) * spacing - c, Math.floor(k / n) * spacing - c]);
    return gmmToy(`grid${n}x${n}`, { kind: 'gmm', means, stds: means.map(() => std), weights: means.map(() => 1) });
  },
};
