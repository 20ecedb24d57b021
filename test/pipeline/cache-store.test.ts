// The object store's write path against a real directory: a file whose content no longer matches
// the hash it was stored under (it changed between hashing and copying) must never land in the
// cache under that hash, and no temp file may be left behind.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Cache } from '../../src/pipeline/store/cache.ts';
import { md5OfText } from '../../src/pipeline/store/hash.ts';

const root = mkdtempSync(join(tmpdir(), 'grow-cache-store-'));
after(() => rmSync(root, { recursive: true, force: true }));

const filesIn = (dir: string): string[] => (readdirSync(dir, { recursive: true }) as string[]).map(String);

test('a file that changed after it was hashed is refused, nothing stored, no temp left', async () => {
  const cache = new Cache(join(root, 'cache-a'));
  const file = join(root, 'out.txt');
  writeFileSync(file, 'what the stage wrote\n');
  const hashed = md5OfText('what the stage wrote\n');
  // The file is rewritten after hashing, before the cache copies it.
  writeFileSync(file, 'a straggler wrote this later\n');
  await assert.rejects(cache.store(file, { hash: `md5:${hashed}`, size: 21 }), /changed while it was being stored.*nothing was stored/);
  assert.equal(await cache.has(`md5:${hashed}`), false);
  const left = filesIn(cache.objectsDir);
  assert.ok(
    left.every((f) => !f.includes('.tmp-')),
    `temp files left: ${left.join(', ')}`,
  );
});

test('a directory with one changed file stores no manifest, so the directory is not in the cache', async () => {
  const cache = new Cache(join(root, 'cache-b'));
  const dir = join(root, 'outdir');
  mkdirSync(dir);
  writeFileSync(join(dir, 'a.txt'), 'a\n');
  writeFileSync(join(dir, 'b.txt'), 'changed\n');
  const manifest = [
    { md5: md5OfText('a\n'), relpath: 'a.txt' },
    { md5: md5OfText('b\n'), relpath: 'b.txt' },
  ];
  const dirHash = `md5:${md5OfText(JSON.stringify(manifest))}.dir`;
  await assert.rejects(cache.store(dir, { hash: dirHash, size: 4, files: 2, manifest }), /b\.txt` changed/);
  assert.equal(await cache.has(dirHash), false);
  assert.equal(await cache.has(`md5:${md5OfText('b\n')}`), false);
  assert.ok(filesIn(cache.objectsDir).every((f) => !f.includes('.tmp-')));
});

test('a missing source leaves no temp file (the copy throws)', async () => {
  const cache = new Cache(join(root, 'cache-c'));
  await assert.rejects(cache.store(join(root, 'nope.txt'), { hash: `md5:${md5OfText('x')}`, size: 1 }), /ENOENT/);
  assert.ok(filesIn(cache.objectsDir).every((f) => !f.includes('.tmp-')));
});

test('an unchanged file is stored and verifies', async () => {
  const cache = new Cache(join(root, 'cache-d'));
  const file = join(root, 'good.txt');
  writeFileSync(file, 'good\n');
  const hash = `md5:${md5OfText('good\n')}`;
  await cache.store(file, { hash, size: 5 });
  assert.equal(await cache.has(hash), true);
});
