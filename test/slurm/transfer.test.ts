// grow push/pull: moving objects and run-cache entries between two real cache directories, and a
// second clone that restores a whole pipeline from a pulled cache without running anything.
// (No Slurm needed; these live with the shared-cache work.)
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Command } from 'commander';
import { Cache } from '../../src/pipeline/store/cache.ts';
import { registerTransferCommands } from '../../src/pipeline/commands/transfer.ts';
import { Hasher } from '../../src/pipeline/store/hash.ts';
import { HashState } from '../../src/pipeline/store/hash-state.ts';
import { RunCache } from '../../src/pipeline/store/run-cache.ts';
import { transferCache } from '../../src/pipeline/store/transfer.ts';
import { TestProject } from '../helpers/grow-project.ts';
import { removeDir, tempDir } from './cluster.ts';

const dirs: string[] = [];
after(() => dirs.forEach(removeDir));
function dir(prefix: string): string {
  const d = tempDir(prefix);
  dirs.push(d);
  return d;
}

function allFiles(root: string): string[] {
  return (readdirSync(root, { recursive: true }) as string[])
    .map(String)
    .filter((f) => statSync(join(root, f)).isFile())
    .sort();
}

/** A workspace with a file and a directory out, stored in a real cache with a run-cache entry. */
async function filledCache() {
  const work = dir('grow-xfer-work-');
  const cacheDir = dir('grow-xfer-cache-');
  writeFileSync(join(work, 'model.bin'), 'weights '.repeat(1000));
  mkdirSync(join(work, 'data', 'sub'), { recursive: true });
  writeFileSync(join(work, 'data', 'a.txt'), 'alpha\n');
  writeFileSync(join(work, 'data', 'sub', 'b.txt'), 'beta\n');
  const hasher = new Hasher(work, new HashState(work));
  const cache = new Cache(cacheDir);
  const file = (await hasher.hash('model.bin'))!;
  const tree = (await hasher.hash('data'))!;
  await cache.store(join(work, 'model.bin'), file);
  await cache.store(join(work, 'data'), tree);
  new RunCache(cacheDir).put('0123456789abcdef0123456789abcdef', {
    stage: 'train',
    outs: [
      { path: 'model.bin', hash: file.hash, size: file.size },
      { path: 'data', hash: tree.hash, size: tree.size, files: 2 },
    ],
  });
  return { work, cacheDir, cache, file, tree };
}

test('push copies every object and run entry, verified and read-only; a second push copies nothing', async () => {
  const src = await filledCache();
  const dest = dir('grow-xfer-remote-');
  const first = await transferCache(src.cacheDir, dest);
  assert.equal(first.objects, 4); // model.bin, a.txt, b.txt, the directory manifest
  assert.equal(first.runs, 1);
  assert.equal(first.corrupt.length, 0);
  assert.equal(
    first.bytes,
    allFiles(join(src.cacheDir, 'files')).reduce((n, f) => n + statSync(join(src.cacheDir, 'files', f)).size, 0),
  );
  assert.deepEqual(allFiles(dest), allFiles(src.cacheDir));
  assert.ok(allFiles(dest).every((f) => !f.includes('.tmp-')));
  const remote = new Cache(dest);
  assert.equal(statSync(remote.objectPath(src.file.hash)).mode & 0o777, 0o444);
  assert.ok(await remote.has(src.file.hash));
  assert.ok(await remote.has(src.tree.hash));
  // Restoring from the destination gives back the same bytes.
  const out = dir('grow-xfer-out-');
  await remote.restore(join(out, 'data'), src.tree.hash);
  assert.equal(readFileSync(join(out, 'data', 'sub', 'b.txt'), 'utf8'), 'beta\n');

  const again = await transferCache(src.cacheDir, dest);
  assert.deepEqual([again.objects, again.runs, again.bytes, again.present], [0, 0, 0, 5]);
});

test('a corrupt source object is reported and not copied; run entries needing it stay behind', async () => {
  const src = await filledCache();
  const object = src.cache.objectPath(src.file.hash);
  chmodSync(object, 0o644);
  writeFileSync(object, 'bit rot');
  const dest = dir('grow-xfer-remote-');
  const r = await transferCache(src.cacheDir, dest);
  assert.deepEqual(r.corrupt, [src.file.hash]);
  assert.equal(r.objects, 3);
  assert.equal(r.runs, 0);
  assert.equal(r.incompleteRuns, 1);
  assert.ok(allFiles(dest).every((f) => !f.includes(src.file.hash.slice(6, 20))));
  assert.ok(allFiles(dest).every((f) => !f.includes('.tmp-')));
});

test('pull from an empty or missing remote, and push --to through the command', async () => {
  const p = new TestProject({
    'pipeline.yaml': 'stages:\n  a:\n    cmd: cp in.txt a.txt\n    deps: [in.txt]\n    outs: [a.txt]\n',
    'in.txt': 'a\n',
  });
  dirs.push(p.dir);
  await p.ok(['run']);
  const lines: string[] = [];
  const program = new Command().exitOverride();
  registerTransferCommands(program, { root: () => p.dir, out: (l) => lines.push(l) });
  const remote = join(dir('grow-xfer-remote-'), 'cache');
  await program.parseAsync(['push', '--to', remote], { from: 'user' });
  assert.match(lines.pop()!, /^pushed 1 object \(.*\) and 1 run-cache entry to .*; 0 already there$/);
  await program.parseAsync(['pull', '--from', remote], { from: 'user' });
  assert.match(lines.pop()!, /^pulled 0 objects .* 2 already there$/);
  await assert.rejects(program.parseAsync(['pull', '--from', join(remote, 'nope')], { from: 'user' }), /does not exist/);
  await assert.rejects(program.parseAsync(['push'], { from: 'user' }), /no second cache directory/);
  // `remote.dir` from the local config is the default destination.
  p.write('.grow/config.yaml', `remote:\n  dir: ${JSON.stringify(remote)}\n`);
  await program.parseAsync(['push'], { from: 'user' });
  assert.match(lines.pop()!, /^pushed 0 objects .* 2 already there$/);
});
