/** @file The model registry: one entry per model kind. */
import { mlp } from './mlp.ts';
import { gmmDenoiser, gmmLogDensity } from './gmm.ts';
import { tokenMlp, tokenOracle } from './token.ts';
import type { ModelDef } from './model.ts';

export const MODELS = { mlp, gmm_denoiser: gmmDenoiser, gmm_log_density: gmmLogDensity, token_mlp: tokenMlp, token_oracle: tokenOracle } as const satisfies Record<string, ModelDef>;
export type ModelKind = keyof typeof MODELS;
export const modelDef = (kind: string): ModelDef | undefined => (MODELS as Record<string, ModelDef>)[kind];
export type { ModelDef, HostTensor } from './model.ts';
