/**
 * The run-cache: a stage's input signature → the outs it produced. Returning to a configuration
 * that already ran (say, the old learning rate) restores its outs from the cache instead of
 * recomputing them. Entries live inside the cache directory, so a shared cache shares them too:
 *   <cache>/runs/<2 hex>/<signature>.json   {stage, outs: [{path, hash, size, files?}]}
 * An entry's mtime is refreshed whenever it is used, which is what `grow gc` prunes by.
 * Entries may come from other clones or a remote: each is validated (trust.ts) when read, and a
 * malformed one is a miss, never an error and never a path.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, utimesSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { writeFileAtomic } from '../../util/atomic-write.ts';
import { outsideCacheError, rethrowIo } from '../io-error.ts';
import { FINGERPRINT_SALT, md5OfText } from './hash.ts';
import type { LockDep, LockOut } from './lockfile.ts';
import { ContainedDirs, isSignature, parseRunRecord, RUN_NAME_RE, TEMP_INFIX } from './trust.ts';
import type { ParamValues } from '../types.ts';

export interface RunCacheEntry {
  stage: string;
  outs: LockOut[];
}

/** Everything that determines what a stage produces, hashed. Order-independent where it should be. */
export function runSignature(input: { cmd: string[]; deps: LockDep[]; params: ParamValues; outPaths: string[] }): string {
  const deps = [...input.deps].sort((a, b) => (a.path < b.path ? -1 : 1)).map((d) => [d.path, d.hash]);
  const params = Object.keys(input.params)
    .sort()
    .map((f) => [
      f,
      Object.keys(input.params[f])
        .sort()
        .map((k) => [k, input.params[f][k]]),
    ]);
  return md5OfText(JSON.stringify([FINGERPRINT_SALT, input.cmd, deps, params, [...input.outPaths].sort()]));
}

export interface RunListing {
  signature: string;
  stage: string;
  mtimeMs: number;
  path: string;
  outs: LockOut[];
}

export class RunCache {
  readonly dir: string;

  private readonly contained: ContainedDirs;

  constructor(cacheDir: string) {
    this.dir = join(cacheDir, 'runs');
    this.contained = new ContainedDirs(cacheDir);
  }

  private pathOf(signature: string): string {
    if (!isSignature(signature)) throw new Error(`refusing to use ${JSON.stringify(signature)} as a run-cache signature`);
    return join(this.dir, signature.slice(0, 2), `${signature}.json`);
  }

  get(signature: string): RunCacheEntry | undefined {
    if (!isSignature(signature)) return undefined;
    const p = this.pathOf(signature);
    if (!existsSync(p)) return undefined;
    try {
      // A damaged or malformed entry is simply a miss: the stage runs and writes a good one.
      return parseRunRecord(readFileSync(p, 'utf8')) ?? undefined;
    } catch {
      return undefined;
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
    const path = this.pathOf(signature);
    try {
      mkdirSync(dirname(path), { recursive: true });
      if (!this.contained.holds(dirname(path))) throw outsideCacheError(dirname(path), this.dir);
      writeFileAtomic(path, JSON.stringify(entry));
    } catch (e) {
      rethrowIo(e, `write the run-cache entry ${this.pathOf(signature)}`);
    }
  }

  /**
   * Every entry with its signature, last use and the hashes it references; `damaged` lists the
   * entries (and stale temp files) that are not usable, for `gc` to remove. Only names of the
   * run-cache's own shape are looked at: nothing else in the directory is ever listed.
   */
  list(): { entries: RunListing[]; damaged: string[] } {
    const entries: RunListing[] = [];
    const damaged: string[] = [];
    let subs: string[];
    try {
      subs = readdirSync(this.dir);
    } catch {
      return { entries, damaged };
    }
    const hourAgo = Date.now() - 3600e3;
    for (const sub of subs) {
      if (!/^[0-9a-f]{2}$/.test(sub)) continue;
      const subDir = join(this.dir, sub);
      let names: string[];
      try {
        names = readdirSync(subDir);
      } catch {
        continue; // not a directory
      }
      for (const f of names) {
        const path = join(subDir, f);
        if (f.includes(TEMP_INFIX) && RUN_NAME_RE.test(f.slice(0, f.indexOf(TEMP_INFIX)))) {
          // An interrupted put: removed once it is clearly not being written any more.
          if (statSync(path).mtimeMs < hourAgo) damaged.push(path);
          continue;
        }
        if (!RUN_NAME_RE.test(f) || !f.startsWith(sub)) continue;
        const entry = this.get(f.slice(0, -5));
        if (!entry) {
          damaged.push(path);
          continue;
        }
        entries.push({ signature: f.slice(0, -5), stage: entry.stage, mtimeMs: statSync(path).mtimeMs, path, outs: entry.outs });
      }
    }
    return { entries, damaged };
  }
}
