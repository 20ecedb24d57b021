// A job that outlives its time limit ends TIMEOUT. Slurm keeps time limits in whole minutes (and
// checks them every 30 s), so this test takes 60–90 s of wall time; it sits in its own file so the
// test runner runs it beside the other Slurm tests instead of after them.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { createSlurmExecutor } from '../../src/pipeline/executors/slurm.ts';
import { jobIdsIn, jobState, removeDir, slurmSkip, stage, tempDir } from './cluster.ts';

const dirs: string[] = [];
after(() => dirs.forEach(removeDir));

test('a job over its time limit → timeout, naming the limit', { skip: slurmSkip, timeout: 180_000 }, async () => {
  const root = tempDir('grow-slurm-timeout-');
  dirs.push(root);
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
