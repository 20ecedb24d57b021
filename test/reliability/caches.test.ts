// grow's own caches read back as untrusted input: gc --dry removes nothing, gc never touches files
// that are not its own, a garbage parse-cache entry is a miss, the hash state notices an edit
// whose mtime was put back (ctime), and keys unpacked into flags are quoted like values.
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { removeProject, runGrow, snapshotTree, tempProject } from './rig.ts';

const dirs: string[] = [];
after(() => dirs.forEach(removeProject));

const PIPELINE = `stages:
  make:
    cmd: mkdir -p out && cp in.txt out/a.txt
    deps: [in.txt]
    outs: [out]
`;

function project(files: Record<string, string> = {}): string {
  const dir = tempProject({ 'pipeline.yaml': PIPELINE, 'in.txt': 'v1\n', ...files });
  dirs.push(dir);
  return dir;
}

const HEX30 = 'c'.repeat(30);

test('gc --dry removes nothing: not stale temps, not damaged run-cache entries, not unreferenced objects', async () => {
  const dir = project();
  assert.equal((await runGrow(dir, ['run'])).code, 0);
  writeFileSync(join(dir, 'in.txt'), 'v2\n');
  assert.equal((await runGrow(dir, ['run'])).code, 0);
  // Recorded experiments keep the objects they need; without the records, v1's objects are unreferenced.
  rmSync(join(dir, '.grow', 'exps'), { recursive: true });
  const cache = join(dir, '.grow', 'cache');
  mkdirSync(join(cache, 'files', 'md5', 'ab'), { recursive: true });
  const temp = join(cache, 'files', 'md5', 'ab', `${HEX30}.tmp-host-1-0011`);
  writeFileSync(temp, 'half');
  const old = new Date(Date.now() - 3 * 3600e3);
  utimesSync(temp, old, old);
  mkdirSync(join(cache, 'runs', 'ab'), { recursive: true });
  const damaged = join(cache, 'runs', 'ab', `ab${HEX30}.json`);
  writeFileSync(damaged, '{"stage": "make", "outs": [{"path": "../x", "hash": 5}]}');
  const before = snapshotTree(cache);
  const r = await runGrow(dir, ['gc', '--dry', '--keep-runs', '0']);
  assert.equal(r.code, 0, r.output);
  assert.match(r.stdout, /would remove [1-9]\d* objects/);
  assert.deepEqual(snapshotTree(cache), before, 'the cache is byte-for-byte as it was');
  const real = await runGrow(dir, ['gc', '--keep-runs', '0']);
  assert.equal(real.code, 0, real.output);
  assert.equal(existsSync(temp), false, 'a real gc removes the stale temp');
  assert.equal(existsSync(damaged), false, 'and the damaged entry');
});

test("gc with `cache.dir: .` removes none of the user's own files", async () => {
  const dir = project({ '.growrc.yaml': 'cache:\n  dir: .\n' });
  assert.equal((await runGrow(dir, ['run'])).code, 0);
  writeFileSync(join(dir, 'in.txt'), 'v2\n');
  assert.equal((await runGrow(dir, ['run'])).code, 0);
  const mine = ['files/md5/notes.txt', 'files/md5/ab/notes.txt', 'files/md5/ab/notes.tmp-mine', 'runs/ab/todo.json', 'runs/readme.md'];
  for (const rel of mine) {
    mkdirSync(join(dir, rel, '..'), { recursive: true });
    writeFileSync(join(dir, rel), 'mine\n');
    const old = new Date(Date.now() - 3 * 3600e3);
    utimesSync(join(dir, rel), old, old);
  }
  const r = await runGrow(dir, ['gc', '--keep-runs', '0']);
  assert.equal(r.code, 0, r.output);
  for (const rel of mine) assert.equal(readFileSync(join(dir, rel), 'utf8'), 'mine\n', `${rel} kept`);
  assert.equal(readFileSync(join(dir, 'in.txt'), 'utf8'), 'v2\n');
  assert.equal((await runGrow(dir, ['status', '--check'])).code, 0);
});

test('a garbage spec parse-cache entry is a miss: the pipeline still loads', async () => {
  const dir = project();
  assert.equal((await runGrow(dir, ['run'])).code, 0);
  const specDir = join(dir, '.grow', 'spec');
  const entries = readdirSync(specDir).filter((f) => f.endsWith('.json'));
  assert.ok(entries.length > 0);
  for (const [i, f] of entries.entries()) writeFileSync(join(specDir, f), i % 2 ? 'garbage' : '{"data": null, "keys": {}}');
  const r = await runGrow(dir, ['status', '--check']);
  assert.equal(r.code, 0, r.output);
  assert.doesNotMatch(r.output, /empty/);
});

test('an in-place same-size edit of a dep with its mtime put back is seen (ctime)', async () => {
  const dir = project();
  const dep = join(dir, 'in.txt');
  const old = new Date(Date.now() - 3600e3);
  utimesSync(dep, old, old);
  const oldMtime = statSync(dep).mtimeMs;
  assert.equal((await runGrow(dir, ['run'])).code, 0);
  // A second look records the file's stat in the hash state (the first may find it racily new).
  assert.equal((await runGrow(dir, ['status', '--check'])).code, 0);
  const ino = statSync(dep).ino;
  writeFileSync(dep, 'v9\n'); // same size, same inode
  utimesSync(dep, old, old);
  assert.equal(statSync(dep).ino, ino);
  assert.equal(statSync(dep).mtimeMs, oldMtime);
  const r = await runGrow(dir, ['status', '--check']);
  assert.equal(r.code, 3, `the edit is seen: ${r.output}`);
});

test('keys of a mapping unpacked into flags are quoted: $(…) in a key never runs', async () => {
  const dir = project({
    'params.yaml': 'train:\n  "$(touch pwned)": 1\n  lr: 0.1\n',
    'pipeline.yaml': `stages:
  flags:
    cmd: echo \${train} > flags.txt
    params: [train]
    outs: [flags.txt]
`,
  });
  const r = await runGrow(dir, ['run']);
  assert.equal(r.code, 0, r.output);
  assert.equal(existsSync(join(dir, 'pwned')), false, 'the key was not run by the shell');
  assert.equal(readFileSync(join(dir, 'flags.txt'), 'utf8'), '--$(touch pwned) 1 --lr 0.1\n');
});
