/**
 * Content hashes of files and directories, as written in the lock (`md5:<hex>`, DVC's algorithm, so
 * users can check a hash with `md5sum`). A directory hashes to the md5 of its sorted manifest of
 * (relative path, file md5) with a `.dir` suffix, as in DVC, and carries its file count and size.
 */
import { createHash } from 'node:crypto';
import { readdirSync, realpathSync, statSync, type Stats } from 'node:fs';
import { join } from 'node:path';
import { EXIT, GrowError } from '../errors.ts';
import { COPY_CHUNK, type Cache } from './cache.ts';
import { rethrowIo } from '../io-error.ts';
import { putStat, type HashState } from './hash-state.ts';

/** Bumping this re-runs every stage once: it is part of every stage fingerprint. */
export const FINGERPRINT_SALT = 'growline-fingerprint-v1';

export interface ManifestEntry {
  relpath: string;
  md5: string;
}

export interface HashInfo {
  /** `md5:<hex>` for a file, `md5:<hex>.dir` for a directory. */
  hash: string;
  size: number;
  /** Number of files, for directories only. */
  files?: number;
  /** For directories: the sorted manifest, needed to store or restore its files. */
  manifest?: ManifestEntry[];
}

export function md5OfText(text: string | Uint8Array): string {
  return createHash('md5').update(text).digest('hex');
}

/**
 * Streams the file through md5 off the main thread (hasha uses a worker). hasha is loaded on the
 * first file that must be read: a no-op reads none.
 */
export async function md5OfFile(abs: string): Promise<string> {
  const { hashFile } = await import('hasha');
  return hashFile(abs, { algorithm: 'md5' });
}

export function isDirHash(hash: string): boolean {
  return hash.endsWith('.dir');
}

/** `md5:<hex>[.dir]` → `<hex>` */
export function hexOf(hash: string): string {
  return hash.replace(/^md5:/, '').replace(/\.dir$/, '');
}

/** The manifest's canonical bytes: also what the cache stores as the `.dir` object. */
export function manifestText(manifest: ManifestEntry[]): string {
  return JSON.stringify(manifest.map((m) => ({ md5: m.md5, relpath: m.relpath })));
}

function statOrNull(abs: string): Stats | null {
  try {
    return statSync(abs);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return null;
    throw e;
  }
}

/**
 * Every regular file below `abs`, as sorted POSIX relative paths. Links are followed (see
 * docs/reliability.md, "Symbolic links"); `followed` holds the real paths of the linked
 * directories on the way down, so a link back to an ancestor is reported instead of recursing
 * until the stack overflows.
 */
