/**
 * The cache and run-cache: returning to an old configuration restores instead of re-running;
 * -f and --no-run-cache bypass it; a corrupt object is detected; checkout and gc.
 */
import assert from 'node:assert/strict';
import { chmodSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { record, TestProject } from '../helpers/grow-project.ts';

const projects: TestProject[] = [];
after(() => projects.forEach((p) => p.cleanup()));

function project(): TestProject {
  const p = new TestProject({
    'params.yaml': 'lr: 1\n',
    'pipeline.yaml': `stages:
  train:
    cmd: ${record} && echo "lr=$(grep lr params.yaml)" > model.txt && mkdir -p ckpt && echo w > ckpt/w.bin
    params: [lr]
    outs: [model.txt, ckpt]
`,
  });
  projects.push(p);
  return p;
}

function objectFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true })
    .map(String)
    .filter((f) => statSync(join(dir, f)).isFile());
}

test('returning to old params restores outs from the run-cache without running the command', async () => {
  const p = project();
  await p.ok(['run']);
  const lockAt1 = p.lockText();
  p.write('params.yaml', 'lr: 2\n');
  await p.ok(['run']);
  assert.equal(p.read('model.txt'), 'lr=lr: 2\n');
  p.calls();
  p.write('params.yaml', 'lr: 1\n');
  const r = await p.ok(['run']);
  assert.deepEqual(p.calls(), [], 'the command did not run');
  assert.match(r.stdout, /train: restored/);
  assert.equal(p.read('model.txt'), 'lr=lr: 1\n');
  assert.equal(p.read('ckpt/w.bin'), 'w\n');
  assert.equal(p.lockText(), lockAt1);
  // Restored files are ordinary writable copies: writing to one cannot touch the cache.
  writeFileSync(p.path('model.txt'), 'scribble');
  p.remove('model.txt');
  await p.ok(['run']);
  assert.deepEqual(p.calls(), []);
  assert.equal(p.read('model.txt'), 'lr=lr: 1\n');
});

test('-f and --no-run-cache bypass the run-cache', async () => {
  const p = project();
  await p.ok(['run']);
  p.write('params.yaml', 'lr: 2\n');
  await p.ok(['run']);
  p.write('params.yaml', 'lr: 1\n');
  p.calls();
  await p.ok(['run', '--no-run-cache']);
  assert.deepEqual(p.calls(), ['train']);
  await p.ok(['run', '-f']);
  assert.deepEqual(p.calls(), ['train']);
});

test('a corrupt cache object is detected and the stage re-runs', async () => {
  const p = project();
  await p.ok(['run']);
  p.write('params.yaml', 'lr: 2\n');
  await p.ok(['run']);
  p.calls();
  // Corrupt every object (they are read-only on purpose; a disk error does not ask).
  const objects = p.path('.grow/cache/files/md5');
  for (const f of objectFiles(objects)) {
    chmodSync(join(objects, f), 0o644);
    writeFileSync(join(objects, f), 'garbage');
  }
  p.write('params.yaml', 'lr: 1\n');
  await p.ok(['run']);
  assert.deepEqual(p.calls(), ['train']);
  assert.equal(p.read('model.txt'), 'lr=lr: 1\n');
});

test('cache objects are read-only and laid out as files/md5/<2>/<30>', async () => {
  const p = project();
  await p.ok(['run']);
  const lock = p.lock();
  const h = lock.stages.train.outs!.find((o) => o.path === 'model.txt')!.hash.slice(4);
  const obj = p.path(`.grow/cache/files/md5/${h.slice(0, 2)}/${h.slice(2)}`);
  assert.equal(statSync(obj).mode & 0o777, 0o444);
  const dirHash = lock.stages.train.outs!.find((o) => o.path === 'ckpt')!.hash.slice(4);
  assert.ok(p.exists(`.grow/cache/files/md5/${dirHash.slice(0, 2)}/${dirHash.slice(2)}`));
});

