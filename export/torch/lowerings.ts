/** @file The PyTorch target's lowering table: for every op kind, the Python expression that computes it (or why the
 * target cannot). `tsc` fails on a missing kind. Helpers live in the package's ops.py; random ops draw through
 * `rt.draw` so a run can replay distillery's own draws. */
import type { z } from 'zod';
import type { Dim, DType } from '../../dsl/types.ts';
import type { OPS } from '../../ops/registry.ts';
import type { OpKind } from '../../ops/kinds.ts';
import { normaliseAxes } from '../../ops/shape.ts';

type ParamsOf<K extends OpKind> = z.output<(typeof OPS)[K]['params']>;

/** what an emitter sees of its node */
export interface EmitCtx {
  /** Python for a dim: a literal, or the variable holding a named dim's size here (a mixing node sees the whole batch) */
  dim(d: Dim): string;
  /** Python tuple of a shape */
  shape(s: readonly Dim[]): string;
  /** the ranks of the node's inputs */
  ranks: number[];
  /** Python callable of a role's model */
  model(role: string): string;
  /** wrap a fresh draw `body` (Python using `g`, a torch.Generator) in the node's replayable draw */
  draw(body: string): string;
  /** the node's id, for draws that replay something other than the output */
  id: string;
}

export type TorchLowering<P> = { emit(ins: string[], p: P, ctx: EmitCtx): string } | { unsupported: string };
export type TorchTable = { [K in OpKind]: TorchLowering<ParamsOf<K>> };

const TORCH_DTYPE: Record<DType, string> = { f32: 'torch.float32', i32: 'torch.int32', bool: 'torch.bool' };

const py = (v: unknown): string => (v === undefined ? 'None' : v === true ? 'True' : v === false ? 'False' : typeof v === 'number' ? num(v) : typeof v === 'string' ? JSON.stringify(v) : Array.isArray(v) ? `[${v.map(py).join(', ')}]` : `{${Object.entries(v as object).map(([k, x]) => `${JSON.stringify(k)}: ${py(x)}`).join(', ')}}`);
const num = (v: number): string => (Number.isFinite(v) ? (Number.isInteger(v) ? `${v}` : `${v}`) : Number.isNaN(v) ? "float('nan')" : v > 0 ? "float('inf')" : "-float('inf')");
/** a Python literal of a JSON-like value */
export const pyLiteral = py;

const un = (f: (x: string) => string) => ({ emit: ([x]: string[]) => f(x!) });
const bin = (f: (a: string, b: string) => string) => ({ emit: ([a, b]: string[]) => f(a!, b!) });
const reduction = (fn: string) => ({
  emit: ([x]: string[], p: ParamsOf<'sum'>, ctx: EmitCtx) => {
    const axes = normaliseAxes(p.axes, ctx.ranks[0]!);
    if (!axes.length) return x!;
    return `torch.${fn}(${x}, dim=(${axes.join(', ')}${axes.length === 1 ? ',' : ''}), keepdim=${py(p.keepDims)})`;
  },
});

