/**
 * @file Pairing metrics as graph ops (docs/methods/copying.md), so any pipeline can log them with `g.output`:
 * - pairing_error(a, b): E‖a − b‖² over a baseline — 'shuffle': E‖a − π b‖² with a fixed derangement π (dCopy when
 *   a = G(z), b = Φ(z)); 'gaussian': 2·D, the value for independent unit Gaussians (dNoise when a = Φ⁻¹(G(z)), b = z).
 *   0: a reproduces b's pairing; ≈ 1: a pairing independent of it.
 * - transport_energy(m, z): E‖m_i − s·z_i‖² for the given pairing, or for the optimal one on the batch ('ot', exact
 *   assignment by the Hungarian algorithm) — the terms of the ΔE candidates of docs/methods/copying.md.
 * Both are forward-only: no gradient flows through them.
 */
import * as z from 'zod';
import { defineOp, OpShapeError } from './define.ts';
import { showType, type TensorType } from '../dsl/types.ts';
import { derangement, otEnergy } from './metrics/copying.ts';

function samePair(name: string, a: TensorType, b: TensorType) {
  if (a.dtype !== 'f32' || a.shape.length !== 2) throw new OpShapeError(`${name} expects f32[B,D], got ${showType(a)}`);
  if (a.shape.join() !== b.shape.join()) throw new OpShapeError(`${name} expects two tensors of one shape, got ${showType(a)} and ${showType(b)}`);
}

export const pairing = {
  pairing_error: defineOp({
    kind: 'pairing_error',
    params: z.object({ baseline: z.enum(['shuffle', 'gaussian']).default('shuffle') }).strict(),
    arity: 2,
    shape: ([a, b]) => (samePair('pairing_error', a!, b!), { dtype: 'f32', shape: [] }),
    differentiable: false,
    // a statistic of the whole batch
    rows: 'mixes',
  }),
  transport_energy: defineOp({
    kind: 'transport_energy',
    params: z.object({ scale: z.number().default(1), coupling: z.enum(['paired', 'ot']).default('paired'), rows: z.int().positive().max(1024).default(256) }).strict(),
    arity: 2,
    shape: ([m, zz]) => (samePair('transport_energy', m!, zz!), { dtype: 'f32', shape: [] }),
    differentiable: false,
    // a statistic of the whole batch
    rows: 'mixes',
  }),
};