test('checkout restores the outs recorded in the lock', async () => {
  const p = project();
  await p.ok(['run']);
  p.remove('model.txt');
  p.remove('ckpt');
  const r = await p.ok(['checkout']);
  assert.match(r.stdout, /restored model\.txt/);
  assert.equal(p.read('model.txt'), 'lr=lr: 1\n');
  assert.equal(p.read('ckpt/w.bin'), 'w\n');
  await p.ok(['status', '--check']);
  assert.deepEqual(p.calls(), ['train']);
});

test('gc removes objects that neither the lock nor a kept run-cache entry references', async () => {
  const p = project();
  await p.ok(['run', '--name', 'lr1']);
  p.write('params.yaml', 'lr: 2\n');
  await p.ok(['run']);
  // A recorded experiment keeps its objects too: drop the lr=1 one (its lock is not current).
  await p.ok(['exp', 'remove', 'lr1']);
  const objects = p.path('.grow/cache/files/md5');
  const before = objectFiles(objects).length;
  // Default policy keeps the lr=1 run-cache entry, so its objects stay.
  await p.ok(['gc']);
  assert.equal(objectFiles(objects).length, before);
  const r = await p.ok(['gc', '--keep-runs', '0']);
  assert.match(r.stdout, /removed 1 objects .* and 2 run-cache entries/);
  assert.equal(objectFiles(objects).length, before - 1);
  // The lock's outs are still restorable.
  p.remove('model.txt');
  await p.ok(['checkout']);
  assert.equal(p.read('model.txt'), 'lr=lr: 2\n');
  await p.ok(['gc', '--max-size', 'lots'], 2);
});

test('GROW_CACHE_DIR and cache.dir in .growrc.yaml move the cache', async () => {
  const p = project();
  p.write('.growrc.yaml', 'cache:\n  dir: ../shared-cache-' + process.pid + '\n');
  await p.ok(['run']);
  assert.ok(objectFiles(join(p.dir, '..', `shared-cache-${process.pid}`, 'files')).length > 0);
  p.remove(`../shared-cache-${process.pid}`);
  const env = { GROW_CACHE_DIR: join(p.dir, 'envcache') };
  p.write('params.yaml', 'lr: 3\n');
  await p.ok(['run'], 0, env);
  assert.ok(p.exists('envcache/runs'));
});

test("gc on a shared cache warns that other clones' objects may go and needs --force", async () => {
  const a = project();
  const b = project();
  const shared = join(a.dir, '..', `grow-shared-gc-${process.pid}`);
  projects.push({ cleanup: () => rmSync(shared, { recursive: true, force: true }) } as TestProject);
  const env = { GROW_CACHE_DIR: shared };
  await a.ok(['run'], 0, env);
  b.write('params.yaml', 'lr: 2\n');
  await b.ok(['run'], 0, env);
  const before = objectFiles(join(shared, 'files')).sort();

  const refused = await a.ok(['gc', '--keep-runs', '0'], 2, env);
  assert.match(
    refused.stderr,
    /warning: the cache .* is shared \(set by GROW_CACHE_DIR\).* objects other clones still need may be removed/,
  );
  assert.match(refused.stderr, /refusing .* without --force/);
  assert.deepEqual(objectFiles(join(shared, 'files')).sort(), before, 'nothing removed');
  const dry = await a.ok(['gc', '--keep-runs', '0', '--dry'], 0, env);
  assert.match(dry.stderr, /warning: the cache .* is shared/);
  assert.match(dry.stdout, /would remove 1 objects/);
  assert.deepEqual(objectFiles(join(shared, 'files')).sort(), before);

  // With --force it goes ahead, and B's result (lr: 2) is indeed gone from the shared cache.
  const forced = await a.ok(['gc', '--keep-runs', '0', '-f'], 0, env);
  assert.match(forced.stdout, /removed 1 objects/);
  b.remove('model.txt');
  await b.ok(['checkout'], 1, env);

  // A cache.dir outside the project counts as shared too; the project's own cache does not.
  const c = project();
  c.write('.growrc.yaml', `cache:\n  dir: ../grow-shared-gc2-${process.pid}\n`);
  projects.push({
    cleanup: () => rmSync(join(c.dir, '..', `grow-shared-gc2-${process.pid}`), { recursive: true, force: true }),
  } as TestProject);
  await c.ok(['run']);
  assert.match((await c.ok(['gc'], 2)).stderr, /is shared \(cache.dir lies outside the project\)/);
  const own = project();
  await own.ok(['run']);
  assert.doesNotMatch((await own.ok(['gc'])).stderr, /warning/);
});

