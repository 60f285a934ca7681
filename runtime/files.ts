/** @file A run folder that appears whole or not at all: files are staged, then moved in when the run succeeds. */
import fs from 'node:fs';
import path from 'node:path';
import { UserError } from '../dsl/errors.ts';

export class RunFolder {
  private staging: string;
  private written: string[] = [];
  /** the folder did not exist before this run: a failed run removes it again */
  private created: boolean;
  /** `clean`: first remove the staging folders of runs that were killed (a resumed run) */
  constructor(
    readonly dir: string,
    o: { clean?: boolean } = {},
  ) {
    const abs = path.resolve(dir);
    this.created = !fs.existsSync(abs);
    try {
      fs.mkdirSync(abs, { recursive: true });
      if (o.clean) for (const n of fs.readdirSync(abs)) if (n.startsWith('.staging-')) fs.rmSync(path.join(abs, n), { recursive: true, force: true });
      fs.accessSync(abs, fs.constants.W_OK);
      this.staging = fs.mkdtempSync(path.join(abs, '.staging-'));
    } catch (e) {
      throw new UserError(`cannot write to --out '${dir}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }

  write(name: string, data: string | Uint8Array): void {
    const p = path.join(this.staging, name);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    fs.writeFileSync(p, data);
    this.written.push(name);
  }

  /** a folder in the staging area that another writer fills (a bench's run folders); it moves in with `commit` */
  subfolder(name: string): string {
    const p = path.join(this.staging, name);
    fs.mkdirSync(path.dirname(p), { recursive: true });
    this.written.push(name);
    return p;
  }

  /** move every staged file into the folder (each rename is atomic) */
  commit(): string[] {
    for (const name of this.written) {
      const to = path.join(this.dir, name);
      fs.mkdirSync(path.dirname(to), { recursive: true });
      if (fs.statSync(path.join(this.staging, name), { throwIfNoEntry: false })?.isDirectory()) fs.rmSync(to, { recursive: true, force: true });
      fs.renameSync(path.join(this.staging, name), to);
    }
    this.discard();
    return this.written.map((n) => path.join(this.dir, n));
  }

  discard(): void {
    fs.rmSync(this.staging, { recursive: true, force: true });
    if (this.created && fs.existsSync(this.dir) && fs.readdirSync(this.dir).length === 0) fs.rmdirSync(this.dir);
  }
}
