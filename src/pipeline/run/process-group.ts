/**
 * Process groups of running stages: each stage command runs in its own group (`detached`), so
 * the runner can signal a whole tree at once and tell when all of it has exited.
 */
import { readdirSync, readFileSync } from 'node:fs';

/**
 * True while a process of the group is alive. `kill(-pgid, 0)` alone would also count zombies,
 * which linger where pid 1 does not reap (some containers), and make a cancel wait out its whole
 * grace period; so /proc is read where there is one, and a zombie does not count.
 */
export function groupAlive(pgid: number): boolean {
  let pids: string[];
  try {
    pids = readdirSync('/proc').filter((n) => /^\d+$/.test(n));
  } catch {
    // No /proc (macOS): the signal check is all there is.
    try {
      process.kill(-pgid, 0);
      return true;
    } catch {
      return false;
    }
  }
  for (const pid of pids) {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8')
        .replace(/^.*\) /s, '')
        .split(' ');
      if (Number(fields[2]) === pgid && fields[0] !== 'Z') return true;
    } catch {
      /* gone meanwhile */
    }
  }
  return false;
}

/** Sends `signal` to every process of the group; a group that is already gone is fine. */
export function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    /* already gone */
  }
}
