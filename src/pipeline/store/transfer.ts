/**
 * Moving cache contents between two cache directories (`grow push` / `grow pull`): the project's
 * cache and a second one, e.g. on a shared file system or a mounted bucket. Both sides use the
 * cache's layout (see cache.ts, run-cache.ts):
 *   <cache>/files/md5/<2 hex>/<30 hex>[.dir]   objects (files, directory manifests)
 *   <cache>/runs/<2 hex>/<signature>.json       run-cache entries
 *
 * Guarantees, so that readers on other machines may use the destination while we write it:
 * - every object is copied to a uniquely named temp file beside its final name, verified against
 *   the md5 its name promises, made read-only, and only then renamed into place (atomic on one
 *   file system); a source object whose content does not match its name is reported, not copied;
 * - file objects go first, directory manifests next, run-cache entries last, and an entry is copied
 *   only when every object it refers to is present at the destination: nobody can see a manifest
 *   or run entry whose objects are still missing;
 * - what the destination already has is skipped without being read, so a repeated transfer costs
 *   one directory listing and copies nothing (idempotent);
 * - nothing from the source is trusted (trust.ts): only names of the cache's own shape are listed,
 *   a manifest must name safe paths and a run-cache entry must be well-formed to be copied;
 * - a failed copy (a full destination) leaves no temp file, and the other copies in flight finish
 *   or fail cleanly before the error is reported; temp files that a killed transfer left at the
 *   destination are removed by the next transfer once they are an hour old.
 */
import { createHash } from 'node:crypto';
import {
  chmodSync,
  constants,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
// Temp names carry host, pid and random bytes: unique across machines sharing the destination.
import { tempPathFor } from '../../util/atomic-write.ts';
import { isDirHash, md5OfFile } from './hash.ts';
import { outsideCacheError, rethrowIo } from '../io-error.ts';
import {
  hashOfObjectName,
  isHash,
  objectRelpath,
  OBJECT_NAME_RE,
  OBJECT_SUBDIR_RE,
  parseManifest,
  parseRunRecord,
  RUN_NAME_RE,
  TEMP_INFIX,
  ContainedDirs,
} from './trust.ts';

export interface TransferReport {
  /** Objects copied, and their bytes. */
  objects: number;
  bytes: number;
  /** Run-cache entries copied. */
  runs: number;
  /** Objects and entries the destination already had. */
  present: number;
  /** Source objects whose content does not match their name (left behind). */
  corrupt: string[];
  /** Run-cache entries not copied because an object they need is missing at both ends. */
  incompleteRuns: number;
  /** Source run-cache entries that are not well-formed (left behind). */
  malformedRuns: number;
}

/**
 * Relative paths (`ab/cdef….dir`) of the entries of a two-level fan-out directory whose names
 * match `nameRe`; anything else there (temp files, foreign files) is never listed.
 */
function listFanout(dir: string, nameRe: RegExp): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const sub of readdirSync(dir).sort()) {
    if (!OBJECT_SUBDIR_RE.test(sub)) continue;
    let names: string[];
    try {
      names = readdirSync(join(dir, sub));
    } catch {
      continue; // not a directory
    }
    for (const name of names.sort()) if (nameRe.test(name)) out.push(`${sub}/${name}`);
  }
  return out;
}

/**
 * Removes temp files an interrupted transfer (kill -9, a crash) left in a fan-out directory, once
 * they are an hour old: no live transfer takes that long over one file's copy.
 */
function sweepStaleTemps(dir: string, nameRe: RegExp, inside: DestGuard): void {
  if (!existsSync(dir)) return;
  const hourAgo = Date.now() - 3600e3;
  for (const sub of readdirSync(dir)) {
    if (!OBJECT_SUBDIR_RE.test(sub) || !inside.holds(join(dir, sub))) continue;
    let names: string[];
    try {
      names = readdirSync(join(dir, sub));
    } catch {
      continue;
    }
    for (const name of names) {
      const at = name.indexOf(TEMP_INFIX);
      if (at === -1 || !nameRe.test(name.slice(0, at))) continue;
      const path = join(dir, sub, name);
      try {
        if (statSync(path).mtimeMs < hourAgo) rmSync(path, { force: true });
      } catch {
        /* gone meanwhile */
      }
    }
  }
}

const objectRel = objectRelpath;

/**
 * Copies `src` to `dest` through a temp file; `verify` checks the temp copy before it becomes
 * visible. Returns false (and leaves nothing behind) when verification fails.
 */
async function copyAtomic(
  src: string,
  dest: string,
  verify: (tmp: string) => Promise<boolean>,
  mode?: number,
  inside?: DestGuard,
): Promise<boolean> {
  const tmp = tempPathFor(dest);
  try {
    mkdirSync(dirname(dest), { recursive: true });
    inside?.check(dirname(dest));
    copyFileSync(src, tmp, constants.COPYFILE_FICLONE);
    if (!(await verify(tmp))) return false;
    if (mode !== undefined) chmodSync(tmp, mode);
    renameSync(tmp, dest);
    return true;
  } catch (e) {
    return rethrowIo(e, `copy ${src} to ${dest}`);
  } finally {
    rmSync(tmp, { force: true });
  }
}

/** Keeps every write of a transfer (and its temp sweeping) inside the destination directory. */
class DestGuard {
  private readonly dirs: ContainedDirs;

  constructor(private readonly root: string) {
    mkdirSync(root, { recursive: true });
    this.dirs = new ContainedDirs(root);
  }

  holds(dir: string): boolean {
    return this.dirs.holds(dir);
  }

  check(dir: string): void {
    if (!this.holds(dir)) throw outsideCacheError(dir, this.root);
  }
}

