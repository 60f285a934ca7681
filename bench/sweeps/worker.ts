/** @file Child process of runPool: import a module, call one of its functions with the spec, write the result as JSON. */
import fs from 'node:fs';
import { pathToFileURL } from 'node:url';

const [module, fn, spec, out] = process.argv.slice(2);
const mod = (await import(pathToFileURL(module!).href)) as Record<string, (s: unknown) => Promise<unknown>>;
fs.writeFileSync(out!, JSON.stringify(await mod[fn!]!(JSON.parse(spec!))));
