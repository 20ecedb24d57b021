// The plain (CI, non-TTY) reporter: a stage that ends cancelled, timed out or lost says why, in the
// executor's words, on its own line — not only "cancelled"/"failed".
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { plainReporter } from '../../src/pipeline/show/plain-reporter.ts';

function lines() {
  const out: string[] = [];
  return { out, reporter: plainReporter((l) => out.push(l)) };
}

test("cancelled by the cluster: the executor's message is printed", () => {
  const { out, reporter } = lines();
  reporter.update('victim', 'cancelled', '', {
    name: 'victim',
    outcome: 'cancelled',
    reasons: [],
    message: 'Slurm job 53 was cancelled (scancel, or by an administrator)',
  });
  assert.deepEqual(out, ['! victim: cancelled (Slurm job 53 was cancelled (scancel, or by an administrator))']);
});

test('a local Ctrl-C cancellation says "cancelled" once', () => {
  const { out, reporter } = lines();
  reporter.update('a', 'cancelled', '', { name: 'a', outcome: 'cancelled', reasons: [], message: 'cancelled' });
  reporter.update('b', 'cancelled', '', { name: 'b', outcome: 'cancelled', reasons: [] });
  assert.deepEqual(out, ['! a: cancelled', '! b: cancelled']);
});

test('timeout and lost jobs fail with the first line of the message, not the log tail', () => {
  const { out, reporter } = lines();
  const message =
    'Slurm job 54 exceeded its time limit of 1 min (TIMEOUT); raise `resources.time` (minutes) for this stage\n--- last lines of .grow/logs/slow.log ---\nstep 3';
  reporter.update('slow', 'failed', message, { name: 'slow', outcome: 'failed', reasons: [], message, durationMs: 61_000 });
  reporter.update('gone', 'failed', 'Slurm job 55 vanished', {
    name: 'gone',
    outcome: 'failed',
    reasons: [],
    message: 'Slurm job 55 vanished',
  });
  assert.equal(out.length, 2);
  assert.match(out[0], /^✖ slow: failed in .+: Slurm job 54 exceeded its time limit of 1 min \(TIMEOUT\); raise/);
  assert.doesNotMatch(out[0], /last lines/);
  assert.equal(out[1], '✖ gone: failed: Slurm job 55 vanished');
});