export const TORCH_LOWERINGS: TorchTable = {
  add: bin((a, b) => `${a} + ${b}`),
  sub: bin((a, b) => `${a} - ${b}`),
  mul: bin((a, b) => `${a} * ${b}`),
  div: bin((a, b) => `${a} / ${b}`),
  pow: bin((a, b) => `torch.pow(${a}, ${b})`),
  maximum: bin((a, b) => `torch.maximum(${a}, ${b})`),
  minimum: bin((a, b) => `torch.minimum(${a}, ${b})`),
  neg: un((x) => `-${x}`),
  abs: un((x) => `torch.abs(${x})`),
  square: un((x) => `torch.square(${x})`),
  sqrt: un((x) => `torch.sqrt(${x})`),
  exp: un((x) => `torch.exp(${x})`),
  log: un((x) => `torch.log(${x})`),
  sin: un((x) => `torch.sin(${x})`),
  cos: un((x) => `torch.cos(${x})`),
  tanh: un((x) => `torch.tanh(${x})`),
  sigmoid: un((x) => `torch.sigmoid(${x})`),
  silu: un((x) => `${x} * torch.sigmoid(${x})`),
  relu: un((x) => `torch.relu(${x})`),
  softplus: un((x) => `torch.nn.functional.softplus(${x})`),
  log_sigmoid: un((x) => `torch.nn.functional.logsigmoid(${x})`),
  nan_to_num: un((x) => `ops.nan_to_num(${x})`),
  greater: bin((a, b) => `torch.gt(${a}, ${b})`),
  less: bin((a, b) => `torch.lt(${a}, ${b})`),
  equal: bin((a, b) => `torch.eq(${a}, ${b})`),
  where: { emit: ([c, a, b]) => `torch.where(${c}, ${a}, ${b})` },
  cast: { emit: ([x], p) => `${x}.to(${TORCH_DTYPE[p.dtype]})` },
  stop_gradient: un((x) => `${x}.detach()`),
  sum: reduction('sum'),
  mean: reduction('mean'),
  max: reduction('amax'),
  min: reduction('amin'),
  randn: { emit: (_i, p, c) => c.draw(`torch.randn(${c.shape(p.shape)}, generator=g)`) },
  uniform: { emit: (_i, p, c) => c.draw(`${num(p.low)} + ${num(p.high - p.low)} * torch.rand(${c.shape(p.shape)}, generator=g)`) },
  sample_data: { emit: (_i, p, c) => c.draw(`ops.sample_data(DATASETS[${py(p.dataset)}], ${c.dim(p.rows)}, g)`) },
  fill: { emit: (_i, p, c) => `torch.full(${c.shape(p.shape)}, ${num(p.value)}, device=rt.device)` },
  scalar: { emit: (_i, p) => `torch.tensor(${num(p.value)}, dtype=${TORCH_DTYPE[p.dtype]}, device=rt.device)` },
  matmul: bin((a, b) => `${a} @ ${b}`),
  concat: { emit: (ins, p) => `torch.cat([${ins.join(', ')}], ${p.axis})` },
  reshape: { emit: ([x], p, c) => `${x}.reshape(${c.shape(p.shape)})` },
  call: { emit: (ins, p, c) => `${c.model(p.model)}(${[...ins, ...(p.output ? [`output=${py(p.output)}`] : [])].join(', ')})` },
  alpha: { emit: ([t], p) => `ops.alpha(${py(p.schedule)}, ${t})` },
  sigma: { emit: ([t], p) => `ops.sigma(${py(p.schedule)}, ${t})` },
  pf_ode: { emit: ([z, c], p, ctx) => `ops.pf_ode(${ctx.model(p.model)}, ${z}, ${py(p)}${c ? `, ${c}` : ''})` },
  labels: { emit: (_i, p, c) => c.draw(`ops.labels(${c.dim(p.rows)}, ${p.classes}, ${py(p.layout)}, g)`) },
  null_label: { emit: (_i, p, c) => `torch.full((${c.dim(p.rows)},), -1, dtype=torch.int32, device=rt.device)` },
  one_hot: { emit: ([x], p) => `ops.one_hot(${x}, ${p.depth})` },
  shuffle: { emit: ([x], _p, c) => `${x}[rt.permutation(${py(c.id)}, ${x}.shape[0])]` },
  nucleus: { emit: ([q], p) => `ops.nucleus(${q}, ${num(p.p)})` },
  softmax: un((x) => `torch.softmax(${x}, -1)`),
  log_softmax: un((x) => `torch.log_softmax(${x}, -1)`),
  mask_diffuse: { emit: ([x, t], p, c) => c.draw(`ops.mask_diffuse(${x}, ${t}, ${p.mask}, g)`) },
  categorical: { emit: ([q], _p, c) => c.draw(`ops.categorical(${q}, g)`) },
  mask_posterior: { emit: ([zt, x, t, s], p, c) => c.draw(`ops.mask_posterior(${zt}, ${x}, ${t}, ${s}, ${p.mask}, g)`) },
  masked_sample: {
    emit: (_i, p, c) => c.draw(`ops.masked_sample(${c.model(p.model)}, ${py(p)}, ${c.dim(p.rows)}, g, rt.device${p.base ? `, base=${c.model(p.base)}` : ''})`),
  },
  gauss_posterior: { emit: ([zt, x, t, s], p, c) => c.draw(`ops.gauss_posterior(${py(p.schedule)}, ${zt}, ${x}, ${t}, ${s}, g)`) },
  ancestral_sample: { emit: (_i, p, c) => c.draw(`ops.ancestral_sample(${c.model(p.model)}, ${py(p)}, ${c.dim(p.rows)}, g, rt.device)`) },
  pairing_error: { emit: ([a, b], p) => `ops.pairing_error(${a}, ${b}, ${py(p.baseline)})` },
  transport_energy: { emit: ([m, z], p) => `ops.transport_energy(${m}, ${z}, ${num(p.scale)}, ${py(p.coupling)}, ${p.rows})` },
};
