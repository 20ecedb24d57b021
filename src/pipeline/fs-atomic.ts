/**
 * Writes that a crash or a concurrent reader can never observe half-done: write a temp file in the
 * same directory (same file system, so rename is atomic), then rename it over the target.
 */
import { mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

let counter = 0;

/** A temp name beside `path`, unique per process and call. */
export function tempPathFor(path: string): string {
  return `${path}.tmp-${process.pid}-${Date.now().toString(36)}-${counter++}`;
}

export function writeFileAtomic(path: string, data: string | Uint8Array): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = tempPathFor(path);
  try {
    writeFileSync(tmp, data);
    renameSync(tmp, path);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}
