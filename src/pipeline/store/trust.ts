/**
 * The trust boundary. Everything grow reads back from disk that a person, another clone or another
 * machine may have written — pipeline.lock, `.grow/` (hash state, parsed-lock cache), a cache
 * directory (objects, directory manifests, run-cache entries) and a remote — passes through the
 * checks here before any of it names a file to read, write or delete. A value that fails a check is
 * never used as a path: callers turn it into a miss (caches) or a one-line error naming the file.
 *
 * Kept in one module, apart from the code that reads and writes the cache, so that a rewrite of the
 * cache for speed keeps exactly these checks.
 */
import { lstatSync, readdirSync, readlinkSync, realpathSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, posix, relative, sep } from 'node:path';

/** `md5:` + 32 lowercase hex, `.dir` for a directory manifest: the only hash grow writes. */
export const HASH_RE = /^md5:[0-9a-f]{32}(\.dir)?$/;
const MD5_RE = /^[0-9a-f]{32}$/;

export function isHash(x: unknown): x is string {
  return typeof x === 'string' && HASH_RE.test(x);
}

/** A bare md5 (32 lowercase hex), as manifests and the hash state store them. */
export function isMd5(x: unknown): x is string {
  return typeof x === 'string' && MD5_RE.test(x);
}

/** A run-cache signature: the md5 of a stage's inputs. */
export const isSignature = isMd5;

function isCount(x: unknown): x is number {
  return typeof x === 'number' && Number.isInteger(x) && x >= 0;
}

/**
 * True for a path that may name something inside a directory: POSIX separators, relative,
 * non-empty, already normalised (no `.`/`..` segments, no empty segments, no trailing slash),
 * no NUL, no backslash (a separator on Windows). `.` itself (the directory) is not one.
 */
export function isSafeRelpath(x: unknown): x is string {
  if (typeof x !== 'string' || x === '' || x === '.' || x.includes('\0') || x.includes('\\')) return false;
  if (isAbsolute(x) || posix.isAbsolute(x)) return false;
  if (posix.normalize(x) !== x || x.endsWith('/')) return false;
  return !x.split('/').some((seg) => seg === '..' || seg === '.' || seg === '');
}

/** A dep may also be the whole project (`.`): deps are only read, never written or deleted. */
export function isSafeDepPath(x: unknown): x is string {
  return x === '.' || isSafeRelpath(x);
}

/** Why `x` is not a safe relative path, for messages; undefined when it is one. */
export function relpathProblem(x: unknown): string | undefined {
  if (typeof x !== 'string' || x === '') return 'is empty';
  const ok: boolean = isSafeRelpath(x);
  if (ok) return undefined;
  if (x === '.') return 'names the project root itself';
  if (isAbsolute(x) || posix.isAbsolute(x)) return 'is absolute';
  if (x.split(/[\\/]/).includes('..')) return 'leaves the project (`..`)';
  return 'is not a normalised relative path';
}

export interface ManifestEntry {
  relpath: string;
  md5: string;
}

/**
 * A directory manifest (`.dir` object) from the cache or a remote, or null when it is not one:
 * a JSON list of {relpath, md5} with safe, distinct relpaths, none of which is a parent of another
 * (a file `a` and a file `a/b` cannot both exist). The md5 of the bytes is checked by the caller.
 */
export function parseManifest(text: string | Uint8Array): ManifestEntry[] | null {
  let list: unknown;
  try {
    list = JSON.parse(typeof text === 'string' ? text : Buffer.from(text).toString('utf8'));
  } catch {
    return null;
  }
  if (!Array.isArray(list)) return null;
  const seen = new Set<string>();
  const out: ManifestEntry[] = [];
  for (const m of list as unknown[]) {
    if (m === null || typeof m !== 'object') return null;
    const { relpath, md5 } = m as Record<string, unknown>;
    if (!isSafeRelpath(relpath) || !isMd5(md5) || seen.has(relpath)) return null;
    seen.add(relpath);
    out.push({ relpath, md5 });
  }
  for (const r of seen) {
    for (let i = r.indexOf('/'); i !== -1; i = r.indexOf('/', i + 1)) if (seen.has(r.slice(0, i))) return null;
  }
  return out;
}

