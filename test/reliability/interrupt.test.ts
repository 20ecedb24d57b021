// SIGINT/SIGTERM to `grow run`, a second runner, and a runner killed with SIGKILL. Stages signal
// the test through files in a control directory ($CTL) and wait to be released: no sleeps.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { parse } from 'yaml';
import { isAlive, removeProject, runGrow, startGrow, tempProject, waitFor, waitForFile } from './rig.ts';

const dirs: string[] = [];
const strays: number[] = [];
after(() => {
  for (const pid of strays) if (isAlive(pid)) process.kill(pid, 'SIGKILL');
  dirs.forEach(removeProject);
});

// `slow` starts a background helper that records its pid, then announces itself and waits for
// $CTL/slow.release. With IGNORE_TERM=1 the helper ignores SIGTERM and detaches its output, the
// way a worker process with its own signal handling would.
const SLOW_SH = `
if [ "$STUBBORN" = 1 ]; then trap '' TERM; fi
if [ "$IGNORE_TERM" = 1 ]; then
  sh -c 'trap "" TERM; echo $$ > "$CTL/helper.pid"; exec >/dev/null 2>&1; while :; do sleep 0.05; done' &
else
  sh -c 'echo $$ > "$CTL/helper.pid"; exec sleep 1000' &
fi
while [ ! -s "$CTL/helper.pid" ]; do sleep 0.01; done
echo $$ > "$CTL/slow.started.tmp" && mv "$CTL/slow.started.tmp" "$CTL/slow.started"
while [ "$RELEASE_AT_START" != 1 ] && [ ! -e "$CTL/slow.release" ]; do sleep 0.02; done
kill $! 2>/dev/null
echo s > s.txt
`;

const PIPELINE = `stages:
  quick:
    cmd: echo q > q.txt
    outs: [q.txt]
  slow:
    cmd: sh slow.sh
    deps: [q.txt, slow.sh]
    outs: [s.txt]
`;

function setup() {
  const dir = tempProject({ 'pipeline.yaml': PIPELINE, 'slow.sh': SLOW_SH });
  const ctl = mkdtempSync(join(tmpdir(), 'grow-ctl-'));
  dirs.push(dir, ctl);
  return { dir, ctl };
}

const lockStages = (dir: string): string[] =>
  existsSync(join(dir, 'pipeline.lock')) ? Object.keys(parse(readFileSync(join(dir, 'pipeline.lock'), 'utf8')).stages ?? {}) : [];

const pidIn = (file: string) => Number(readFileSync(file, 'utf8').trim());

async function interruptDuringSlow(signal: NodeJS.Signals, env: Record<string, string> = {}) {
  const { dir, ctl } = setup();
  const grow = startGrow(dir, ['run', '-j', '1'], { CTL: ctl, ...env });
  await waitForFile(join(ctl, 'slow.started'));
  const stagePid = pidIn(join(ctl, 'slow.started'));
  const helperPid = pidIn(join(ctl, 'helper.pid'));
  strays.push(stagePid, helperPid);
  assert.ok(existsSync(join(dir, '.grow/runner.lock')), 'the runner holds the process lock while running');
  grow.child.kill(signal);
  const { code } = await grow.exit;
  const output = grow.stdout() + grow.stderr();
  assert.equal(code, 130, output);
  assert.deepEqual(lockStages(dir), ['quick'], 'the finished stage is recorded, the interrupted one is not');
  assert.equal(existsSync(join(dir, 's.txt')), false, 'no partial out of the interrupted stage');
  assert.equal(existsSync(join(dir, '.grow/runner.lock')), false, 'the process lock is released');
  // Both got their signal before grow exited; a zombie may linger for a moment until its new
  // parent reaps it, so allow for that, never for a live process.
  for (const pid of [stagePid, helperPid]) await waitFor(`process ${pid} to be gone`, () => !isAlive(pid) || isZombie(pid), 10_000);
  return { dir, ctl, output };
}

function procStat(pid: number): string[] | undefined {
  try {
    // Fields after the parenthesised command name: state, ppid, pgrp, ...
    return readFileSync(`/proc/${pid}/stat`, 'utf8')
      .replace(/^.*\) /s, '')
      .split(' ');
  } catch {
    return undefined;
  }
}
const isZombie = (pid: number) => procStat(pid)?.[0] === 'Z';
const pgidOf = (pid: number) => Number(procStat(pid)?.[2]);

