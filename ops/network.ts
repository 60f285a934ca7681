/** @file Matrix product, concatenation, reshape, and calls into role models. */
import * as z from 'zod';
import { defineOp, OpShapeError } from './define.ts';
import { sameDtype } from './shape.ts';
import { modelDef } from './models/index.ts';
import { showType } from '../dsl/types.ts';

export const network = {
  matmul: defineOp({
    kind: 'matmul',
    params: z.object({}).strict(),
    arity: 2,
    shape: ([a, b]) => {
      sameDtype([a!, b!], 'f32');
      if (a!.shape.length !== 2 || b!.shape.length !== 2 || a!.shape[1] !== b!.shape[0])
        throw new OpShapeError(`matmul needs [M,K]·[K,N], got ${showType(a!)} · ${showType(b!)}`);
      return { dtype: 'f32', shape: [a!.shape[0]!, b!.shape[1]!] };
    },
    differentiable: true,
    // a contraction over the batch (xᵀ·y) meets every row
    rows: (_p, [a]) => (typeof a!.shape[1] === 'string' ? 'mixes' : 'rowwise'),
  }),
  concat: defineOp({
    kind: 'concat',
    params: z.object({ axis: z.number().int() }).strict(),
    arity: [1, 64],
    shape: (ins, p) => {
      const dtype = sameDtype(ins);
      const rank = ins[0]!.shape.length;
      const axis = p.axis < 0 ? p.axis + rank : p.axis;
      if (axis < 0 || axis >= rank) throw new OpShapeError(`axis ${p.axis} out of range for rank ${rank}`);
      const shape = [...ins[0]!.shape];
      let total: number | string = 0;
      for (const t of ins) {
        if (t.shape.length !== rank || t.shape.some((d, i) => i !== axis && d !== shape[i]))
          throw new OpShapeError(`concat inputs disagree off axis ${axis}: ${ins.map(showType).join(', ')}`);
        const d = t.shape[axis]!;
        total = typeof total === 'number' && typeof d === 'number' ? total + d : `${total}+${d}`;
      }
      if (typeof total === 'string') throw new OpShapeError(`concat along a named dim is not supported (${total})`);
      shape[axis] = total;
      return { dtype, shape };
    },
    differentiable: true,
    rows: (p, ins) => ((p.axis < 0 ? p.axis + ins[0]!.shape.length : p.axis) === 0 ? 'mixes' : 'rowwise'),
  }),
  reshape: defineOp({
    kind: 'reshape',
    params: z.object({ shape: z.array(z.union([z.number().int().positive(), z.string().min(1)])) }).strict(),
    arity: 1,
    shape: ([x], p) => {
      // sizes must agree symbolically: the same named dims, the same product of the literal ones
      const sig = (s: readonly (number | string)[]) => {
        const named = s.filter((d): d is string => typeof d === 'string').sort();
        return `${named.join(',')}|${s.filter((d): d is number => typeof d === 'number').reduce((a, b) => a * b, 1)}`;
      };
      if (sig(x!.shape) !== sig(p.shape)) throw new OpShapeError(`reshape ${showType(x!)} to [${p.shape.join(',')}]: sizes differ`);
      return { dtype: x!.dtype, shape: [...p.shape] };
    },
    differentiable: true,
    // rows stay rows only while the leading dim is kept
    rows: (p, [x]) => (x!.shape[0] === p.shape[0] ? 'rowwise' : 'mixes'),
  }),
  /** a role's model on these inputs */
  call: defineOp({
    kind: 'call',
    /** `output`: one of the model's named outputs instead of its main one (ModelDef.outputs) */
    params: z.object({ model: z.string().min(1), output: z.string().min(1).optional() }).strict(),
    arity: [1, 8],
    shape: (ins, p, ctx) => {
      const decl = ctx.model(p.model);
      if (!decl) throw new OpShapeError(`no model has the role '${p.model}'`, 'unknown_model');
      const def = modelDef(decl.kind);
      if (!def) throw new OpShapeError(`unknown model kind '${decl.kind}'`, 'unknown_model');
      const cfg = def.config.safeParse(decl.config);
      // verify reports the bad config itself, at the model's declaration
      if (!cfg.success) throw new OpShapeError(`model '${p.model}' has an invalid config`, 'bad_params');
      const main = def.outType(cfg.data, ins, ctx);
      if (p.output === undefined) return main;
      const named = def.outputs?.(cfg.data, ins, ctx) ?? {};
      const t = named[p.output];
      if (!t) throw new OpShapeError(`model '${p.model}' (${decl.kind}) has no output '${p.output}'; its outputs: ${['the main one', ...Object.keys(named).map((k) => `'${k}'`)].join(', ')}`);
      return t;
    },
    differentiable: true,
    // every model kind maps rows to rows (ModelDef)
    rows: 'rowwise',
  }),
};