export interface OutRecord {
  path: string;
  hash: string;
  size: number;
  files?: number;
}

/** One `{path, hash, size, files?}` out record (lock, run-cache), or null when malformed. */
export function parseOutRecord(x: unknown): OutRecord | null {
  if (x === null || typeof x !== 'object' || Array.isArray(x)) return null;
  const { path, hash, size, files } = x as Record<string, unknown>;
  if (!isSafeRelpath(path) || !isHash(hash) || !isCount(size)) return null;
  // A file count belongs to a directory only.
  if (files !== undefined && (!isCount(files) || !hash.endsWith('.dir'))) return null;
  return { path, hash, size, ...(files !== undefined ? { files } : {}) };
}

/** A list of out records with distinct paths, or null when any of them is malformed. */
export function parseOutRecords(x: unknown): OutRecord[] | null {
  if (!Array.isArray(x)) return null;
  const outs: OutRecord[] = [];
  const seen = new Set<string>();
  for (const item of x) {
    const o = parseOutRecord(item);
    if (!o || seen.has(o.path)) return null;
    seen.add(o.path);
    outs.push(o);
  }
  return outs;
}

export interface RunRecord {
  stage: string;
  outs: OutRecord[];
}

/** A run-cache entry (`{stage, outs}`) from a cache or a remote, or null when malformed. */
export function parseRunRecord(text: string): RunRecord | null {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return null;
  }
  if (raw === null || typeof raw !== 'object') return null;
  const { stage, outs } = raw as Record<string, unknown>;
  if (typeof stage !== 'string' || stage === '') return null;
  const list = parseOutRecords(outs);
  return list ? { stage, outs: list } : null;
}

/** Object names in a cache's fan-out directory: `<2 hex>/<30 hex>[.dir]`. */
export const OBJECT_SUBDIR_RE = /^[0-9a-f]{2}$/;
export const OBJECT_NAME_RE = /^[0-9a-f]{30}(\.dir)?$/;
/** Run-cache entry names: `<2 hex>/<32 hex signature>.json` (the first two hex repeat the dir). */
export const RUN_NAME_RE = /^[0-9a-f]{32}\.json$/;
/** What every temp file grow writes contains (see src/util/atomic-write.ts). */
export const TEMP_INFIX = '.tmp-';

/** `ab` + `cdef…[.dir]` → `md5:abcdef…[.dir]`, or null when the names are not an object's. */
export function hashOfObjectName(sub: string, name: string): string | null {
  return OBJECT_SUBDIR_RE.test(sub) && OBJECT_NAME_RE.test(name) ? `md5:${sub}${name}` : null;
}

/** The object's place below `<cache>/files/md5`; throws for anything but a valid hash. */
export function objectRelpath(hash: string): string {
  if (!isHash(hash)) throw new Error(`refusing to use ${JSON.stringify(hash)} as a cache object name`);
  const hex = hash.slice(4, 36);
  return `${hex.slice(0, 2)}/${hex.slice(2)}${hash.endsWith('.dir') ? '.dir' : ''}`;
}

export class OutsideProjectError extends Error {}

function isInside(parent: string, child: string): boolean {
  const rel = relative(parent, child);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel));
}

/**
 * The absolute place of project path `rel`, after following every symlink in its parent
 * directories; throws OutsideProjectError when that place is not strictly inside the project, or
 * is (or holds) the project's `.git`, `.grow` or cache directory. The last component itself is
 * not followed: whatever is there is replaced, a link included, never written through.
 */