test('SIGINT during a stage: exit 130, finished stages recorded, no process left, lock released; a re-run completes', async () => {
  const { dir, ctl, output } = await interruptDuringSlow('SIGINT');
  assert.match(output, /SIGINT/);
  writeFileSync(join(ctl, 'slow.release'), '');
  const r = await runGrow(dir, ['run'], { CTL: ctl });
  assert.equal(r.code, 0, r.output);
  assert.deepEqual(lockStages(dir), ['quick', 'slow']);
  assert.equal(readFileSync(join(dir, 's.txt'), 'utf8'), 's\n');
});

test('SIGTERM stops a stage whose helper ignores SIGTERM (SIGKILL after the grace period)', async () => {
  await interruptDuringSlow('SIGTERM', { IGNORE_TERM: '1' });
});

test('a second SIGINT exits at once and still leaves no stage process behind', async () => {
  const { dir, ctl } = setup();
  // Both the stage and its helper ignore SIGTERM: only SIGKILL ends them.
  const grow = startGrow(dir, ['run', '-j', '1'], { CTL: ctl, IGNORE_TERM: '1', STUBBORN: '1' });
  await waitForFile(join(ctl, 'slow.started'));
  const stagePid = pidIn(join(ctl, 'slow.started'));
  const helperPid = pidIn(join(ctl, 'helper.pid'));
  strays.push(stagePid, helperPid);
  grow.child.kill('SIGINT');
  await waitFor('the first notice', () => /SIGINT: stopping/.test(grow.stderr()));
  grow.child.kill('SIGINT');
  const { code } = await grow.exit;
  assert.equal(code, 130, grow.stdout() + grow.stderr());
  assert.match(grow.stderr(), /SIGINT again: killing running stages and exiting now/);
  assert.equal(existsSync(join(dir, '.grow/runner.lock')), false, 'the process lock is released');
  for (const pid of [stagePid, helperPid]) await waitFor(`process ${pid} to be gone`, () => !isAlive(pid) || isZombie(pid), 10_000);
});

test('a second runner is refused (exit 2, naming the holder); the first finishes normally', async () => {
  const { dir, ctl } = setup();
  const first = startGrow(dir, ['run'], { CTL: ctl });
  await waitForFile(join(ctl, 'slow.started'));
  strays.push(pidIn(join(ctl, 'slow.started')), pidIn(join(ctl, 'helper.pid')));
  const second = await runGrow(dir, ['run'], { CTL: ctl });
  assert.equal(second.code, 2, second.output);
  assert.match(second.stderr, new RegExp(`pid ${first.child.pid}\\b`));
  assert.match(second.stderr, /grow run/);
  assert.match(second.stderr, /hint: .*kill/);
  writeFileSync(join(ctl, 'slow.release'), '');
  const { code } = await first.exit;
  assert.equal(code, 0, first.stdout() + first.stderr());
  assert.deepEqual(lockStages(dir), ['quick', 'slow']);
});

test('kill -9 of the runner during a stage: the next run takes the stale lock over and completes', async () => {
  const { dir, ctl } = setup();
  const grow = startGrow(dir, ['run', '-j', '1'], { CTL: ctl });
  await waitForFile(join(ctl, 'slow.started'));
  const stagePid = pidIn(join(ctl, 'slow.started'));
  strays.push(stagePid, pidIn(join(ctl, 'helper.pid')));
  grow.child.kill('SIGKILL');
  await grow.exit;
  assert.ok(existsSync(join(dir, '.grow/runner.lock')), 'SIGKILL leaves the process lock behind');
  // The orphaned stage is still running in its own process group, waiting to be released.
  assert.ok(isAlive(stagePid), 'a SIGKILLed runner cannot stop its stages');
  const orphanGroup = pgidOf(stagePid);
  const r = await runGrow(dir, ['run'], { CTL: ctl, RELEASE_AT_START: '1' });
  assert.equal(r.code, 0, r.output);
  assert.match(r.stderr, new RegExp(`taking over .*pid ${grow.child.pid}\\b`));
  assert.match(r.stderr, new RegExp(`stopping 1 stage left running by that runner: slow \\(process group ${orphanGroup}\\)`));
  await waitFor('the orphan to be gone', () => !isAlive(stagePid) || isZombie(stagePid), 10_000);
  assert.deepEqual(lockStages(dir), ['quick', 'slow']);
  assert.equal((await runGrow(dir, ['status', '--check'], { CTL: ctl })).code, 0);
});