test('restored files are copies: a different inode from the cache object, writable, and editing one leaves the object intact', async () => {
  const p = project();
  await p.ok(['run']);
  const h = p
    .lock()
    .stages.train.outs!.find((o) => o.path === 'model.txt')!
    .hash.slice(4);
  const obj = p.path(`.grow/cache/files/md5/${h.slice(0, 2)}/${h.slice(2)}`);
  p.remove('model.txt');
  await p.ok(['checkout']);
  assert.notEqual(statSync(p.path('model.txt')).ino, statSync(obj).ino);
  writeFileSync(p.path('model.txt'), 'edited');
  assert.equal((await import('node:fs')).readFileSync(obj, 'utf8'), 'lr=lr: 1\n');
});

test('outs with cache: false are recorded but never cached, so the stage is not restored from the run-cache', async () => {
  const p = new TestProject({
    'params.yaml': 'v: 1\n',
    'pipeline.yaml': `stages:
  s:
    cmd: ${record} && grep v params.yaml > o.txt
    params: [v]
    outs:
      - o.txt:
          cache: false
`,
  });
  projects.push(p);
  await p.ok(['run']);
  assert.match(p.lock().stages.s.outs![0].hash, /^md5:/);
  assert.equal(p.exists('.grow/cache/files'), false);
  p.write('params.yaml', 'v: 2\n');
  await p.ok(['run']);
  p.write('params.yaml', 'v: 1\n');
  p.calls();
  await p.ok(['run']);
  assert.deepEqual(p.calls(), ['s']);
});

test('always_changed stages run every time and are never restored', async () => {
  const p = new TestProject({
    'pipeline.yaml': `stages:\n  clock:\n    cmd: ${record} && date +%s%N > now.txt\n    outs: [now.txt]\n    always_changed: true\n`,
  });
  projects.push(p);
  await p.ok(['run']);
  await p.ok(['run']);
  assert.deepEqual(p.calls(), ['clock', 'clock']);
});

test('a stage with resume checkpoints (persist, cache: false) is still restored from the run-cache', async () => {
  // The experiment's training stages: the model is the result, the checkpoint directory scratch
  // state that the finished stage leaves empty. Returning to old params must not retrain.
  const p = new TestProject({
    'params.yaml': 'lr: 1\n',
    'pipeline.yaml': `stages:
  train:
    cmd: ${record} && mkdir -p ckpt && echo "lr=$(grep lr params.yaml)" > model.txt
    params: [lr]
    outs:
      - model.txt
      - ckpt: {persist: true, cache: false}
`,
  });
  projects.push(p);
  await p.ok(['run']);
  p.write('params.yaml', 'lr: 2\n');
  await p.ok(['run']);
  p.calls();
  p.write('params.yaml', 'lr: 1\n');
  rmSync(p.path('ckpt'), { recursive: true });
  const r = await p.ok(['run']);
  assert.deepEqual(p.calls(), [], 'the command did not run');
  assert.match(r.stdout, /train: restored/);
  assert.equal(p.read('model.txt'), 'lr=lr: 1\n');
  assert.ok(statSync(p.path('ckpt')).isDirectory(), 'the empty checkpoint directory is recreated');
  await p.ok(['run']);
  assert.deepEqual(p.calls(), [], 'and the stage is up to date afterwards');

  // A checkpoint directory that was not empty when recorded cannot be recreated: the stage runs.
  p.write('pipeline.yaml', p.read('pipeline.yaml').replace('mkdir -p ckpt &&', 'mkdir -p ckpt && echo s > ckpt/step &&'));
  p.write('params.yaml', 'lr: 3\n');
  await p.ok(['run']);
  p.write('params.yaml', 'lr: 4\n');
  await p.ok(['run']);
  p.calls();
  p.write('params.yaml', 'lr: 3\n');
  rmSync(p.path('ckpt'), { recursive: true });
  await p.ok(['run']);
  assert.deepEqual(p.calls(), ['train']);
});
