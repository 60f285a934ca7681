/** @file The closed vocabulary of op kinds. The IR schema accepts only these; ops/registry.ts defines each one and
 * every target's lowering table must cover each one (`tsc` checks both). */
export const OP_KINDS = [
  // elementwise
  'add', 'sub', 'mul', 'div', 'pow', 'maximum', 'minimum', 'neg', 'abs', 'square', 'sqrt', 'exp', 'log', 'sin', 'cos', 'tanh', 'sigmoid', 'silu', 'relu', 'softplus', 'log_sigmoid', 'nan_to_num',
  'greater', 'less', 'equal', 'where', 'cast', 'stop_gradient',
  // reductions
  'sum', 'mean', 'max', 'min',
  // sources
  'randn', 'uniform', 'sample_data', 'fill', 'scalar',
  // networks and shapes
  'matmul', 'concat', 'reshape', 'call',
  // diffusion
  'alpha', 'sigma', 'pf_ode',
  // class conditions
  'labels', 'null_label', 'one_hot', 'shuffle',
  // masked discrete diffusion
  'nucleus', 'softmax', 'log_softmax', 'mask_diffuse', 'categorical', 'mask_posterior', 'masked_sample',
  // Gaussian ancestral sampling
  'gauss_posterior', 'ancestral_sample',
  // pairing metrics
  'pairing_error', 'transport_energy',
] as const;
export type OpKind = (typeof OP_KINDS)[number];

/** the model kinds, likewise closed */
export const MODEL_KINDS = ['mlp', 'gmm_denoiser', 'gmm_log_density', 'token_mlp', 'token_oracle'] as const;
export type ModelKind = (typeof MODEL_KINDS)[number];
