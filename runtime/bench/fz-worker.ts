/** @file Child process: one arm × seed of the forbidden-zone bench; writes its result as JSON to the path given. */
import fs from 'node:fs';
import { runFzArm, type FzRunSpec } from './fz-run.ts';

const [specJson, out] = process.argv.slice(2);
const result = await runFzArm(JSON.parse(specJson!) as FzRunSpec);
fs.writeFileSync(out!, JSON.stringify(result));
