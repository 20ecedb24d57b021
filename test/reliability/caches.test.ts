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

test('an in-place same-size edit of a file in a directory out, mtime put back, is seen (the directory record)', async () => {
  const dir = project({
    'pipeline.yaml': `stages:
  make:
    cmd: mkdir -p out && cp in.txt out/a.txt && cp in.txt out/b.txt
    deps: [in.txt]
    outs: [out]
  use:
    cmd: cat out/a.txt out/b.txt > both.txt
    deps: [out]
    outs: [both.txt]
`,
  });
  assert.equal((await runGrow(dir, ['run'])).code, 0);
  const file = join(dir, 'out', 'b.txt');
  const old = new Date(Date.now() - 3600e3);
  utimesSync(file, old, old);
  const oldMtime = statSync(file).mtimeMs;
  // A new mtime alone is no edit; the first look hashes the file again, the second finds every file as recorded.
  assert.equal((await runGrow(dir, ['status', '--check'])).code, 0);
  assert.equal((await runGrow(dir, ['status', '--check'])).code, 0);
  const state = JSON.parse(readFileSync(join(dir, '.grow', 'state.json'), 'utf8')) as { dirs: Record<string, string[]> };
  assert.deepEqual(state.dirs.out[0].split('\0'), ['a.txt', 'b.txt'], 'the out is remembered as one directory record');
  writeFileSync(file, 'v9\n'); // same size, same inode
  utimesSync(file, old, old);
  assert.equal(statSync(file).mtimeMs, oldMtime);
  const status = await runGrow(dir, ['status']);
  assert.match(status.stdout, /out out modified/, status.output);
  // A file added to, or removed from, the out is seen as well.
  assert.equal((await runGrow(dir, ['run'])).code, 0);
  assert.equal((await runGrow(dir, ['status', '--check'])).code, 0);
  writeFileSync(join(dir, 'out', 'c.txt'), 'new\n');
  assert.equal((await runGrow(dir, ['status', '--check'])).code, 3, 'an added file is seen');
  rmSync(join(dir, 'out', 'c.txt'));
  assert.equal((await runGrow(dir, ['status', '--check'])).code, 0, 'back as recorded');
  rmSync(join(dir, 'out', 'a.txt'));
  assert.equal((await runGrow(dir, ['status', '--check'])).code, 3, 'a removed file is seen');
});

test('params.yaml and pipeline.yaml edited after a cached parse, in the same second and at the same size, are seen', async () => {
  const dir = project({
    'params.yaml': 'lr: 1\n',
    'pipeline.yaml': `stages:
  make:
    cmd: mkdir -p out && cp in.txt out/a.txt && echo a
    deps: [in.txt]
    params: [lr]
    outs: [out]
`,
  });
  assert.equal((await runGrow(dir, ['run'])).code, 0);
  assert.equal((await runGrow(dir, ['status', '--check'])).code, 0);
  assert.ok(readdirSync(join(dir, '.grow', 'spec')).length >= 2, 'both parses are cached');
  for (const [file, from, to, reason] of [
    ['params.yaml', 'lr: 1', 'lr: 2', /param params\.yaml:lr changed: 1 → 2/],
    ['pipeline.yaml', 'echo a', 'echo b', /cmd changed/],
  ] as const) {
    const abs = join(dir, file);
    const before = statSync(abs);
    writeFileSync(abs, readFileSync(abs, 'utf8').replace(from, to));
    utimesSync(abs, before.atime, before.mtime);
    assert.equal(statSync(abs).size, before.size);
    assert.equal(Math.trunc(statSync(abs).mtimeMs / 1000), Math.trunc(before.mtimeMs / 1000), 'the same second');
    const r = await runGrow(dir, ['status']);
    assert.match(r.stdout, reason, `${file}: ${r.output}`);
    writeFileSync(abs, readFileSync(abs, 'utf8').replace(to, from));
    utimesSync(abs, before.atime, before.mtime);
    assert.equal((await runGrow(dir, ['status', '--check'])).code, 0, `${file} as it was`);
  }
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