export function containedTarget(root: string, rel: string, protectedDirs: string[] = []): string {
  if (!isSafeRelpath(rel)) throw new OutsideProjectError(`\`${rel}\` ${relpathProblem(rel)}`);
  const realRoot = realpathSync(root);
  // The nearest existing ancestor, resolved: everything below it does not exist yet, so it
  // cannot be a link.
  let parent = dirname(join(realRoot, rel));
  const missing: string[] = [];
  for (;;) {
    try {
      parent = realpathSync(parent);
      break;
    } catch {
      // Something that exists but does not resolve is a dangling link (or a loop): it could be
      // made to point anywhere before the write, so it is refused rather than created through.
      if (lstatOrNull(parent)) throw new OutsideProjectError(`\`${rel}\`: ${parent} is a symbolic link that does not resolve`);
      missing.unshift(basename(parent));
      const up = dirname(parent);
      if (up === parent) break;
      parent = up;
    }
  }
  const abs = join(parent, ...missing, rel.slice(rel.lastIndexOf('/') + 1));
  if (!isInside(realRoot, abs) || abs === realRoot) {
    throw new OutsideProjectError(`\`${rel}\` resolves to ${abs}, outside the project (a symbolic link in its path leads out)`);
  }
  for (const d of [join(realRoot, '.git'), join(realRoot, '.grow'), ...protectedDirs]) {
    let real = d;
    try {
      real = realpathSync(d);
    } catch {
      /* does not exist: compare as written */
    }
    if (real === realRoot) continue; // a cache kept in the project root itself: nothing to protect apart
    if (isInside(abs, real) || isInside(real, abs)) throw new OutsideProjectError(`\`${rel}\` is or holds grow's own data (${real})`);
  }
  return abs;
}

/** True when `abs`, with every link in it followed, is inside `realRoot` (already resolved). */
export function resolvesInside(realRoot: string, abs: string): boolean {
  try {
    return isInside(realRoot, realpathSync(abs));
  } catch {
    return false;
  }
}

/** lstat that returns null for a missing path. */
export function lstatOrNull(abs: string): ReturnType<typeof lstatSync> | null {
  try {
    return lstatSync(abs);
  } catch {
    return null;
  }
}

/**
 * The first symbolic link at or below `abs` (links are not followed while walking) that an out
 * cannot hold: one whose target does not exist, or lies outside the project. `realRoot` is the
 * project root with its own links resolved. `seen.links` counts the links met on the way.
 */
export function findBadLink(
  realRoot: string,
  abs: string,
  seen?: { links: number },
): { link: string; target: string; dangling: boolean } | null {
  const st = lstatOrNull(abs);
  if (!st) return null;
  if (st.isSymbolicLink()) {
    if (seen) seen.links++;
    let real: string | null = null;
    try {
      real = realpathSync(abs);
    } catch {
      /* dangling */
    }
    if (real === null) return { link: abs, target: readlinkSync(abs), dangling: true };
    if (!isInside(realRoot, real)) return { link: abs, target: real, dangling: false };
    return null;
  }
  if (!st.isDirectory()) return null;
  for (const name of readdirSync(abs)) {
    const bad = findBadLink(realRoot, join(abs, name), seen);
    if (bad) return bad;
  }
  return null;
}

/**
 * Directories checked to resolve inside `root` (a cache directory), each checked once. Whoever can
 * write a shared cache or a remote could replace a fan-out directory (`files/md5/ab`) by a link to
 * anywhere, redirecting the writes of everyone who uses it.
 */
export class ContainedDirs {
  private real: string | undefined;
  private readonly ok = new Set<string>();

  constructor(readonly root: string) {}

  /** True when the existing directory `dir` resolves inside the root. */
  holds(dir: string): boolean {
    if (this.ok.has(dir)) return true;
    this.real ??= realpathSync(this.root);
    if (!resolvesInside(this.real, dir)) return false;
    this.ok.add(dir);
    return true;
  }
}