/**
 * md5 of a file. Small files are hashed in place: hasha's worker thread costs ~1 ms per call, which
 * dominates a cache of many small objects; large ones go to the worker so the event loop stays free.
 */
async function md5Of(path: string): Promise<string> {
  if (statSync(path).size <= 1024 * 1024) return createHash('md5').update(readFileSync(path)).digest('hex');
  return md5OfFile(path);
}

interface ObjectJob {
  rel: string;
  hash: string;
}

/** Runs `fn` over `items`, `limit` at a time: enough to overlap I/O on a network file system. */
async function eachLimited<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    // After the first failure no new copy starts; those in flight finish (and clean up their temp
    // files) before the failure is reported: the process must not exit under them.
    while (next < items.length && !failure) {
      try {
        await fn(items[next++]);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure) throw failure.error;
}

export async function transferCache(fromDir: string, toDir: string): Promise<TransferReport> {
  const report: TransferReport = { objects: 0, bytes: 0, runs: 0, present: 0, corrupt: [], incompleteRuns: 0, malformedRuns: 0 };
  const fromObjects = join(fromDir, 'files', 'md5');
  const toObjects = join(toDir, 'files', 'md5');

  const inside = new DestGuard(toDir);
  sweepStaleTemps(toObjects, OBJECT_NAME_RE, inside);
  sweepStaleTemps(join(toDir, 'runs'), RUN_NAME_RE, inside);
  const objects: ObjectJob[] = listFanout(fromObjects, OBJECT_NAME_RE).map((rel) => ({
    rel,
    hash: hashOfObjectName(rel.slice(0, 2), rel.slice(3))!,
  }));
  const copyObject = async ({ rel, hash }: ObjectJob) => {
    const dest = join(toObjects, rel);
    if (existsSync(dest)) {
      report.present++;
      return;
    }
    const src = join(fromObjects, rel);
    const expected = hash.replace(/^md5:/, '').replace(/\.dir$/, '');
    // A directory manifest's name is the md5 of its bytes too (cache.ts), so one check fits both;
    // a manifest must also name only safe paths, or it is as unusable as a corrupt object.
    const ok = await copyAtomic(
      src,
      dest,
      async (tmp) => (await md5Of(tmp)) === expected && (!isDirHash(hash) || parseManifest(readFileSync(tmp)) !== null),
      0o444,
      inside,
    );
    if (!ok) {
      report.corrupt.push(hash);
      return;
    }
    report.objects++;
    report.bytes += statSync(dest).size;
  };
  // Files before manifests: a manifest at the destination always finds its files there.
  await eachLimited(
    objects.filter((o) => !isDirHash(o.hash)),
    4,
    copyObject,
  );
  await eachLimited(
    objects.filter((o) => isDirHash(o.hash)),
    4,
    copyObject,
  );

  const hasObject = (hash: string): boolean => existsSync(join(toObjects, objectRel(hash)));
  const complete = (hash: string): boolean => {
    if (!hasObject(hash)) return false;
    if (!isDirHash(hash)) return true;
    try {
      const manifest = parseManifest(readFileSync(join(toObjects, objectRel(hash))));
      return manifest !== null && manifest.every((m) => hasObject(`md5:${m.md5}`));
    } catch {
      return false;
    }
  };

  const fromRuns = join(fromDir, 'runs');
  const toRuns = join(toDir, 'runs');
  for (const rel of listFanout(fromRuns, RUN_NAME_RE)) {
    if (!rel.slice(3).startsWith(rel.slice(0, 2))) continue; // not where the run-cache puts it
    const dest = join(toRuns, rel);
    if (existsSync(dest)) {
      report.present++;
      continue;
    }
    let outs: { hash: string }[];
    try {
      const entry = parseRunRecord(readFileSync(join(fromRuns, rel), 'utf8'));
      if (!entry) {
        report.malformedRuns++; // the run-cache treats it as a miss too: never spread it
        continue;
      }
      outs = entry.outs;
    } catch {
      continue;
    }
    if (!outs.every((o) => isHash(o.hash) && complete(o.hash))) {
      report.incompleteRuns++;
      continue;
    }
    // Entries are small JSON written atomically by the run-cache; parsing it above is the check.
    await copyAtomic(join(fromRuns, rel), dest, async () => true, undefined, inside);
    report.runs++;
  }
  return report;
}

export function formatTransfer(verb: 'pushed' | 'pulled', where: string, r: TransferReport): string {
  const mb = (b: number) => (b >= 1024 ** 2 ? `${(b / 1024 ** 2).toFixed(1)} MB` : `${(b / 1024).toFixed(1)} kB`);
  const n = (count: number, one: string, many: string) => `${count} ${count === 1 ? one : many}`;
  const lines = [
    `${verb} ${n(r.objects, 'object', 'objects')} (${mb(r.bytes)}) and ${n(r.runs, 'run-cache entry', 'run-cache entries')} ${verb === 'pushed' ? 'to' : 'from'} ${where}; ${r.present} already there`,
  ];
  if (r.corrupt.length)
    lines.push(
      `skipped ${n(r.corrupt.length, 'corrupt object', 'corrupt objects')} (content does not match the hash in its name): ${r.corrupt.slice(0, 5).join(', ')}${r.corrupt.length > 5 ? ', …' : ''}`,
    );
  if (r.malformedRuns) lines.push(`skipped ${n(r.malformedRuns, 'malformed run-cache entry', 'malformed run-cache entries')}`);
  if (r.incompleteRuns)
    lines.push(`skipped ${n(r.incompleteRuns, 'run-cache entry', 'run-cache entries')} whose outputs are no longer cached`);
  return lines.join('\n');
}
