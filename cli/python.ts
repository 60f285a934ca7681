/** @file Finding a Python that imports torch, and running an exported package with it (one process or torchrun). */
import { spawnSync } from 'node:child_process';
import { UserError } from '../dsl/errors.ts';

let found: string | null | undefined;

/** `$DISTILLERY_PYTHON`, `python3` on PATH or Debian's `/usr/bin/python3`: the first that imports torch (null: none) */
export function torchPython(): string | null {
  if (found !== undefined) return found;
  const candidates = [process.env.DISTILLERY_PYTHON, 'python3', '/usr/bin/python3'].filter((x): x is string => !!x);
  found = candidates.find((py) => spawnSync(py, ['-c', 'import torch'], { stdio: 'ignore' }).status === 0) ?? null;
  return found;
}

export const NO_TORCH =
  'PyTorch is not importable from $DISTILLERY_PYTHON, python3 or /usr/bin/python3: install it (Debian: apt-get install python3-torch libopenblas0-openmp) or point DISTILLERY_PYTHON at a Python that has it';

/** Run `train.py` of an exported package: one process, or `ranks` processes under torchrun (DDP). */
export function runTrain(pkg: string, args: string[], o: { ranks?: number; threads?: number } = {}): { status: number; output: string } {
  const py = torchPython();
  if (!py) throw new UserError(NO_TORCH);
  const ranks = o.ranks ?? 1;
  // Debian's torch 1.13 torchrun dies at start under Python 3.11 without --redirects/--tee (its Std flag parsing)
  const argv = ranks > 1 ? ['-m', 'torch.distributed.run', '--standalone', '--redirects', '1', '--tee', '1', '--nproc_per_node', String(ranks), 'train.py', ...args] : ['train.py', ...args];
  const threads = String(o.threads ?? 1);
  const r = spawnSync(py, argv, { cwd: pkg, encoding: 'utf8', env: { ...process.env, OMP_NUM_THREADS: threads, MKL_NUM_THREADS: threads }, maxBuffer: 64 << 20 });
  return { status: r.status ?? 1, output: `${r.stdout ?? ''}${r.stderr ?? ''}` };
}
