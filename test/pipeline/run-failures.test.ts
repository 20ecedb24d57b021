/**
 * What a failure leaves behind: dependents not started, the lock untouched, partial outs removed,
 * the log tail in the message, and the documented exit codes.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { record, TestProject } from '../helpers/grow-project.ts';

const projects: TestProject[] = [];
after(() => projects.forEach((p) => p.cleanup()));
const project = (files: Record<string, string>) => {
  const p = new TestProject(files);
  projects.push(p);
  return p;
};

test('a missing dep that no stage produces is an error before anything runs', async () => {
  const p = project({
    'pipeline.yaml': `stages:
  first:
    cmd: ${record} && echo 1 > one.txt
    outs: [one.txt]
  second:
    cmd: ${record} && cat nope.txt > two.txt
    deps: [nope.txt]
    outs: [two.txt]
`,
  });
  const r = await p.ok(['run'], 2);
  assert.match(r.stderr, /dep `nope\.txt` does not exist and no stage produces it/);
  assert.doesNotMatch(r.stderr, /\n\s+at /); // no stack trace
  assert.deepEqual(p.calls(), []);
  assert.equal(p.exists('pipeline.lock'), false);
});

test('an out the command never created fails the stage with a clear message', async () => {
  const p = project({
    'pipeline.yaml': `stages:
  lazy:
    cmd: ${record} && echo forgot
    outs: [result.txt]
`,
  });
  const r = await p.ok(['run'], 1);
  assert.match(r.stderr, /out `result\.txt` was not produced by the command/);
  assert.equal(p.exists('pipeline.lock'), false);
});

test('a failing middle stage: dependents skipped, lock entry untouched, partial out removed, log tail shown', async () => {
  const p = project({
    'in.txt': 'v1',
    'pipeline.yaml': `stages:
  first:
    cmd: ${record} && cat in.txt > a.txt
    deps: [in.txt]
    outs: [a.txt]
  middle:
    cmd: ${record} && cat a.txt > b.txt && echo line-one && echo boom-bad-input >&2 && exit 7
    deps: [a.txt]
    outs: [b.txt]
  last:
    cmd: ${record} && cat b.txt > c.txt
    deps: [b.txt]
    outs: [c.txt]
`,
  });
  const r = await p.ok(['run'], 1);
  assert.deepEqual(p.calls(), ['first', 'middle']);
  assert.match(r.stderr, /stage `middle` failed: .*exited with code 7/);
  assert.match(r.stderr, /line-one/);
  assert.match(r.stderr, /boom-bad-input/);
  assert.match(r.stdout, /last: skipped/);
  assert.equal(p.exists('b.txt'), false, 'the partial out is removed');
  const lock = p.lock();
  assert.deepEqual(Object.keys(lock.stages), ['first']);
  assert.match(p.read('.grow/logs/middle.log'), /boom-bad-input/);

  // An earlier good entry stays untouched when a later run of the stage fails.
  p.write('pipeline.yaml', p.read('pipeline.yaml').replace(' && exit 7', ''));
  await p.ok(['run']);
  const good = p.lockText();
  p.write('in.txt', 'v2');
  p.write('pipeline.yaml', p.read('pipeline.yaml').replace('cat a.txt > b.txt', 'cat a.txt > b.txt && exit 3'));
  await p.ok(['run'], 1);
  const after = p.lock();
  const before = (await import('yaml')).parse(good);
  assert.deepEqual(after.stages.middle, before.stages.middle);
  assert.deepEqual(after.stages.last, before.stages.last);
  assert.notDeepEqual(after.stages.first, before.stages.first);
});

test('a list cmd stops at the first failing command', async () => {
  const p = project({
    'pipeline.yaml': `stages:
  steps:
    cmd:
      - echo one >> steps.txt
      - "false"
      - echo three >> steps.txt
    outs: [out.txt]
`,
  });
  const r = await p.ok(['run'], 1);
  assert.match(r.stderr, /`false` exited with code 1/);
  assert.equal(p.read('steps.txt'), 'one\n');
});

test('command not found (exit 127) gets a clear message', async () => {
  const p = project({ 'pipeline.yaml': 'stages:\n  s:\n    cmd: no-such-program-xyz --flag\n' });
  const r = await p.ok(['run'], 1);
  assert.match(r.stderr, /command not found: `no-such-program-xyz --flag`/);
});

test('--keep-going lets independent branches continue after a failure', async () => {
  const files = {
    'pipeline.yaml': `stages:
  bad:
    cmd: ${record} && exit 1
  after_bad:
    cmd: ${record} && touch z.txt
    deps: [y.txt]
    outs: [z.txt]
  bad_out:
    cmd: touch y.txt && exit 1
    outs: [y.txt]
  good:
    cmd: ${record} && touch g.txt
    outs: [g.txt]
`,
  };
  const p = project(files);
  const r = await p.ok(['run', '-j', '1', '--keep-going'], 1);
  const calls = p.calls();
  assert.ok(calls.includes('good'), `good ran: ${calls}`);
  assert.ok(!calls.includes('after_bad'));
  assert.match(r.stdout, /after_bad: skipped/);
  assert.deepEqual(Object.keys(p.lock().stages), ['good']);

  // Without --keep-going and one job, the first failure stops the run: `good` never starts.
  const q = project(files);
  await q.ok(['run', '-j', '1'], 1);
  assert.deepEqual(q.calls(), ['bad']);
});

test('a hand-edited, corrupt lock is a config error with line:col and a fix; nothing changes', async () => {
  const p = project({
    'in.txt': 'x',
    'pipeline.yaml': `stages:\n  s:\n    cmd: ${record} && cp in.txt o.txt\n    deps: [in.txt]\n    outs: [o.txt]\n`,
  });
  await p.ok(['run']);
  p.calls();
  const broken = p.lockText().replace(/hash: md5:[0-9a-f]{32}/, 'hash: md5:nothex');
  p.write('pipeline.lock', broken);
  p.write('in.txt', 'y');
  const r = await p.ok(['run'], 2);
  assert.match(r.stderr, /pipeline\.lock:\d+:\d+: stage `s`: `in\.txt` has a malformed hash/);
  assert.match(r.stderr, /hint: delete the `s` entry/);
  assert.equal(p.lockText(), broken);
  assert.deepEqual(p.calls(), []);
  assert.equal(p.read('o.txt'), 'x');
});

test('usage errors exit 2: unknown option, unknown stage', async () => {
  const p = project({ 'pipeline.yaml': 'stages:\n  s:\n    cmd: "true"\n' });
  await p.ok(['run', '--no-such-flag'], 2);
  const r = await p.ok(['run', 'nope'], 2);
  assert.match(r.stderr, /unknown stage "nope"/);
});

test('--quiet prints nothing on success and only the failure otherwise', async () => {
  const p = project({ 'pipeline.yaml': 'stages:\n  ok:\n    cmd: "true"\n  bad:\n    cmd: echo nope; exit 4\n' });
  const r = await p.ok(['run', '-q', '-k'], 1);
  assert.doesNotMatch(r.stdout, /ok/);
  assert.match(r.stdout, /bad: failed/);
  assert.match(r.stderr, /stage `bad` failed: .*exited with code 4/);
  p.write('pipeline.yaml', 'stages:\n  ok:\n    cmd: "true"\n');
  assert.equal((await p.ok(['run', '-q'])).stdout, '');
});
