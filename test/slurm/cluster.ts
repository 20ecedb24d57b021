/**
 * The Slurm tests' cluster: `scripts/slurm-up.sh` brings up (or confirms) a real single-node Slurm
 * on this machine. When it cannot (no root, no apt, daemons that will not start), `slurmSkip` holds
 * its reason and every Slurm test is skipped with "slurm unavailable: <reason>".
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Stage } from '../../src/pipeline/types.ts';

export const REPO = fileURLToPath(new URL('../..', import.meta.url));

function bringUp(): string | undefined {
  const r = spawnSync('bash', [join(REPO, 'scripts', 'slurm-up.sh')], { encoding: 'utf8', timeout: 600_000 });
  if (r.status === 0) return undefined;
  const last = (r.stderr ?? '').trim().split('\n').filter(Boolean).pop() ?? '';
  if (last.startsWith('slurm unavailable:')) return last;
  return `slurm unavailable: scripts/slurm-up.sh exited ${r.status ?? r.signal}: ${last}`;
}

/** false when Slurm is up; else the skip message. */
export const slurmSkip: string | false = bringUp() ?? false;

export function stage(name: string, cmd: string[], extra: Partial<Stage> = {}): Stage {
  return { name, cmd, wdir: '.', deps: [], params: [], outs: [], alwaysChanged: false, frozen: false, interruptible: false, ...extra };
}

export function tempDir(prefix: string): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** Waits (without a timing assertion: the deadline only turns a hang into a clear failure). */
export async function waitFor(what: string, check: () => boolean, timeoutMs = 90_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export const waitForFile = (path: string, timeoutMs?: number) => waitFor(path, () => existsSync(path), timeoutMs);

/** The job id the job itself wrote into its log (`::grow job <id> …`). */
export function jobIdsIn(logFile: string): string[] {
  if (!existsSync(logFile)) return [];
  return [...readFileSync(logFile, 'utf8').matchAll(/^::grow job (\d+) started/gm)].map((m) => m[1]);
}

/** `scontrol`'s JobState for a job id. */
export function jobState(id: string): string | undefined {
  const r = spawnSync('scontrol', ['show', 'job', '-o', id], { encoding: 'utf8' });
  return /JobState=(\S+)/.exec(r.stdout ?? '')?.[1];
}

/** Ids of the jobs Slurm still has pending or running (squeue's default view). */
export function queuedJobs(): string[] {
  const r = spawnSync('squeue', ['-h', '-o', '%i'], { encoding: 'utf8' });
  return (r.stdout ?? '')
    .split('\n')
    .map((s) => s.trim())
    .filter(Boolean);
}
