// `grow verify`: reproduces in an isolated copy, names every output that did not reproduce, never
// touches the project or a shared cache, and copies only inputs (git-tracked files; no outs).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { removeProject, runGrow, snapshotTree, tempProject, writeFile } from './rig.ts';

const dirs: string[] = [];
after(() => dirs.forEach(removeProject));

function git(dir: string, ...args: string[]) {
  execFileSync('git', ['-c', 'user.email=t@example.com', '-c', 'user.name=t', ...args], { cwd: dir, stdio: 'ignore' });
}

const PIPELINE = `stages:
  prepare:
    cmd: tr a-z A-Z < in.txt > upper.txt
    deps: [in.txt]
    outs: [upper.txt]
  count:
    cmd: wc -c < upper.txt > count.txt
    deps: [upper.txt]
    outs: [count.txt]
`;

function lockHash(dir: string, out: string): string {
  return readFileSync(join(dir, 'pipeline.lock'), 'utf8').match(new RegExp(`path: ${out}, hash: (md5:[0-9a-f]{32})`))![1];
}

test('a deterministic pipeline reproduces (exit 0); the project and its shared cache are untouched', async () => {
  const shared = mkdtempSync(join(tmpdir(), 'grow-shared-cache-'));
  const dir = tempProject({
    'pipeline.yaml': PIPELINE,
    'in.txt': 'hello\n',
    '.growrc.yaml': `cache:\n  dir: ${shared}\n`,
    '.gitignore': 'upper.txt\ncount.txt\n.grow/\n',
  });
  dirs.push(dir, shared);
  assert.equal((await runGrow(dir, ['run'])).code, 0);
  git(dir, 'init', '-q');
  git(dir, 'add', '.');
  git(dir, 'commit', '-q', '-m', 'x');
  const project = snapshotTree(dir);
  const cache = snapshotTree(shared);
  const r = await runGrow(dir, ['verify']);
  assert.equal(r.code, 0, r.output);
  assert.match(r.stdout, /all 2 outputs of 2 stages reproduced/);
  assert.deepEqual(snapshotTree(dir), project, 'verify changed nothing in the project');
  assert.deepEqual(snapshotTree(shared), cache, 'verify used a private cache');
});

test('an output that does not reproduce is named with stage, path, expected and got; exit 1', async () => {
  const dir = tempProject({
    'pipeline.yaml': PIPELINE.replace('wc -c < upper.txt > count.txt', 'wc -c < upper.txt > count.txt && date +%s%N >> count.txt'),
    'in.txt': 'hello\n',
  });
  dirs.push(dir);
  assert.equal((await runGrow(dir, ['run'])).code, 0);
  const expected = lockHash(dir, 'count.txt');
  const r = await runGrow(dir, ['verify']);
  assert.equal(r.code, 1, r.output);
  assert.match(
    r.stdout,
    new RegExp(`✖ count: count\\.txt did not reproduce\\n\\s+expected ${expected} \\(pipeline\\.lock\\)\\n\\s+got\\s+md5:[0-9a-f]{32}`),
  );
  assert.doesNotMatch(r.stdout, /prepare: upper\.txt did not reproduce/);
  assert.match(r.stdout, /1 of 2 outputs did not reproduce/);
  const skipped = await runGrow(dir, ['verify', '--skip-out', 'count.txt']);
  assert.equal(skipped.code, 0, skipped.output);
});

test('an out declared `verify: false` is never compared, without any flag; the others still are', async () => {
  const varying = 'wc -c < upper.txt > count.txt && date +%s%N > time.txt';
  const dir = tempProject({
    'pipeline.yaml': PIPELINE.replace('wc -c < upper.txt > count.txt', varying).replace(
      'outs: [count.txt]',
      'outs: [count.txt, time.txt: {verify: false}]',
    ),
    'in.txt': 'hello\n',
  });
  dirs.push(dir);
  assert.equal((await runGrow(dir, ['run'])).code, 0);
  assert.match(
    readFileSync(join(dir, 'pipeline.lock'), 'utf8'),
    /path: time\.txt, hash: md5:/,
    'a verify: false out is still hashed and locked',
  );
  const r = await runGrow(dir, ['verify']);
  assert.equal(r.code, 0, r.output);
  assert.match(r.stdout, /all 2 outputs of 2 stages reproduced \(1 not compared: declared `verify: false`\)/);
  // The declaration covers only that out: a varying out it does not name still fails.
  writeFile(
    dir,
    'pipeline.yaml',
    PIPELINE.replace('wc -c < upper.txt > count.txt', `${varying} && date +%s%N >> count.txt`).replace(
      'outs: [count.txt]',
      'outs: [count.txt, time.txt: {verify: false}]',
    ),
  );
  assert.equal((await runGrow(dir, ['run'])).code, 0);
  const bad = await runGrow(dir, ['verify']);
  assert.equal(bad.code, 1, bad.output);
  assert.match(bad.stdout, /✖ count: count\.txt did not reproduce/);
  assert.doesNotMatch(bad.stdout, /time\.txt did not reproduce/);
  assert.match(bad.stdout, /1 of 2 outputs did not reproduce \(1 not compared: declared `verify: false`\)/);
});

