/**
 * Stages orphaned by a runner that was killed with SIGKILL. Stages run in their own process groups
 * (so Ctrl-C reaches only the runner, which stops them in order), which means they outlive a runner
 * that dies without cleaning up. A new runner that takes over the dead one's process lock would
 * otherwise run the same stage again while the orphan still writes the same outs.
 *
 * Every stage process carries `GROW_ROOT` (the project) and `GROW_STAGE` in its environment, and
 * only the lock holder starts stages, so once the holder is known dead, any process group led by
 * such a process for this project is an orphan — except Slurm jobs (`SLURM_JOB_ID` set), which are
 * the Slurm executor's to cancel. Found through /proc (Linux); elsewhere this finds nothing and the
 * limitation stands (docs/reliability.md).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { groupAlive, signalGroup } from './process-group.ts';

export interface OrphanStage {
  /** The process group (its leader's pid): what gets signalled. */
  pgid: number;
  stage: string;
}

function environOf(pid: number): Map<string, string> | null {
  try {
    const raw = readFileSync(`/proc/${pid}/environ`, 'utf8');
    return new Map(
      raw
        .split('\0')
        .filter(Boolean)
        .map((kv) => {
          const eq = kv.indexOf('=');
          return [kv.slice(0, eq), kv.slice(eq + 1)] as [string, string];
        }),
    );
  } catch {
    return null; // gone meanwhile, or not ours to read
  }
}

function pgidOf(pid: number): number | null {
  try {
    // Fields after the parenthesised command name: state, ppid, pgrp, …
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8')
      .replace(/^.*\) /s, '')
      .split(' ');
    return fields[0] === 'Z' ? null : Number(fields[2]);
  } catch {
    return null;
  }
}

/** Every process id on this machine (from /proc); none where /proc cannot be read. */
function processIds(): number[] {
  try {
    return readdirSync('/proc')
      .filter((n) => /^\d+$/.test(n))
      .map(Number);
  } catch {
    return [];
  }
}

/** Process groups of stages of the project at `root` that are still running. */
export function findOrphanStages(root: string): OrphanStage[] {
  const pids = processIds();
  const ownGroup = pgidOf(process.pid);
  const found = new Map<number, OrphanStage>();
  for (const pid of pids) {
    if (pid === process.pid) continue;
    const env = environOf(pid);
    if (!env || env.get('GROW_ROOT') !== root || !env.get('GROW_STAGE')) continue;
    // A Slurm job of this project running on this node carries the same variables (sbatch exports
    // the environment) but is not an orphan of ours: the Slurm executor scancels its own
    // leftovers by job id, and the job may belong to a runner on another machine.
    if (env.has('SLURM_JOB_ID')) continue;
    const pgid = pgidOf(pid);
    // Only whole groups that a runner created for a stage (leader = the stage's shell).
    if (pgid === null || pgid !== pid || pgid === ownGroup) continue;
    found.set(pgid, { pgid, stage: env.get('GROW_STAGE')! });
  }
  return [...found.values()];
}

/**
 * Process groups that this process started for its stages: direct children that lead their own
 * group (executors start every stage `detached`). Used when the runner must go *now* (a second
 * Ctrl-C) and cannot wait out the grace period.
 */
export function ownStageGroups(): number[] {
  const pids = processIds();
  const groups: number[] = [];
  for (const pid of pids) {
    try {
      const fields = readFileSync(`/proc/${pid}/stat`, 'utf8')
        .replace(/^.*\) /s, '')
        .split(' ');
      if (Number(fields[1]) === process.pid && Number(fields[2]) === pid) groups.push(pid);
    } catch {
      /* gone meanwhile */
    }
  }
  return groups;
}

/** SIGKILL the given process groups (and any stage group this process leads now). */
export function killStageGroups(known: number[] = []): void {
  for (const pgid of new Set([...known, ...ownStageGroups()])) signalGroup(pgid, 'SIGKILL');
}

const sleepSync = (ms: number) => Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);

/**
 * Stops orphaned stage groups as the runner would have: SIGTERM, then SIGKILL for any group still
 * there after `graceMs`. Synchronous, because it runs while taking the process lock, before
 * anything else happens.
 */
export function stopOrphanStages(orphans: OrphanStage[], notice: (line: string) => void, graceMs = 5000): void {
  if (orphans.length === 0) return;
  notice(
    `grow: stopping ${orphans.length} stage${orphans.length === 1 ? '' : 's'} left running by that runner: ${orphans.map((o) => `${o.stage} (process group ${o.pgid})`).join(', ')}`,
  );
  for (const o of orphans) signalGroup(o.pgid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline && orphans.some((o) => groupAlive(o.pgid))) sleepSync(20);
  for (const o of orphans) if (groupAlive(o.pgid)) signalGroup(o.pgid, 'SIGKILL');
}
