/** @file The closed op vocabulary: every op kind of ops/kinds.ts maps to exactly one defineOp. */
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
import { OP_KINDS, type OpKind } from './kinds.ts';

export const OPS = { ...elementwise, ...reduce, ...random, ...network, ...diffusion, ...labels, ...discrete, ...ancestral, ...pairing } as const satisfies { [K in OpKind]: OpDef<K> };
// no definition outside the vocabulary either
type Extra = Exclude<keyof typeof OPS, OpKind>;
const closed: [Extra] extends [never] ? true : Extra = true;
void closed;

// every entry's `kind` equals its key
for (const [k, def] of Object.entries(OPS)) if (def.kind !== k) throw new Error(`internal: op '${k}' declares kind '${def.kind}'`);

export const opDef = (kind: string): OpDef | undefined => (OPS as Record<string, OpDef>)[kind];
export { OP_KINDS, type OpKind };
