// `grow push` / `grow pull` through the built CLI, as a user runs them: listed by `grow --help`,
// a push to a directory, and a second clone that pulls from it (the remote given once by flag,
// once by GROW_REMOTE_DIR) and then restores every output without running a stage.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { record, TestProject } from '../helpers/grow-project.ts';

const cleanups: (() => void)[] = [];
after(() => cleanups.forEach((f) => f()));

test('grow --help lists push and pull, each with its own help', async () => {
  const p = new TestProject({ 'pipeline.yaml': 'stages: {}\n' });
  cleanups.push(() => p.cleanup());
  const help = (await p.ok(['--help'])).stdout;
  assert.match(help, /^\s+push \[options\]/m);
  assert.match(help, /^\s+pull \[options\]/m);
  assert.match((await p.ok(['push', '--help'])).stdout, /--to <dir>/);
  assert.match((await p.ok(['pull', '--help'])).stdout, /--from <dir>/);
});

test('grow push --to DIR, then grow pull in a second clone restores everything without running', async () => {
  const pipeline = `stages:
  prep:
    cmd: ${record}; mkdir -p data && cp src.txt data/raw.txt && echo x > data/x.txt
    deps: [src.txt]
    outs: [data]
  train:
    cmd: ${record}; cat data/raw.txt > model.txt; echo trained >> model.txt
    deps: [data]
    outs: [model.txt]
`;
  const remoteParent = mkdtempSync(join(tmpdir(), 'grow-remote-'));
  cleanups.push(() => rmSync(remoteParent, { recursive: true, force: true }));
  const remote = join(remoteParent, 'cache');

  const a = new TestProject({ 'pipeline.yaml': pipeline, 'src.txt': 'raw\n' });
  cleanups.push(() => a.cleanup());
  await a.ok(['run']);
  assert.deepEqual(a.calls().sort(), ['prep', 'train']);
  assert.match((await a.ok(['push', '--to', remote])).stdout, /^pushed 4 objects .* and 2 run-cache entries to /m);
  assert.match((await a.ok(['push', '--to', remote])).stdout, /^pushed 0 objects .* and 0 run-cache entries .*; 6 already there/m);

  // The clone has only the committed files and an empty cache of its own.
  const b = new TestProject({ 'pipeline.yaml': pipeline, 'src.txt': 'raw\n', 'pipeline.lock': a.lockText() });
  cleanups.push(() => b.cleanup());
  assert.match((await b.ok(['pull'], 0, { GROW_REMOTE_DIR: remote })).stdout, /^pulled 4 objects .* and 2 run-cache entries/m);
  await b.ok(['run']);
  assert.deepEqual(b.calls(), []);
  assert.equal(b.read('model.txt'), 'raw\ntrained\n');
  assert.equal(b.read('data/x.txt'), 'x\n');
  assert.equal(b.lockText(), a.lockText());

  // A third clone pulls with the flag, then `grow checkout` puts the outs in place.
  const c = new TestProject({ 'pipeline.yaml': pipeline, 'src.txt': 'raw\n', 'pipeline.lock': a.lockText() });
  cleanups.push(() => c.cleanup());
  await c.ok(['pull', '--from', remote]);
  await c.ok(['checkout']);
  assert.equal(c.read('model.txt'), 'raw\ntrained\n');
  assert.deepEqual(c.calls(), []);
});
