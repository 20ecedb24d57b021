// One runner at a time: the process lock refuses a live holder, takes over a dead one's lock, and
// never removes a lock it does not own. Holders are real child processes.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { GrowError } from '../../src/pipeline/errors.ts';
import { tempMarker, tempPathFor } from '../../src/util/atomic-write.ts';
import { acquireProcessLock, PROCESS_LOCK_FILE } from '../../src/pipeline/run/runner-mutex.ts';
import { REPO, removeProject, tempProject, waitForFile } from './rig.ts';

const dirs: string[] = [];
after(() => dirs.forEach(removeProject));
const project = () => {
  const d = tempProject();
  dirs.push(d);
  return d;
};

function holdLock(root: string) {
  const child = spawn(process.execPath, ['--import', 'tsx', join(REPO, 'test/reliability/fixtures/hold-lock.ts'), root], {
    cwd: REPO,
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  const exited = new Promise<void>((res) => child.on('close', () => res()));
  return { child, exited };
}

test('a live holder is refused with its pid, command and how to proceed; released on exit', async () => {
  const root = project();
  const holder = holdLock(root);
  await waitForFile(join(root, 'held'));
  assert.throws(
    () => acquireProcessLock(root),
    (e: unknown) => {
      assert.ok(e instanceof GrowError);
      assert.equal(e.exitCode, 2);
      assert.match(e.message, new RegExp(`pid ${holder.child.pid}\\b`));
      assert.match(e.message, /grow run held-by-test/);
      assert.match(e.hint ?? '', new RegExp(`kill ${holder.child.pid}`));
      return true;
    },
  );
  writeFileSync(join(root, 'let-go'), '');
  await holder.exited;
  assert.equal(existsSync(join(root, PROCESS_LOCK_FILE)), false, 'the holder removed its lock');
  const lock = acquireProcessLock(root);
  lock.release();
});

test('a lock left by a killed runner is taken over with a one-line notice', async () => {
  const root = project();
  const holder = holdLock(root);
  await waitForFile(join(root, 'held'));
  holder.child.kill('SIGKILL');
  await holder.exited;
  assert.ok(existsSync(join(root, PROCESS_LOCK_FILE)), 'SIGKILL leaves the lock behind');
  const notices: string[] = [];
  const lock = acquireProcessLock(root, { notice: (l) => notices.push(l) });
  assert.equal(notices.length, 1);
  assert.match(notices[0], new RegExp(`taking over .*pid ${holder.child.pid}\\b`));
  assert.equal(JSON.parse(readFileSync(lock.path, 'utf8')).pid, process.pid);
  lock.release();
  assert.equal(existsSync(lock.path), false);
});

test('an unreadable lock file is recovered; a lock from another host is never stolen', () => {
  const root = project();
  const path = join(root, PROCESS_LOCK_FILE);
  const first = acquireProcessLock(root);
  first.release();
  writeFileSync(path, '{"pid": 12');
  const notices: string[] = [];
  acquireProcessLock(root, { notice: (l) => notices.push(l) }).release();
  assert.match(notices.join('\n'), /unreadable/);

  writeFileSync(path, JSON.stringify({ pid: 4242, hostname: 'some-other-host', command: 'grow run x', startedAt: 'then', token: 't' }));
  assert.throws(
    () => acquireProcessLock(root),
    (e: unknown) => {
      assert.ok(e instanceof GrowError);
      assert.match(e.message, /pid 4242 on some-other-host/);
      assert.match(e.hint ?? '', /delete \.grow\/runner\.lock/);
      return true;
    },
  );
  assert.ok(existsSync(path), 'a foreign lock is left alone');
});

test('release never removes a lock another runner holds now', () => {
  const root = project();
  const mine = acquireProcessLock(root);
  const path = mine.path;
  // Simulate a takeover after we were (wrongly) judged dead: someone else's lock now sits there.
  const theirs = JSON.stringify({ pid: process.pid, hostname: 'x', command: 'grow run other', startedAt: 'now', token: 'other' });
  writeFileSync(path, theirs);
  mine.release();
  assert.equal(readFileSync(path, 'utf8'), theirs);
});

test('a lock whose pid now belongs to another process (pid reused) is taken over', async () => {
  const root = project();
  const other = spawn('sleep', ['30'], { stdio: 'ignore' });
  try {
    const path = join(root, PROCESS_LOCK_FILE);
    acquireProcessLock(root).release();
    // The dead runner had this pid, but started at another time than the live process has it now.
    writeFileSync(
      path,
      JSON.stringify({ pid: other.pid, hostname: hostname(), command: 'grow run', startedAt: 'then', token: 't', procStart: '1' }),
    );
    const notices: string[] = [];
    const lock = acquireProcessLock(root, { notice: (l) => notices.push(l) });
    assert.match(notices.join('\n'), new RegExp(`taking over .*pid ${other.pid}\\b`));
    lock.release();
    // Without a recorded start time, a live pid is always respected.
    writeFileSync(path, JSON.stringify({ pid: other.pid, hostname: hostname(), command: 'grow run', startedAt: 'then', token: 't' }));
    assert.throws(() => acquireProcessLock(root), GrowError);
  } finally {
    other.kill('SIGKILL');
  }
});

test("taking over a dead runner's lock removes its temp files only: same host and pid, not another host's", async () => {
  const root = project();
  const holder = holdLock(root);
  await waitForFile(join(root, 'held'));
  holder.child.kill('SIGKILL');
  await holder.exited;
  const pid = holder.child.pid!;
  // Temp names as src/util/atomic-write.ts writes them, by the dead runner, by a writer with the same pid on
  // another machine sharing the directory, and by another live process here.
  const ours = `pipeline.lock${tempMarker(pid)}0123abcd`;
  const oursInGrow = join('.grow', `state.json${tempMarker(pid)}89ab`);
  const otherHost = `pipeline.lock${tempMarker(pid, 'node-7')}0123abcd`;
  const otherPid = `pipeline.lock${tempMarker(pid + 1)}0123abcd`;
  assert.notEqual(tempMarker(pid, 'node-7'), tempMarker(pid));
  for (const f of [ours, oursInGrow, otherHost, otherPid]) writeFileSync(join(root, f), 'half');
  const lock = acquireProcessLock(root, { notice: () => {} });
  lock.release();
  assert.equal(existsSync(join(root, ours)), false);
  assert.equal(existsSync(join(root, oursInGrow)), false);
  assert.equal(existsSync(join(root, otherHost)), true, "another host's temp file stays");
  assert.equal(existsSync(join(root, otherPid)), true, "another process's temp file stays");
});

test('temp names carry the host and random bytes: unique per call, marked by host and pid', () => {
  const a = tempPathFor('/x/obj');
  const b = tempPathFor('/x/obj');
  assert.notEqual(a, b);
  assert.ok(a.startsWith(`/x/obj${tempMarker(process.pid, hostname())}`), a);
  assert.match(a.slice('/x/obj'.length), /^\.tmp-[A-Za-z0-9._]+-\d+-[0-9a-f]{16}$/);
  // A hyphenated host cannot pass for another host's pid.
  assert.notEqual(tempMarker(12, 'a-12'), tempMarker(5, 'a'));
});
