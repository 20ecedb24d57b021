/**
 * The content-addressed object store (DVC layout): a file with md5 `ab12…` lives at
 * `<cache>/files/md5/ab/12…`; a directory is a manifest object `<cache>/files/md5/ab/12….dir` (JSON
 * list of {md5, relpath}) plus one object per file. Objects are written to a temp file inside the
 * cache and renamed into place (a crash never leaves a half object under a real name) and made
 * read-only. A new out is hashed from the very bytes copied into the cache (ingestFile: one read,
 * one write), so an object always holds what its name says. Restoring always copies (reflink when the file system can), never links, so a later
 * write in the workspace can never corrupt the cache; every object is verified before it is
 * restored, and a corrupt one is deleted and reported missing.
 *
 * The cache may be shared with other clones or filled from a remote, so nothing read from it is
 * trusted (see trust.ts): hashes and manifests are validated before they name a file, and a
 * restore writes only below the out it was asked for, inside the project.
 */
import {
  chmodSync,
  constants,
  existsSync,
  type Stats,
  mkdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { chmod, copyFile, mkdir, open, readdir, rename, rm } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { basename, dirname, join, relative } from 'node:path';
import { EXIT, GrowError } from '../errors.ts';
import { tempPathFor } from '../../util/atomic-write.ts';
import { statKey } from './hash-state.ts';
import { outsideCacheError, rethrowIo } from '../io-error.ts';
import { hexOf, isDirHash, manifestText, md5OfFile, md5OfText, type HashInfo, type ManifestEntry } from './hash.ts';
import { ContainedDirs, containedTarget, findBadLink, isHash, objectRelpath, parseManifest, resolvesInside } from './trust.ts';

export class Cache {
  readonly objectsDir: string;
  private readonly contained: ContainedDirs;
  /** Fan-out directories this process created or found (each is checked by ContainedDirs once). */
  private readonly made = new Set<string>();
  private incomingReady = false;

  constructor(
    readonly dir: string,
    /** The project: stored content must come from inside it, restores must land inside it. */
    readonly root?: string,
  ) {
    this.objectsDir = join(dir, 'files', 'md5');
    this.contained = new ContainedDirs(dir);
  }

  /** Creates the fan-out directory of `dest` and makes sure it is inside the cache (see ContainedDirs). */
  private prepareDir(dest: string): void {
    if (this.made.has(dirname(dest))) return;
    mkdirSync(dirname(dest), { recursive: true });
    if (!this.contained.holds(dirname(dest))) throw outsideCacheError(dirname(dest), this.dir);
    this.made.add(dirname(dest));
  }

  /** Path of the object for a lock hash (`md5:<hex>` or `md5:<hex>.dir`); throws for anything else. */
  objectPath(hash: string): string {
    return join(this.objectsDir, objectRelpath(hash));
  }

  // Copies are asynchronous: copying a large out must not stall the event loop, which is
  // draining the pipes of the other stages running meanwhile.
  private async putFile(srcAbs: string, md5: string): Promise<void> {
    const dest = this.objectPath(`md5:${md5}`);
    if (existsSync(dest)) return;
    this.prepareDir(dest);
    const tmp = tempPathFor(dest);
    try {
      // The file was hashed before this copy; something may have written it in between (a
      // straggling process of the stage, an editor). The copy is what would be stored, so it is
      // the copy that must match — and the copy hashes what it writes, so that costs no extra
      // read: a wrong object under a hash would poison every clone sharing this cache, so refuse.
      const copied = (await copyHashing(srcAbs, tmp)).md5;
      if (copied !== md5) {
        throw new GrowError(
          `\`${srcAbs}\` changed while it was being stored in the cache (hashed as md5 ${md5}, copied as ${copied}); nothing was stored`,
          EXIT.stageFailed,
          "make sure nothing writes the stage's outs after its command ends, then run it again",
        );
      }
      await rename(tmp, dest);
    } finally {
      // After a failed copy, a mismatch or a rename that threw; a no-op after a successful rename.
      await rm(tmp, { force: true });
    }
  }

  /**
   * Stores a workspace file whose hash is not known yet, reading it once: it is copied to a temp
   * name in the cache while being hashed, then renamed to the object that hash names (or dropped
   * when that object already exists). `st` is the file's stat as the caller listed it; if the
   * file is not that file any more, or changes while it is copied, nothing is stored (the stage
   * fails as for putFile), so the md5 returned is that of the file the caller saw. `seenAt`: the
   * time just before the copy's first stat, for HashState.record. `scratch`: a buffer the caller
   * owns for the duration of the call (one per concurrent copy), to spare an allocation per file.
   */
  async ingestFile(srcAbs: string, st: Stats, scratch?: Buffer): Promise<{ md5: string; seenAt: number }> {
    if (!this.incomingReady) {
      mkdirSync(this.objectsDir, { recursive: true });
      if (!this.contained.holds(this.objectsDir)) throw outsideCacheError(this.objectsDir, this.dir);
      this.incomingReady = true;
    }
    // Directly in files/md5 (same file system as the objects, so the rename is atomic); a killed
    // run leaves `incoming.tmp-…` there, which gc removes once it is an hour old.
    const tmp = tempPathFor(join(this.objectsDir, INCOMING));
    let stored = false;
    try {
      const { md5, before, after, seenAt } = await copyHashing(srcAbs, tmp, scratch);
      if (statKey(before) !== statKey(st) || statKey(after) !== statKey(before)) {
        throw new GrowError(
          `\`${srcAbs}\` changed while it was being stored in the cache; nothing was stored`,
          EXIT.stageFailed,
          "make sure nothing writes the stage's outs after its command ends, then run it again",
        );
      }
      const dest = this.objectPath(`md5:${md5}`);
      if (!existsSync(dest)) {
        this.prepareDir(dest);
        await rename(tmp, dest);
        stored = true;
      }
      return { md5, seenAt };
    } finally {
      if (!stored) await rm(tmp, { force: true });
    }
  }

  /** True when the object of a file md5 exists (not verified: for content just hashed). */
  hasFileObject(md5: string): boolean {
    return existsSync(this.objectPath(`md5:${md5}`));
  }

  /** Stores a directory's manifest object: call once every file of it is stored. */
  putManifest(hash: string, manifest: ManifestEntry[]): void {
    this.putText(hash, manifestText(manifest));
  }

  private putText(hash: string, text: string): void {
    const dest = this.objectPath(hash);
    if (existsSync(dest)) return;
    this.prepareDir(dest);
    const tmp = tempPathFor(dest);
    try {
      // writeFileSync's mode is subject to umask; chmod makes read-only explicit.
      writeFileSync(tmp, text);
      chmodSync(tmp, 0o444);
      renameSync(tmp, dest);
    } finally {
      rmSync(tmp, { force: true });
    }
  }

  /**
   * Refuses an out whose content would come from outside the project: the out itself, or a file
   * in it, reached through a symbolic link that leads out. Such content is not the stage's result
   * and must never enter a cache that is pushed and shared.
   */
  checkInside(abs: string, info: Pick<HashInfo, 'hash' | 'manifest'>): void {
    if (!this.root) return;
    const realRoot = realpathSync(this.root);
    const rel = relative(this.root, abs);
    const hint =
      'make the stage write a copy of that content, or a link to a path inside the project (it is cached and restored as a copy)';
    const seen = { links: 0 };
    const bad = findBadLink(realRoot, abs, seen);
    if (bad) {
      const where = relative(this.root, bad.link) || rel;
      throw new GrowError(
        bad.dangling
          ? `out \`${rel}\`: \`${where}\` is a symbolic link to ${bad.target}, which does not exist; an out cannot hold a dangling link`
          : `out \`${rel}\`: \`${where}\` is a symbolic link to ${bad.target}, outside the project; grow never caches content from outside the project`,
        EXIT.stageFailed,
        hint,
      );
    }
    // Links inside the project may lead to further links: every file actually read must resolve
    // inside. Without any link below the out, a file resolves to the out's own real path plus its
    // relative path, so resolving the out itself (links in its parents) is enough.
    const files = isDirHash(info.hash) && seen.links > 0 ? (info.manifest ?? []).map((m) => join(abs, m.relpath)) : [abs];
    for (const f of files) {
      if (resolvesInside(realRoot, f)) continue;
      throw new GrowError(
        `out \`${rel}\`: \`${relative(this.root, f)}\` resolves to a file outside the project through a symbolic link; grow never caches content from outside the project`,
        EXIT.stageFailed,
        hint,
      );
    }
  }

  /** Stores a workspace path (file or directory) whose hash was just computed. */
  async store(abs: string, info: HashInfo): Promise<void> {
    this.checkInside(abs, info);
    try {
      if (!isDirHash(info.hash)) return await this.putFile(abs, hexOf(info.hash));
      for (const m of info.manifest ?? []) await this.putFile(join(abs, m.relpath), m.md5);
      // The manifest goes last: a directory object only exists once all its files do.
      this.putText(info.hash, manifestText(info.manifest ?? []));
    } catch (e) {
      rethrowIo(e, `store ${abs} in the cache ${this.dir}`);
    }
  }

  /**
   * Verifies an object and returns true when it is present and intact. A corrupt object is deleted,
   * so it is stored afresh the next time the stage runs. Only a valid hash names a path at all.
   */
  private async verifyObject(hash: string): Promise<boolean> {
    if (!isHash(hash)) return false;
    const path = this.objectPath(hash);
    if (!existsSync(path)) return false;
    let actual: string;
    if (isDirHash(hash)) {
      const bytes = readFileSync(path);
      // A manifest that hashes right but names unsafe paths is as unusable as a corrupt one.
      actual = parseManifest(bytes) ? md5OfText(bytes) : '';
    } else actual = await md5OfFile(path);
    if (actual === hexOf(hash)) return true;
    rmSync(path, { force: true });
    return false;
  }

  /** The validated manifest of a directory object, or null when it is missing or malformed. */
  private readManifest(hash: string): ManifestEntry[] | null {
    if (!isHash(hash) || !isDirHash(hash)) return null;
    try {
      return parseManifest(readFileSync(this.objectPath(hash)));
    } catch {
      return null;
    }
  }

  /** True when everything needed to restore `hash` is in the cache and intact. */
  async has(hash: string): Promise<boolean> {
    if (!(await this.verifyObject(hash))) return false;
    if (!isDirHash(hash)) return true;
    const manifest = this.readManifest(hash);
    if (!manifest) return false;
    for (const m of manifest) if (!(await this.verifyObject(`md5:${m.md5}`))) return false;
    return true;
  }

  /**
   * Restores `hash` at project path `rel` (a declared out), replacing whatever is there. The target
   * is resolved and must lie inside the project (see containedTarget); the content is assembled
   * beside it and renamed into place, so a failure (a full disk) leaves the old out as it was.
   * Call `has` first: this trusts the objects it copies.
   */
  async restoreOut(rel: string, hash: string): Promise<void> {
    if (!this.root) throw new Error('restoreOut needs the project root');
    const abs = containedTarget(this.root, rel, [this.dir]);
    await removeStaleTemps(abs);
    await this.restore(abs, hash);
  }

  /** Restores `hash` at the absolute path `abs` (already checked by the caller). */
  async restore(abs: string, hash: string): Promise<void> {
    if (!isHash(hash)) throw new Error(`refusing to restore malformed hash ${JSON.stringify(hash)}`);
    await mkdir(dirname(abs), { recursive: true });
    const tmp = tempPathFor(abs);
    try {
      if (!isDirHash(hash)) await copyOut(this.objectPath(hash), tmp);
      else {
        const manifest = this.readManifest(hash);
        if (!manifest)
          throw new GrowError(
            `the cache's manifest for ${hash} is missing or malformed`,
            EXIT.stageFailed,
            'run the stage again (`grow run`)',
          );
        await mkdir(tmp);
        for (const m of manifest) await copyOut(this.objectPath(`md5:${m.md5}`), join(tmp, m.relpath));
      }
      await rm(abs, { recursive: true, force: true });
      await rename(tmp, abs);
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }

  /** Every object hash referenced by `hash` (the object itself and, for a directory, its files). */
  referenced(hash: string): string[] {
    if (!isHash(hash)) return [];
    if (!isDirHash(hash)) return [hash];
    return [hash, ...(this.readManifest(hash) ?? []).map((m) => `md5:${m.md5}`)];
  }
}

/**
 * Removes what a killed restore left beside `abs` (`<name>.tmp-<host>-<pid>-<random>`, see
 * src/util/atomic-write.ts). Restores run under the project's process lock (run/runner-mutex.ts), so no live
 * writer owns one.
 */
async function removeStaleTemps(abs: string): Promise<void> {
  const prefix = `${basename(abs)}.tmp-`;
  let names: string[];
  try {
    names = await readdir(dirname(abs));
  } catch {
    return;
  }
  for (const name of names) {
    if (name.startsWith(prefix) && /-\d+-[0-9a-f]{16}$/.test(name)) await rm(join(dirname(abs), name), { recursive: true, force: true });
  }
}

/** Copy an object into the workspace as an ordinary writable file (objects themselves are 0444). */
async function copyOut(object: string, dest: string): Promise<void> {
  await mkdir(dirname(dest), { recursive: true });
  await copyFile(object, dest, constants.COPYFILE_FICLONE);
  await chmod(dest, 0o644);
}

/** Temp name stem of files being stored before their hash is known (see ingestFile). */
export const INCOMING = 'incoming';

/** Chunk of a hashing copy: few syscalls, and the md5 of one chunk holds the event loop ~2 ms. */
export const COPY_CHUNK = 1 << 20;

/**
 * Copies `src` to the new file `dest` (created exclusively, read-only: a cache object) and returns
 * the md5 of exactly the bytes written, with the source's stat before and after the copy: one
 * read and one write, instead of a copy plus a hash of either side.
 */
export async function copyHashing(
  src: string,
  dest: string,
  scratch?: Buffer,
): Promise<{ md5: string; before: Stats; after: Stats; seenAt: number }> {
  const input = await open(src, 'r');
  try {
    // Taken before the stat, so every byte read was read after it (the hash state's racy check).
    const seenAt = Date.now();
    const before = await input.stat();
    // 0o444 at creation (umask can only remove bits) and chmod again below so a umask never
    // makes an object unreadable for the others sharing the cache. Writing through the fd we
    // created is allowed whatever the mode.
    const output = await open(dest, 'wx', 0o444);
    try {
      const hash = createHash('md5');
      // One byte more than the file holds: a whole small file comes in one read, and the short
      // read ends the loop without another (a file still growing shows in `after`).
      const want = Math.max(1, Math.min(COPY_CHUNK, Number(before.size) + 1));
      const buf = scratch && scratch.length >= want ? scratch : Buffer.allocUnsafe(want);
      for (;;) {
        const { bytesRead } = await input.read(buf, 0, want, null);
        if (bytesRead === 0) break;
        const chunk = buf.subarray(0, bytesRead);
        hash.update(chunk);
        for (let off = 0; off < bytesRead; ) off += (await output.write(chunk, off, bytesRead - off)).bytesWritten;
        if (bytesRead < want) break;
      }
      if (umaskHidesObjectBits()) await output.chmod(0o444);
      return { md5: hash.digest('hex'), before, after: await input.stat(), seenAt };
    } finally {
      await output.close();
    }
  } finally {
    await input.close();
  }
}

let umaskHides: boolean | undefined;
/** Whether the process umask removes any of 0o444, so objects need an explicit chmod. */
function umaskHidesObjectBits(): boolean {
  // Read once: the umask of a runner does not change while it runs.
  umaskHides ??= (process.umask() & 0o444) !== 0;
  return umaskHides;
}
