/**
 * The content-addressed object store (DVC layout): a file with md5 `ab12…` lives at
 * `<cache>/files/md5/ab/12…`; a directory is a manifest object `<cache>/files/md5/ab/12….dir` (JSON
 * list of {md5, relpath}) plus one object per file. Objects are written to a temp file inside the
 * cache and renamed into place (a crash never leaves a half object under a real name) and made
 * read-only. Restoring always copies (reflink when the file system can), never links, so a later
 * write in the workspace can never corrupt the cache; every object is verified before it is
 * restored, and a corrupt one is deleted and reported missing.
 */
import { chmodSync, constants, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { chmod, copyFile, mkdir, rename, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { EXIT, GrowError } from './errors.ts';
import { tempPathFor } from './fs-atomic.ts';
import { hexOf, isDirHash, manifestText, md5OfFile, md5OfText, type HashInfo, type ManifestEntry } from './hash.ts';

export class Cache {
  readonly objectsDir: string;

  constructor(readonly dir: string) {
    this.objectsDir = join(dir, 'files', 'md5');
  }

  /** Path of the object for a lock hash (`md5:<hex>` or `md5:<hex>.dir`). */
  objectPath(hash: string): string {
    const hex = hexOf(hash);
    return join(this.objectsDir, hex.slice(0, 2), hex.slice(2) + (isDirHash(hash) ? '.dir' : ''));
  }

  // Copies are asynchronous: copying a large out must not stall the event loop, which is
  // draining the pipes of the other stages running meanwhile.
  private async putFile(srcAbs: string, md5: string): Promise<void> {
    const dest = this.objectPath(`md5:${md5}`);
    if (existsSync(dest)) return;
    await mkdir(dirname(dest), { recursive: true });
    const tmp = tempPathFor(dest);
    try {
      await copyFile(srcAbs, tmp, constants.COPYFILE_FICLONE);
      // The file was hashed before this copy; something may have written it in between (a
      // straggling process of the stage, an editor). The copy is what would be stored, so it is
      // the copy that must match: a wrong object under a hash would poison every clone sharing
      // this cache, so refuse instead.
      const copied = await md5OfFile(tmp);
      if (copied !== md5) {
        throw new GrowError(`\`${srcAbs}\` changed while it was being stored in the cache (hashed as md5 ${md5}, copied as ${copied}); nothing was stored`,
          EXIT.stageFailed, 'make sure nothing writes the stage\'s outs after its command ends, then run it again');
      }
      await chmod(tmp, 0o444);
      await rename(tmp, dest);
    } finally {
      // After a failed copy, a mismatch or a rename that threw; a no-op after a successful rename.
      await rm(tmp, { force: true });
    }
  }

  private putText(hash: string, text: string): void {
    const dest = this.objectPath(hash);
    if (existsSync(dest)) return;
    mkdirSync(dirname(dest), { recursive: true });
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

  /** Stores a workspace path (file or directory) whose hash was just computed. */
  async store(abs: string, info: HashInfo): Promise<void> {
    if (!isDirHash(info.hash)) return this.putFile(abs, hexOf(info.hash));
    for (const m of info.manifest ?? []) await this.putFile(join(abs, m.relpath), m.md5);
    // The manifest goes last: a directory object only exists once all its files do.
    this.putText(info.hash, manifestText(info.manifest ?? []));
  }

  /**
   * Verifies an object and returns true when it is present and intact. A corrupt object is deleted,
   * so it is stored afresh the next time the stage runs.
   */
  private async verifyObject(hash: string): Promise<boolean> {
    const path = this.objectPath(hash);
    if (!existsSync(path)) return false;
    const actual = isDirHash(hash) ? md5OfText(readFileSync(path)) : await md5OfFile(path);
    if (actual === hexOf(hash)) return true;
    rmSync(path, { force: true });
    return false;
  }

  private readManifest(hash: string): ManifestEntry[] | null {
    try {
      const list = JSON.parse(readFileSync(this.objectPath(hash), 'utf8')) as ManifestEntry[];
      return Array.isArray(list) ? list : null;
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
   * Restores `hash` at `abs`, replacing whatever is there. Call `has` first: this trusts the
   * objects it copies.
   */
  async restore(abs: string, hash: string): Promise<void> {
    await rm(abs, { recursive: true, force: true });
    if (!isDirHash(hash)) return copyOut(this.objectPath(hash), abs);
    const manifest = this.readManifest(hash) ?? [];
    await mkdir(abs, { recursive: true });
    for (const m of manifest) await copyOut(this.objectPath(`md5:${m.md5}`), join(abs, m.relpath));
  }

  /** Every object hash referenced by `hash` (the object itself and, for a directory, its files). */
  referenced(hash: string): string[] {
    if (!isDirHash(hash)) return [hash];
    return [hash, ...(this.readManifest(hash) ?? []).map((m) => `md5:${m.md5}`)];
  }
}

/** Copy an object into the workspace as an ordinary writable file (objects themselves are 0444). */
async function copyOut(object: string, dest: string): Promise<void> {
  await mkdir(dirname(dest), { recursive: true });
  await copyFile(object, dest, constants.COPYFILE_FICLONE);
  await chmod(dest, 0o644);
}
