// Finding a dead runner's orphaned stages through /proc: real detached processes carrying the
// environment a runner gives its stages. A Slurm job of the project on this node (SLURM_JOB_ID set)
// is the Slurm executor's to cancel, never an orphan to kill.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { findOrphanStages } from '../../src/pipeline/run/orphans.ts';

const root = mkdtempSync(join(tmpdir(), 'grow-orphans-'));
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) {
    try {
      process.kill(-c.pid!, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
  rmSync(root, { recursive: true, force: true });
});

/** A stage-like process group leader that runs until killed; resolves once it is running. */
async function stageProcess(stage: string, extraEnv: Record<string, string>): Promise<number> {
  const ready = join(root, `${stage}.ready`);
  const child = spawn('sh', ['-c', `touch "${ready}"; while :; do sleep 1; done`], {
    detached: true,
    stdio: 'ignore',
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', GROW_ROOT: root, GROW_STAGE: stage, ...extraEnv },
  });
  children.push(child);
  while (!existsSync(ready)) await new Promise((r) => setTimeout(r, 10));
  return child.pid!;
}

test('a local stage left running is found; a Slurm job of the same project is not', async () => {
  const local = await stageProcess('train@1', {});
  const slurm = await stageProcess('train@2', { SLURM_JOB_ID: '53', SLURM_JOB_NAME: 'grow:train@2' });
  const found = findOrphanStages(root);
  assert.deepEqual(found, [{ pgid: local, stage: 'train@1' }]);
  assert.ok(!found.some((o) => o.pgid === slurm));
});
