// A job that outlives its time limit ends TIMEOUT. Slurm keeps time limits in whole minutes (and
// checks them every 30 s), so each test here takes 60–90 s of wall time; they run concurrently, in
// their own file, so the test runner runs them beside the other Slurm tests instead of after them.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { createSlurmExecutor } from '../../src/pipeline/run/executors/slurm.ts';
import { TestProject } from '../helpers/grow-project.ts';
import { jobIdsIn, jobState, removeDir, slurmSkip, stage, tempDir } from './cluster.ts';

const cleanup: (() => void)[] = [];
after(() => cleanup.forEach((f) => f()));

describe('Slurm time limits', { concurrency: true, timeout: 180_000 }, () => {
  test('executor: a job over its time limit → timeout, naming the limit', { skip: slurmSkip }, async () => {
    const root = tempDir('grow-slurm-timeout-');
    cleanup.push(() => removeDir(root));
    const logFile = join(root, '.grow', 'logs', 'slow.log');
    const result = await createSlurmExecutor({ root, pollMs: 500 }).run({
      stage: stage('slow', ['sleep 600'], { resources: { time: 1 } }),
      cwd: root,
      env: {},
      logFile,
      onLine: () => {},
      signal: new AbortController().signal,
    });
    assert.equal(result.state, 'timeout');
    assert.match(result.message ?? '', /Slurm job \d+ exceeded its time limit of 1 min/);
    assert.equal(jobState(jobIdsIn(logFile)[0]), 'TIMEOUT');
  });

  test('grow run: a timed-out stage fails, says so, and leaves the lock untouched', { skip: slurmSkip }, async () => {
    const p = new TestProject({
      'pipeline.yaml': `stages:
  slow:
    cmd: sleep 600 && echo never > out.txt
    outs: [out.txt]
    executor: slurm
    resources: {time: 1}
`,
    });
    cleanup.push(() => p.cleanup());
    const r = await p.ok(['run'], 1, { GROW_SLURM_POLL_MS: '500' });
    assert.match(r.stdout + r.stderr, /exceeded its time limit of 1 min \(TIMEOUT\)/);
    assert.equal(p.lockText(), '');
    assert.equal(p.exists('out.txt'), false);
  });
});
