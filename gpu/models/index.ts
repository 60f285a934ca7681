/** @file The TensorFlow.js body of every model kind (`tsc` fails on a missing one). */
import type { TfjsModels } from './model.ts';
import { mlpBody } from './mlp.ts';
import { gmmDenoiserBody, gmmLogDensityBody } from './gmm.ts';
import { tokenMlpBody, tokenOracleBody } from './token.ts';

export const TFJS_MODELS: TfjsModels = { mlp: mlpBody, gmm_denoiser: gmmDenoiserBody, gmm_log_density: gmmLogDensityBody, token_mlp: tokenMlpBody, token_oracle: tokenOracleBody };
export type { ApplyEnv, TfjsModel, TfjsModels } from './model.ts';
