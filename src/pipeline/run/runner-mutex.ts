/**
 * One runner at a time: `.grow/runner.lock` names the process that may change this project's lock
 * file, cache and outs. Two runners writing them at once would interleave lock entries and race on
 * outs, so a second `grow run` is refused with the holder's pid and command.
 *
 * The lock file is written completely to a temp file first and then hard-linked into place: link()
 * fails with EEXIST when the name exists, so creation is exclusive (like O_EXCL / `wx`) and a reader
 * never sees a half-written holder, even if we are killed in between (only the temp file is left).
 *
 * A lock whose process is gone (same host, `kill(pid, 0)` → ESRCH) was left by a crash or `kill -9`
 * and is taken over with a one-line notice; stages that runner left running are stopped first
 * (orphans.ts) and its temp files removed. A lock from another host (a shared file system) cannot
 * be checked, so it is reported, never stolen.
 */
import { randomBytes } from 'node:crypto';
import { linkSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { EXIT, GrowError } from '../errors.ts';
import { tempMarker, tempPathFor } from '../../util/atomic-write.ts';
import { findOrphanStages, stopOrphanStages } from './orphans.ts';

/** Project-relative path of the process lock. */
export const PROCESS_LOCK_FILE = '.grow/runner.lock';

export interface LockHolder {
  pid: number;
  hostname: string;
  /** The holder's command line, e.g. `grow run train`. */
  command: string;
  /** ISO time the lock was taken. */
  startedAt: string;
  /** Random per acquisition, so a release never deletes a lock someone else took over. */
  token: string;
  /**
   * The holder's start time in clock ticks since boot (Linux /proc/<pid>/stat), so a pid that the
   * system reused for an unrelated process after the runner died is not mistaken for the runner.
   */
  procStart?: string;
}

/** Start time of a process (Linux), or undefined where /proc is not available. */
function processStartTime(pid: number): string | undefined {
  try {
    // Fields after the parenthesised command name start at field 3 (state); starttime is field 22.
    return readFileSync(`/proc/${pid}/stat`, 'utf8')
      .replace(/^.*\) /s, '')
      .split(' ')[19];
  } catch {
    return undefined;
  }
}

export interface ProcessLock {
  readonly path: string;
  readonly holder: LockHolder;
  /** Removes the lock if it is still ours. Idempotent. */
  release(): void;
}

export interface AcquireOptions {
  /** How the holder is described to a second runner (default: `grow <argv>`). */
  command?: string;
  /** Receives the one-line notice when a dead runner's lock is taken over (default: stderr). */
  notice?: (line: string) => void;
}

function readHolder(path: string): { text: string; holder: LockHolder | null } | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw e;
  }
  try {
    const h = JSON.parse(text) as LockHolder;
    if (!Number.isInteger(h.pid) || h.pid <= 0 || typeof h.hostname !== 'string') return { text, holder: null };
    return { text, holder: h };
  } catch {
    return { text, holder: null };
  }
}

/** Alive, dead, or unknown (another host: we cannot look at its processes). */
export function holderState(h: LockHolder): 'alive' | 'dead' | 'unknown' {
  if (h.hostname !== hostname()) return 'unknown';
  if (h.pid === process.pid) return 'alive';
  try {
    process.kill(h.pid, 0);
    const start = h.procStart === undefined ? undefined : processStartTime(h.pid);
    return start !== undefined && start !== h.procStart ? 'dead' : 'alive';
  } catch (e) {
    // EPERM: the process exists but belongs to someone else — still alive.
    return (e as NodeJS.ErrnoException).code === 'ESRCH' ? 'dead' : 'alive';
  }
}

function describe(h: LockHolder): string {
  return `pid ${h.pid} on ${h.hostname}, started ${h.startedAt}: \`${h.command}\``;
}

/**
 * Moves a stale lock out of the way, but only if it is still the exact file we judged stale: if
 * another runner took it over meanwhile, we put its lock back and let the caller try again.
 */
function removeStale(path: string, staleText: string): void {
  const aside = tempPathFor(path);
  try {
    renameSync(path, aside);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return; // someone else removed it
    throw e;
  }
  const moved = readFileSync(aside, 'utf8');
  if (moved !== staleText) {
    try {
      linkSync(aside, path);
    } catch {
      /* a third runner holds it now; it will be reported on the next attempt */
    }
  }
  rmSync(aside, { force: true });
}

