/** @file The closed op vocabulary: every op kind maps to exactly one defineOp. */
import { elementwise } from './elementwise.ts';
import { reduce } from './reduce.ts';
import { random } from './random.ts';
import { network } from './network.ts';
import { diffusion } from './diffusion.ts';
import { labels } from './labels.ts';
import { discrete } from './discrete.ts';
import { ancestral } from './ancestral.ts';
import { pairing } from './pairing.ts';
import type { OpDef } from './define.ts';

export const OPS = { ...elementwise, ...reduce, ...random, ...network, ...diffusion, ...labels, ...discrete, ...ancestral, ...pairing } as const;
export type OpKind = keyof typeof OPS;
export const OP_KINDS = Object.keys(OPS) as OpKind[];

// every entry's `kind` equals its key
for (const [k, def] of Object.entries(OPS)) if (def.kind !== k) throw new Error(`internal: op '${k}' declares kind '${def.kind}'`);

export const opDef = (kind: string): OpDef | undefined => (OPS as Record<string, OpDef>)[kind];
