// `persist: true` outs are never deleted by the runner — not before a run, not after a failure —
// so a training stage can resume from its own last checkpoint.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { removeProject, runGrow, tempProject, writeFile } from './rig.ts';

const dirs: string[] = [];
after(() => dirs.forEach(removeProject));

// Four "steps"; the checkpoint holds the last finished step. CRASH_AT=n fails right after step n.
const TRAIN_SH = `mkdir -p ckpt
step=$(cat ckpt/step 2>/dev/null || echo 0)
echo "start $step" >> "$CTL/log"
while [ "$step" -lt 4 ]; do
  step=$((step + 1))
  echo "$step" > ckpt/step
  if [ "$step" = "$CRASH_AT" ]; then exit 1; fi
done
echo "finished at $step" > result.txt
`;

test('a persist out survives a failed run and a re-run, so the stage resumes from its checkpoint', async () => {
  const dir = tempProject({
    'pipeline.yaml': `stages:
  train:
    cmd: sh train.sh
    deps: [train.sh]
    outs:
      - ckpt:
          persist: true
      - result.txt
`,
    'train.sh': TRAIN_SH,
  });
  const ctl = mkdtempSync(join(tmpdir(), 'grow-ctl-'));
  dirs.push(dir, ctl);
  const log = () => readFileSync(join(ctl, 'log'), 'utf8').trim().split('\n');

  const crashed = await runGrow(dir, ['run'], { CTL: ctl, CRASH_AT: '2' });
  assert.equal(crashed.code, 1, crashed.output);
  assert.equal(readFileSync(join(dir, 'ckpt/step'), 'utf8'), '2\n', 'the failed stage left its checkpoint');

  const resumed = await runGrow(dir, ['run'], { CTL: ctl });
  assert.equal(resumed.code, 0, resumed.output);
  assert.deepEqual(log(), ['start 0', 'start 2'], 'the second run resumed at step 2');
  assert.match(readFileSync(join(dir, 'pipeline.lock'), 'utf8'), /path: ckpt, hash: md5:[0-9a-f]{32}\.dir/);

  writeFile(dir, 'train.sh', TRAIN_SH + '# a change that makes the stage re-run\n');
  const rerun = await runGrow(dir, ['run'], { CTL: ctl });
  assert.equal(rerun.code, 0, rerun.output);
  assert.deepEqual(log(), ['start 0', 'start 2', 'start 4'], 'the checkpoint was still there when the stage re-ran');
  assert.equal(readFileSync(join(dir, 'result.txt'), 'utf8'), 'finished at 4\n');
});