export function acquireProcessLock(root: string, options: AcquireOptions = {}): ProcessLock {
  const opts = { notice: (line: string) => void process.stderr.write(line + '\n'), ...options };
  const path = join(root, PROCESS_LOCK_FILE);
  mkdirSync(join(root, '.grow'), { recursive: true });
  const holder: LockHolder = {
    pid: process.pid,
    hostname: hostname(),
    command: opts.command ?? ['grow', ...process.argv.slice(2)].join(' '),
    startedAt: new Date().toISOString(),
    token: randomBytes(8).toString('hex'),
    procStart: processStartTime(process.pid),
  };
  const text = JSON.stringify(holder, null, 2) + '\n';
  const tmp = tempPathFor(path);
  writeFileSync(tmp, text);
  let deadHolder: LockHolder | undefined;
  try {
    // A handful of attempts covers races between several runners taking over one stale lock.
    for (let attempt = 0; attempt < 5; attempt++) {
      try {
        linkSync(tmp, path);
        if (deadHolder) {
          // Now that the project is ours: the dead runner's temp files go, and its stages, which
          // may still be running in their own process groups, are stopped before we start ours.
          removeTempFilesOf(root, deadHolder.pid, deadHolder.hostname);
          stopOrphanStages(findOrphanStages(root), opts.notice);
        }
        return makeLock(path, holder);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      const current = readHolder(path);
      if (current === null) continue; // released between link and read
      if (current.holder === null) {
        // Our writer never leaves a partial file (see the header), so this is damage: recover.
        opts.notice?.(`grow: ${PROCESS_LOCK_FILE} was unreadable; taking it over`);
        removeStale(path, current.text);
        continue;
      }
      const state = holderState(current.holder);
      if (state === 'dead') {
        opts.notice?.(`grow: taking over ${PROCESS_LOCK_FILE} left by a runner that is gone (${describe(current.holder)})`);
        removeStale(path, current.text);
        deadHolder = current.holder;
        continue;
      }
      const h = current.holder;
      throw new GrowError(
        `another grow runner holds this project (${PROCESS_LOCK_FILE}): ${describe(h)}`,
        EXIT.usage,
        state === 'unknown'
          ? `wait for it to finish; if no grow runs on ${h.hostname} any more, delete ${PROCESS_LOCK_FILE}`
          : `wait for it to finish, or stop it with \`kill ${h.pid}\` (it records finished stages and exits), then run again`,
      );
    }
    throw new GrowError(`could not take ${PROCESS_LOCK_FILE}: other runners keep taking it over`, EXIT.usage, 'run again');
  } finally {
    rmSync(tmp, { force: true });
  }
}

/**
 * A runner killed mid-write leaves the temp file of that atomic write (`<name>.tmp-<host>-<pid>-…`,
 * see src/util/atomic-write.ts) beside its target: in the project root that is `pipeline.lock.tmp-…`, which
 * would show up in `git status`. Only the dead holder's own temp files are removed — its host and
 * pid (a same-pid writer on another machine sharing the directory is not ours to touch) — in the
 * two places the runner writes project files, and in `.grow/tmp`, where the params snapshots it
 * handed its stages lie (the cache, possibly shared, is left to `grow gc`).
 */
export function removeTempFilesOf(root: string, pid: number, host: string = hostname()): void {
  const marker = tempMarker(pid, host);
  for (const dir of [root, join(root, '.grow'), join(root, '.grow', 'tmp')]) {
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      continue;
    }
    // recursive: a directory out being restored is assembled in a temp directory beside it.
    for (const name of names) if (name.includes(marker)) rmSync(join(dir, name), { recursive: true, force: true });
  }
}

function makeLock(path: string, holder: LockHolder): ProcessLock {
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    process.off('exit', release);
    const current = readHolder(path);
    if (current?.holder?.token === holder.token) rmSync(path, { force: true });
  };
  // Also on process.exit() from anywhere (a second Ctrl-C, an uncaught error): the lock must not
  // outlive us. Only SIGKILL skips this, and the next runner recovers that lock as stale.
  process.on('exit', release);
  return { path, holder, release };
}
