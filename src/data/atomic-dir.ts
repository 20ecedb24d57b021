/**
 * Building a whole output directory so that readers see either the old one or the complete new
 * one, never a half-written mix: fill a hidden sibling, then swap it in with renames (same file
 * system, so each rename is atomic). A crash between the two renames leaves no directory at
 * all, which the runner treats as a missing out, never as a valid one.
 */
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

export async function writeDirAtomic<T>(target: string, fill: (tmpDir: string) => Promise<T> | T): Promise<T> {
  mkdirSync(dirname(target), { recursive: true });
  const tmp = join(dirname(target), `.${basename(target)}.tmp-${process.pid}-${Date.now().toString(36)}`);
  rmSync(tmp, { recursive: true, force: true });
  mkdirSync(tmp);
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
