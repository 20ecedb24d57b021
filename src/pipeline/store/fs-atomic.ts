/**
 * Writes that a crash or a concurrent reader can never observe half-done: write a temp file in the
 * same directory (same file system, so rename is atomic), then rename it over the target.
 */
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname } from 'node:path';

/** The host as it appears in temp names: without `-`, so `<host>-<pid>-` reads unambiguously. */
function hostTag(host: string): string {
  return host.replace(/[^A-Za-z0-9.]/g, '_') || 'host';
}

/**
 * What every temp name written by process `pid` on `host` contains (`.tmp-<host>-<pid>-`): lets a
 * runner taking over a dead holder's lock remove that holder's temp files, and only those.
 */
export function tempMarker(pid: number, host: string = hostname()): string {
  return `.tmp-${hostTag(host)}-${pid}-`;
}

/**
 * A temp name beside `path`: `<path>.tmp-<host>-<pid>-<random>`. The host and random bytes matter
 * on a shared file system (a shared cache): two machines may run writers with the same pid in the
 * same millisecond, and a pid + clock name would let one rename the other's half-written file.
 */
export function tempPathFor(path: string): string {
  return `${path}${tempMarker(process.pid)}${randomBytes(8).toString('hex')}`;
}

/**
 * Replaces `path` with `data` atomically. With `sync`, the data is flushed to the device before
 * the rename, so after a power loss the file is the old version or the new one, never an empty or
 * partial one (file systems may otherwise commit the rename before the data). The directory is
 * not synced: losing the rename itself loses only the newest record, which is the safe direction
 * (a stage recorded as not run re-runs or is restored from the run-cache), and syncing it cost
 * ~10 ms per stage on ext4 (docs/BENCHMARKS.md). A failure (a full disk) throws, leaves the old
 * file untouched and removes the temp file.
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
