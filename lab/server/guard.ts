/** @file What the lab's server lets in: requests addressed to this loopback server only (no DNS rebinding, no other
 * site's page), and paths only inside the folder it was started in (no traversal, no symlink out). */
import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../../dsl/errors.ts';

const LOCAL_HOSTS = ['127.0.0.1', 'localhost'];

/** null when the request may proceed, else why not. A browser always sends Host; it sends Origin on cross-origin
 * requests and on every POST: both must name this server. */
export function refusal(headers: { host?: string; origin?: string }, port: number): string | null {
  const allowed = LOCAL_HOSTS.map((h) => `${h}:${port}`);
  if (!headers.host || !allowed.includes(headers.host.toLowerCase())) return `Host '${headers.host ?? ''}' is not this server (${allowed.join(' or ')})`;
  if (headers.origin !== undefined && !allowed.map((a) => `http://${a}`).includes(headers.origin.toLowerCase())) return `Origin '${headers.origin}' is not this server`;
  return null;
}

/** `rel` (a path relative to `root`, from the page) as an absolute path inside `root`; refuses absolute paths, `..`
 * out of it, and symlinks whose target lies outside it. `must` 'exist' also requires an existing file. */
export function insideRoot(root: string, rel: string, must: 'exist' | 'maybe' = 'exist'): string {
  if (typeof rel !== 'string' || rel === '' || rel.includes('\0')) throw new UserError('a path is required');
  if (path.isAbsolute(rel)) throw new UserError(`'${rel}': give a path relative to the lab's folder`);
  const realRoot = fs.realpathSync(root);
  const abs = path.resolve(realRoot, rel);
  const within = (p: string) => {
    const r = path.relative(realRoot, p);
    return r !== '' && !r.startsWith('..') && !path.isAbsolute(r);
  };
  if (!within(abs)) throw new UserError(`'${rel}' is outside the lab's folder`);
  if (fs.existsSync(abs)) {
    if (!within(fs.realpathSync(abs))) throw new UserError(`'${rel}' links outside the lab's folder`);
    if (!fs.statSync(abs).isFile()) throw new UserError(`'${rel}' is not a file`);
  } else if (must === 'exist') throw new UserError(`no such file: ${rel}`);
  else {
    const dir = fs.existsSync(path.dirname(abs)) ? fs.realpathSync(path.dirname(abs)) : undefined;
    if (!dir || (dir !== realRoot && !within(dir))) throw new UserError(`'${rel}': its folder is not inside the lab's folder`);
  }
  return abs;
}
