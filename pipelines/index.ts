/** @file The ready-made pipelines, by name. */
import type { PipelineDef } from '../dsl/pipeline.ts';
import { toy } from '../dsl/models.ts';
import { dmd2Toy, GRID_DEFAULTS } from './dmd2.ts';
import { dmdRing } from './dmd.ts';
import { dsmRing } from './dsm.ts';
import { forbiddenZone } from './forbidden-zone.ts';
import { copying, copyingTeacher } from './copying.ts';
import { dmmdPipeline } from './dmmd.ts';
import { mmdRing } from './mmd.ts';

export const PIPELINES: Record<string, PipelineDef<any>> = {
  'dmd2-ring': dmd2Toy('dmd2-ring', toy.ring()),
  // a 4-step student pre-fitted to the teacher on its ladder, 15,000 steps: 23–27 % off-mode mass at three seeds,
  // where the one-step student leaves 37–46 % (docs/methods/dmd.md)
  'dmd2-grid': dmd2Toy('dmd2-grid', toy.grid(), GRID_DEFAULTS),
  'dmd-ring': dmdRing,
  'dsm-ring': dsmRing,
  'forbidden-zone': forbiddenZone,
  copying,
  'copying-teacher': copyingTeacher,
  dmmd: dmmdPipeline,
  'mmd-ring': mmdRing,
};
