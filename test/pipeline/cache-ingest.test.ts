// Storing an out in one pass (Cache.ingestFile, Hasher.hashAndStore): each file is copied into the
// cache while it is hashed. The object must be named by exactly what it holds, a file that is not
// the one the runner listed (rewritten meanwhile) must store nothing, a killed store's temp file
// must be swept by gc, and an out edited in place after the run must never reach the cache.
import assert from 'node:assert/strict';
import { appendFileSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Cache, INCOMING } from '../../src/pipeline/store/cache.ts';
import { md5OfText } from '../../src/pipeline/store/hash.ts';
import { auditCache, removeProject, runGrow, tempProject } from '../reliability/rig.ts';

const root = mkdtempSync(join(tmpdir(), 'grow-cache-ingest-'));
const dirs: string[] = [];
after(() => {
  rmSync(root, { recursive: true, force: true });
  dirs.forEach(removeProject);
});

const filesIn = (dir: string): string[] => (readdirSync(dir, { recursive: true }) as string[]).map(String);

test('ingestFile stores a read-only object named by the md5 of its bytes, and leaves no temp', async () => {
  const cache = new Cache(join(root, 'cache-a'));
  const file = join(root, 'a.txt');
  writeFileSync(file, 'hello\n');
  const { md5 } = await cache.ingestFile(file, statSync(file));
  assert.equal(md5, md5OfText('hello\n'));
  const object = cache.objectPath(`md5:${md5}`);
  assert.equal(readFileSync(object, 'utf8'), 'hello\n');
  assert.equal(statSync(object).mode & 0o777, 0o444);
  // The same content again: the existing object is kept and the new copy dropped.
  const file2 = join(root, 'a2.txt');
  writeFileSync(file2, 'hello\n');
  assert.equal((await cache.ingestFile(file2, statSync(file2))).md5, md5);
  assert.deepEqual(
    filesIn(cache.objectsDir).filter((f) => f.includes('.tmp-')),
    [],
  );
  assert.equal(await cache.has(`md5:${md5}`), true);
});

test('ingestFile refuses a file that is not the one listed (rewritten after its stat): nothing stored', async () => {
  const cache = new Cache(join(root, 'cache-b'));
  const file = join(root, 'b.txt');
  writeFileSync(file, 'what the stage wrote\n');
  const listed = statSync(file);
  // Rewritten after the runner listed it, with a different size (a straggling writer).
  writeFileSync(file, 'a straggler wrote this much later\n');
  await assert.rejects(cache.ingestFile(file, listed), /changed while it was being stored.*nothing was stored/);
  const left = filesIn(cache.objectsDir);
  assert.deepEqual(
    left.filter((f) => !statSync(join(cache.objectsDir, f)).isDirectory()),
    [],
    `nothing may be stored: ${left.join(', ')}`,
  );
});

test("an out edited in place after the run never reaches the cache; checkout brings the run's content back", async () => {
  const dir = tempProject({
    'pipeline.yaml':
      'stages:\n  make:\n    cmd: mkdir -p out && cp in.txt out/a.txt && cp in.txt one.txt\n    deps: [in.txt]\n    outs: [out, one.txt]\n',
    'in.txt': 'v1\n',
  });
  dirs.push(dir);
  assert.equal((await runGrow(dir, ['run'])).code, 0);
  const cacheDir = join(dir, '.grow', 'cache');
  const before = auditCache(cacheDir);
  assert.deepEqual(before.bad, []);
  assert.deepEqual(before.temps, []);
  // Workspace files are ordinary writable copies, not links into the cache.
  appendFileSync(join(dir, 'out', 'a.txt'), 'edited\n');
  appendFileSync(join(dir, 'one.txt'), 'edited\n');
  const audit = auditCache(cacheDir);
  assert.deepEqual(audit.bad, [], 'every object still matches its hash');
  assert.equal(audit.objects, before.objects);
  assert.equal((await runGrow(dir, ['checkout'])).code, 0);
  assert.equal(readFileSync(join(dir, 'out', 'a.txt'), 'utf8'), 'v1\n');
  assert.equal(readFileSync(join(dir, 'one.txt'), 'utf8'), 'v1\n');
});

test('gc removes the temp of a store killed before it knew the hash, once it is an hour old', async () => {
  const dir = tempProject({
    'pipeline.yaml': 'stages:\n  make:\n    cmd: cp in.txt out.txt\n    deps: [in.txt]\n    outs: [out.txt]\n',
    'in.txt': 'v1\n',
  });
  dirs.push(dir);
  assert.equal((await runGrow(dir, ['run'])).code, 0);
  const objects = join(dir, '.grow', 'cache', 'files', 'md5');
  mkdirSync(objects, { recursive: true });
  const stale = join(objects, `${INCOMING}.tmp-host-1-0011223344556677`);
  const fresh = join(objects, `${INCOMING}.tmp-host-2-0011223344556677`);
  writeFileSync(stale, 'half');
  writeFileSync(fresh, 'being written');
  const old = new Date(Date.now() - 3 * 3600e3);
  utimesSync(stale, old, old);
  assert.equal((await runGrow(dir, ['gc'])).code, 0);
  assert.equal(filesIn(objects).includes(`${INCOMING}.tmp-host-1-0011223344556677`), false, 'the stale temp is removed');
  assert.equal(readFileSync(fresh, 'utf8'), 'being written', 'a recent one may still be written: kept');
  assert.deepEqual(auditCache(join(dir, '.grow', 'cache')).bad, []);
});
