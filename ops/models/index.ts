/** @file The model registry: one meaning per model kind (ops/kinds.ts lists them; `tsc` checks this table covers them). */
import { mlp } from './mlp.ts';
import { gmmDenoiser, gmmLogDensity } from './gmm.ts';
import { tokenMlp, tokenOracle } from './token.ts';
import type { ModelDef } from './model.ts';
import type { ModelKind } from '../kinds.ts';

export const MODELS = { mlp, gmm_denoiser: gmmDenoiser, gmm_log_density: gmmLogDensity, token_mlp: tokenMlp, token_oracle: tokenOracle } as const satisfies { [K in ModelKind]: ModelDef };
export type ConfigOf<K extends ModelKind> = (typeof MODELS)[K] extends ModelDef<infer C> ? C : never;
export const modelDef = (kind: string): ModelDef | undefined => (MODELS as Record<string, ModelDef>)[kind];
export type { ModelDef, HostTensor } from './model.ts';
export type { ModelKind } from '../kinds.ts';
