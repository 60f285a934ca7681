/** @file Model declarations a pipeline hands to `g.frozen` / `g.trainable`, and toy datasets. */
import type { GmmSpec, Schedule } from './ir/schema.ts';
import type { MlpConfig } from '../ops/models/mlp.ts';
import { schedule as toSchedule, type ScheduleName } from '../ops/schedules.ts';

export interface ModelSpec {
  kind: string;
  config: Record<string, unknown>;
  /** datasets the model needs (closed-form teachers) */
  datasets?: Record<string, GmmSpec>;
}

/** An MLP; `time: true` adds a Fourier embedding of t ∈ [0, 1]. */
export const mlp = (config: Partial<MlpConfig> & Pick<MlpConfig, 'in' | 'out'>): ModelSpec => ({ kind: 'mlp', config: { ...config } });

/** A toy distribution with an exact density and an exact denoiser. */
export interface Toy {
  name: string;
  spec: GmmSpec;
  dim: number;
  /** the closed-form x0-prediction E[x0 | x_t] under a schedule */
  denoiser(schedule: ScheduleName | Schedule): ModelSpec;
}

export function gmmToy(name: string, spec: GmmSpec): Toy {
  return {
    name,
    spec,
    dim: spec.means[0]!.length,
    denoiser: (s) => ({ kind: 'gmm_denoiser', config: { dataset: name, schedule: toSchedule(s) }, datasets: { [name]: spec } }),
  };
}

export const toy = {
  /** `modes` Gaussians of std `std` evenly spaced on a circle of `radius` */
  ring({ modes = 8, radius = 2, std = 0.2 } = {}): Toy {
    const means = [...Array(modes).keys()].map((k) => [radius * Math.cos((2 * Math.PI * k) / modes), radius * Math.sin((2 * Math.PI * k) / modes)]);
    return gmmToy(`ring${modes}`, { kind: 'gmm', means, stds: means.map(() => std), weights: means.map(() => 1) });
  },
  /** an n×n grid of Gaussians with the given spacing, centred on 0 */
  grid({ n = 5, spacing = 1, std = 0.1 } = {}): Toy {
    const c = ((n - 1) * spacing) / 2;
    const means = [...Array(n * n).keys()].map((k) => [(k % n) * spacing - c, Math.floor(k / n) * spacing - c]);
    return gmmToy(`grid${n}x${n}`, { kind: 'gmm', means, stds: means.map(() => std), weights: means.map(() => 1) });
  },
};
