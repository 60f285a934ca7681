/** @file The IR's text form, one node per line:  %v7 'x' : f32[B,2] = call[model=student](%v3)  # file:line */
import type { GraphIR, IRNode } from './schema.ts';
import { showType } from '../types.ts';
import { decayText } from '../../ops/lr-decay.ts';

const showParam = (v: unknown): string => (typeof v === 'object' ? JSON.stringify(v) : String(v));

function printNode(n: IRNode): string {
  const params = Object.entries(n.params).map(([k, v]) => `${k}=${showParam(v)}`);
  const head = `%${n.id}${n.name ? ` '${n.name}'` : ''} : ${showType(n.type)}`;
  const body = `${n.op}${params.length ? `[${params.join(', ')}]` : ''}(${n.inputs.map((i) => `%${i}`).join(', ')})`;
  return `${head} = ${body}${n.noGrad ? ' nograd' : ''}${n.at ? `  # ${n.at}` : ''}`;
}

export function printIR(ir: GraphIR): string {
  const lines = [`graph ${ir.name} v${ir.version} dims{${Object.entries(ir.dims).map(([k, v]) => `${k}=${v}`).join(', ')}}`];
  for (const [name, d] of Object.entries(ir.datasets))
    lines.push(`  dataset ${name}: ${d.kind === 'gmm' ? `gmm k=${d.means.length} d=${d.means[0]!.length}` : `tokens L=${d.length} V=${d.vocab} support=${d.support.length}`}`);
  for (const m of ir.models)
    lines.push(`  model ${m.role}: ${m.trainable ? 'trainable' : 'frozen'} ${m.kind} ${JSON.stringify(m.config)}${m.initFrom ? ` init=${m.initFrom}` : ''}${m.load ? ` load=${m.load}` : ''}`);
  for (const n of ir.nodes) lines.push(`  ${printNode(n)}`);
  for (const u of ir.updates)
    lines.push(`  minimize ${u.role} loss=%${u.loss} adam(lr=${u.optimizer.lr}${decayText(u.optimizer.decay)}) ratio=${u.ratio}${u.warmup ? ` warmup=${u.warmup}` : ''}${u.ema !== undefined ? ` ema=${u.ema}` : ''}${u.at ? `  # ${u.at}` : ''}`);
  for (const [k, v] of Object.entries(ir.outputs)) lines.push(`  output ${k} = %${v}`);
  if (ir.eval) lines.push(`  evaluate samples=%${ir.eval.samples} target=${ir.eval.target}${ir.eval.teacher ? ` teacher=${ir.eval.teacher.role}` : ''}`);
  lines.push(`  run steps=${ir.run.steps} evalEvery=${ir.run.evalEvery}`);
  return lines.join('\n');
}

/** how errors name a node: `%v12 'x' = call (pipelines/dmd2.ts:38)` */
export const nodeLabel = (n: IRNode): string => `%${n.id}${n.name ? ` '${n.name}'` : ''} = ${n.op}${n.at ? ` (${n.at})` : ''}`;