function listFiles(abs: string, prefix = '', followed: string[] = []): string[] {
  const out: string[] = [];
  for (const d of readdirSync(abs, { withFileTypes: true })) {
    const rel = prefix ? `${prefix}/${d.name}` : d.name;
    if (d.isDirectory()) for (const f of listFiles(join(abs, d.name), rel, followed)) out.push(f);
    else if (d.isFile()) out.push(rel);
    else if (d.isSymbolicLink()) {
      const st = statOrNull(join(abs, d.name));
      if (st?.isDirectory()) {
        const target = realpathSync(join(abs, d.name));
        const here = realpathSync(abs);
        if (followed.includes(target) || here === target || here.startsWith(`${target}/`)) {
          throw new GrowError(
            `${join(abs, d.name)} is a symbolic link to ${target}, which contains the link itself (a loop)`,
            EXIT.stageFailed,
            'replace the link by a copy, or point it somewhere that does not contain it',
          );
        }
        for (const f of listFiles(join(abs, d.name), rel, [...followed, target])) out.push(f);
      } else if (st?.isFile()) out.push(rel);
    }
  }
  return out.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Files hashed at once when a directory changed: enough to overlap I/O, few open files. */
const HASH_CONCURRENCY = 4;

export class Hasher {
  constructor(
    private readonly root: string,
    private readonly state: HashState,
  ) {}

  /** The hash of a project-relative path, or null when it does not exist. */
  async hash(rel: string): Promise<HashInfo | null> {
    return this.hashWith(rel, async (key, st) => {
      // The read begins after this instant (the worker opens the file later still).
      const seenAt = Date.now();
      return { md5: await md5OfFile(join(this.root, key)), st, seenAt };
    });
  }

  /**
   * Hashes a just-produced out and stores it in `cache` in the same pass: every file not known to
   * the hash state is read once, copied into the cache while it is hashed (Cache.ingestFile),
   * instead of being hashed, copied and hashed again. Known files are stored from their remembered
   * md5 when their object is missing. Nothing is read before the out is checked for links that
   * lead outside the project (Cache.checkInside); the manifest object goes last, so a directory
   * object only exists once all its files do. Returns null when the out does not exist.
   */
  async hashAndStore(rel: string, cache: Cache): Promise<HashInfo | null> {
    const abs = join(this.root, rel);
    const st = statOrNull(abs);
    if (!st) return null;
    const files = st.isDirectory() ? listFiles(abs) : null;
    cache.checkInside(abs, files ? { hash: 'md5:.dir', manifest: files.map((relpath) => ({ relpath, md5: '' })) } : { hash: 'md5:' });
    try {
      // One copy buffer per copy in flight, reused from file to file.
      const buffers: Buffer[] = [];
      const info = await this.hashWith(
        rel,
        async (key, fst) => {
          const buf = buffers.pop() ?? Buffer.allocUnsafe(COPY_CHUNK);
          try {
            const { md5, seenAt } = await cache.ingestFile(join(this.root, key), fst, buf);
            return { md5, st: fst, seenAt };
          } finally {
            buffers.push(buf);
          }
        },
        files ?? undefined,
      );
      if (!info) return null;
      // Files the state already knew were not read: store any whose object is missing (the
      // cache was emptied or gc'd), verifying the copy against the remembered md5.
      const known = info.manifest ?? [{ relpath: '', md5: hexOf(info.hash) }];
      for (const m of known) {
        if (!cache.hasFileObject(m.md5)) await cache.store(m.relpath ? join(abs, m.relpath) : abs, { hash: `md5:${m.md5}`, size: 0 });
      }
      if (info.manifest) cache.putManifest(info.hash, info.manifest);
      return info;
    } catch (e) {
      rethrowIo(e, `store ${abs} in the cache ${cache.dir}`);
    }
  }

  /**
   * The hash of `rel`, reading each file the state does not know through `read` (which returns
   * its md5, the stat that md5 belongs to and, optionally, a time taken before the read began
   * that is later than `statAt`: a file written just before the command ended is then still
   * remembered when its own read started late enough, see HashState.record). `files`: the
   * directory's listing, when the caller already made it.
   */
  private async hashWith(
    rel: string,
    read: (key: string, st: Stats) => Promise<{ md5: string; st: Stats; seenAt?: number }>,
    files?: string[],
  ): Promise<HashInfo | null> {
    const abs = join(this.root, rel);
    const statAt = Date.now();
    const st = statOrNull(abs);
    if (!st) return null;
    if (!st.isDirectory()) {
      const known = this.state.lookup(rel, st);
      if (known) return { hash: `md5:${known}`, size: Number(st.size) };
      const r = await read(rel, st);
      this.state.record(rel, r.st, r.md5, r.seenAt ?? statAt);
      return { hash: `md5:${r.md5}`, size: Number(st.size) };
    }
    files ??= listFiles(abs);
    const n = files.length;
    // The directory's record from the last time it was hashed: file i of the listing is file i of
    // the record when the listing is unchanged (the common case: no string built per file), else
    // found by name.
    const rec = this.state.dir(rel);
    const sameListing = rec !== undefined && rec.count === n && rec.names === files.join('\0');
    let size = 0;
    // Synchronous stat + compare for every file (the common, no-op case: no promise per file, and
    // no object kept per file: a stat becomes four numbers); only files whose stat changed are
    // read, a few at a time.
    const nums = new Float64Array(n * 4);
    const misses: number[] = [];
    const missStats: Stats[] = [];
    const from = sameListing ? undefined : new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const fst = statSync(`${abs}/${files[i]}`);
      size += fst.size;
      // A racily clean file gets NaN stats: it never matches, so it is read (see HashState.record).
      putStat(nums, i, fst, statAt);
      const j = rec === undefined ? -1 : from === undefined ? i : rec.indexOf(files[i]);
      if (from !== undefined) from[i] = j;
      if (j < 0 || !rec!.matches(j, nums, i * 4)) {
        misses.push(i);
        missStats.push(fst);
      }
    }
    if (sameListing && misses.length === 0) {
      // Every file as recorded: so is the directory hash. The manifest is built only if asked for.
      const names = files;
      let manifest: ManifestEntry[] | undefined;
      return {
        hash: `md5:${rec.hex}.dir`,
        size,
        files: n,
        get manifest() {
          manifest ??= names.map((relpath, i) => ({ relpath, md5: rec.md5(i) }));
          return manifest;
        },
      };
    }
    const md5s: string[] = new Array(n);
    if (rec !== undefined) for (let i = 0; i < n; i++) md5s[i] = from === undefined ? rec.md5(i) : from[i] >= 0 ? rec.md5(from[i]) : '';
    let next = 0;
    const worker = async () => {
      while (next < misses.length) {
        const k = next++;
        const i = misses[k];
        const r = await read(`${rel}/${files[i]}`, missStats[k]);
        putStat(nums, i, r.st, r.seenAt ?? statAt);
        md5s[i] = r.md5;
      }
    };
    await Promise.all(Array.from({ length: Math.min(HASH_CONCURRENCY, misses.length) }, worker));
    const manifest: ManifestEntry[] = files.map((relpath, i) => ({ relpath, md5: md5s[i] }));
    const hex = md5OfText(manifestText(manifest));
    this.state.recordDir(rel, files, nums, md5s, hex);
    return { hash: `md5:${hex}.dir`, size, files: n, manifest };
  }

  /** Writes the hash state; `prune` forgets paths this process never looked at (see HashState). */
  save(prune = false): void {
    if (prune) this.state.prune();
    this.state.save();
  }
}
