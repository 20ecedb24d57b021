/**
 * The run-cache: a stage's input signature → the outs it produced. Returning to a configuration
 * that already ran (say, the old learning rate) restores its outs from the cache instead of
 * recomputing them. Entries live inside the cache directory, so a shared cache shares them too:
 *   <cache>/runs/<2 hex>/<signature>.json   {stage, outs: [{path, hash, size, files?}]}
 * An entry's mtime is refreshed whenever it is used, which is what `grow gc` prunes by.
 */
import { existsSync, readdirSync, readFileSync, rmSync, statSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from './fs-atomic.ts';
import { FINGERPRINT_SALT, md5OfText } from './hash.ts';
import type { LockDep, LockOut } from './lock.ts';
import type { ParamValues } from './types.ts';

export interface RunCacheEntry {
  stage: string;
  outs: LockOut[];
}

/** Everything that determines what a stage produces, hashed. Order-independent where it should be. */
export function runSignature(input: { cmd: string[]; deps: LockDep[]; params: ParamValues; outPaths: string[] }): string {
  const deps = [...input.deps].sort((a, b) => (a.path < b.path ? -1 : 1)).map((d) => [d.path, d.hash]);
  const params = Object.keys(input.params)
    .sort()
    .map((f) => [f, Object.keys(input.params[f]).sort().map((k) => [k, input.params[f][k]])]);
  return md5OfText(JSON.stringify([FINGERPRINT_SALT, input.cmd, deps, params, [...input.outPaths].sort()]));
}

export class RunCache {
  readonly dir: string;

  constructor(cacheDir: string) {
    this.dir = join(cacheDir, 'runs');
  }

  private pathOf(signature: string): string {
    return join(this.dir, signature.slice(0, 2), `${signature}.json`);
  }

  get(signature: string): RunCacheEntry | undefined {
    const p = this.pathOf(signature);
    if (!existsSync(p)) return undefined;
    try {
      const entry = JSON.parse(readFileSync(p, 'utf8')) as RunCacheEntry;
      if (!Array.isArray(entry.outs)) return undefined;
      return entry;
    } catch {
      return undefined; // a damaged entry is simply a miss
    }
  }

  /** Marks an entry as used now, so age-based pruning keeps what is still in use. */
  touch(signature: string): void {
    const now = new Date();
    try {
      utimesSync(this.pathOf(signature), now, now);
    } catch {
      /* gone meanwhile: nothing to keep alive */
    }
  }

  put(signature: string, entry: RunCacheEntry): void {
    writeFileAtomic(this.pathOf(signature), JSON.stringify(entry));
  }

  /** Every entry with its signature, last use and the hashes it references. */
  list(): { signature: string; stage: string; mtimeMs: number; path: string; outs: LockOut[] }[] {
    if (!existsSync(this.dir)) return [];
    const out = [];
    for (const sub of readdirSync(this.dir)) {
      const subDir = join(this.dir, sub);
      for (const f of readdirSync(subDir)) {
        if (!f.endsWith('.json')) continue;
        const path = join(subDir, f);
        const entry = this.get(f.slice(0, -5));
        if (!entry) {
          rmSync(path, { force: true });
          continue;
        }
        out.push({ signature: f.slice(0, -5), stage: entry.stage, mtimeMs: statSync(path).mtimeMs, path, outs: entry.outs });
      }
    }
    return out;
  }
}