test('a lock older than the committed inputs fails even when every out still reproduces: the dep is named', async () => {
  const dir = tempProject({
    'pipeline.yaml': PIPELINE.replace('tr a-z A-Z < in.txt > upper.txt', 'sh up.sh').replace('deps: [in.txt]', 'deps: [in.txt, up.sh]'),
    'in.txt': 'hello\n',
    'up.sh': 'tr a-z A-Z < in.txt > upper.txt\n',
  });
  dirs.push(dir);
  assert.equal((await runGrow(dir, ['run'])).code, 0);
  assert.equal((await runGrow(dir, ['verify'])).code, 0);
  // A comment changes the script's hash but not what it writes: the outs reproduce, the lock is stale.
  writeFile(dir, 'up.sh', '# upper-case the input\ntr a-z A-Z < in.txt > upper.txt\n');
  const r = await runGrow(dir, ['verify']);
  assert.equal(r.code, 1, r.output);
  assert.match(
    r.stdout,
    /✖ prepare: pipeline\.lock records another dep up\.sh than the committed project has\n\s+expected md5:[0-9a-f]{32} \(pipeline\.lock\)\n\s+got\s+md5:[0-9a-f]{32}/,
  );
  assert.doesNotMatch(r.stdout, /did not reproduce\n/);
  assert.match(r.stdout, /lock entries are out of date: run `grow run` and commit pipeline\.lock/);
  assert.equal((await runGrow(dir, ['run'])).code, 0);
  assert.equal((await runGrow(dir, ['verify'])).code, 0);
});

test('`verify` on an out takes only a boolean: a string is one clear line naming the place', async () => {
  const dir = tempProject({
    'pipeline.yaml': PIPELINE.replace('outs: [count.txt]', 'outs: [count.txt: {verify: "no"}]'),
    'in.txt': 'hello\n',
  });
  dirs.push(dir);
  const r = await runGrow(dir, ['status']);
  assert.notEqual(r.code, 0);
  assert.match(r.output, /pipeline\.yaml:\d+/);
  assert.doesNotMatch(r.output, /\n\s+at /, 'no stack trace');
});

test('only git-tracked files are copied: a stage reading an untracked file fails there (exit 1)', async () => {
  const dir = tempProject({
    'pipeline.yaml': PIPELINE.replace('tr a-z A-Z < in.txt', 'cat secret.txt > /dev/null && tr a-z A-Z < in.txt'),
    'in.txt': 'hello\n',
    'secret.txt': 'not committed\n',
  });
  dirs.push(dir);
  assert.equal((await runGrow(dir, ['run'])).code, 0);
  git(dir, 'init', '-q');
  git(dir, 'add', 'pipeline.yaml', 'in.txt', 'pipeline.lock');
  git(dir, 'commit', '-q', '-m', 'x');
  const r = await runGrow(dir, ['verify']);
  assert.equal(r.code, 1, r.output);
  assert.match(r.stdout, /✖ prepare: failed in the isolated run/);
  assert.match(r.stdout, /secret\.txt/);
});

test('without git, outs are not copied: a persist out is rebuilt from scratch', async () => {
  const dir = tempProject({
    'pipeline.yaml': `stages:
  journal:
    cmd: cat in.txt >> journal.txt
    deps: [in.txt]
    outs:
      - journal.txt:
          persist: true
`,
    'in.txt': 'entry\n',
  });
  dirs.push(dir);
  assert.equal((await runGrow(dir, ['run'])).code, 0);
  writeFile(dir, 'unrelated.txt', 'x'); // the walk copies ordinary files too
  const r = await runGrow(dir, ['verify']);
  assert.equal(r.code, 0, r.output);
  assert.equal(readFileSync(join(dir, 'journal.txt'), 'utf8'), 'entry\n');
});

test('verify without a lock is a usage error', async () => {
  const dir = tempProject({ 'pipeline.yaml': PIPELINE, 'in.txt': 'hello\n' });
  dirs.push(dir);
  const r = await runGrow(dir, ['verify']);
  assert.equal(r.code, 2, r.output);
  assert.match(r.stderr, /nothing to verify: pipeline\.lock does not exist/);
  assert.match(r.stderr, /hint: run `grow run` and commit pipeline\.lock/);
});
