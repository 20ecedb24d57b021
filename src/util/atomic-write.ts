/**
 * Writes that a crash or a concurrent reader can never observe half-done, for single files and for
 * whole directories: build under a temp name in the same directory (same file system, so rename is
 * atomic), then rename it over the target. Failures remove the temp and leave the target as it was.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';

/** The host as it appears in temp names: without `-`, so `<host>-<pid>-` reads unambiguously. */
function hostTag(host: string): string {
  return host.replace(/[^A-Za-z0-9.]/g, '_') || 'host';
}

/**
 * What every temp name written by process `pid` on `host` contains (`.tmp-<host>-<pid>-`): lets
 * whoever takes over a dead writer's work remove that writer's temps, and only those.
 */
export function tempMarker(pid: number, host: string = hostname()): string {
  return `.tmp-${hostTag(host)}-${pid}-`;
}

/**
 * A temp name beside `path`: `<path>.tmp-<host>-<pid>-<random>`. The host and random bytes matter
 * on a shared file system: two machines may run writers with the same pid, and two writers in one
 * process may target the same path, so neither pid nor clock alone keeps them apart.
 */
export function tempPathFor(path: string): string {
  return `${path}${tempMarker(process.pid)}${randomBytes(8).toString('hex')}`;
}

/**
 * Replaces `path` with `data` atomically. With `sync`, the data is flushed to the device before
 * the rename, so after a power loss the file is the old version or the new one, never an empty or
 * partial one (file systems may otherwise commit the rename before the data). The directory is
 * not synced: losing the rename itself loses only the newest version, the safe direction (for the
 * runner: a stage recorded as not run re-runs or is restored from the run-cache), and syncing it
 * cost ~10 ms per stage on ext4 (docs/BENCHMARKS.md).
 */
export function writeFileAtomic(path: string, data: string | Uint8Array, opts: { sync?: boolean } = {}): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = tempPathFor(path);
  try {
    if (opts.sync) {
      const fd = openSync(tmp, 'w');
      try {
        writeFileSync(fd, data);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    } else writeFileSync(tmp, data);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/**
 * Builds a whole directory so that readers see either the old one or the complete new one, never a
 * half-written mix: `fill` writes into a hidden sibling, which is then swapped in by renames. A
 * crash between the two renames leaves no directory at all, which the runner treats as a missing
 * out, never as a valid one. A failing `fill` removes the sibling and leaves `target` untouched.
 */
export async function writeDirAtomic<T>(target: string, fill: (tmpDir: string) => Promise<T> | T): Promise<T> {
  const tmp = join(dirname(target), `.${basename(tempPathFor(target))}`);
  mkdirSync(tmp, { recursive: true });
  try {
    const result = await fill(tmp);
    let old: string | undefined;
    if (existsSync(target)) {
      old = `${tmp}.old`;
      renameSync(target, old);
    }
    renameSync(tmp, target);
    if (old) rmSync(old, { recursive: true, force: true });
    return result;
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
}
