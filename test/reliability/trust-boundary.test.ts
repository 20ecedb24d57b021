// Nothing read from pipeline.lock, a cache or a remote may make grow write or delete outside the
// project. Each test plays an attacker who can write a shared cache or a remote (or an unlucky
// user with a damaged lock) against the real CLI; the project lives at <tmp>/a/proj, so the paths
// aimed outside it (<tmp>/a/x, <tmp>/a/victim) stay inside the test's own temp directory.
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { removeProject, runGrow } from './rig.ts';
import { editJson, md5, nestedProject, putManifest, putObject, runEntries, type Nest } from './trust-helpers.ts';

const nests: Nest[] = [];
after(() => nests.forEach((n) => removeProject(n.base)));

const PIPELINE = `stages:
  make:
    cmd: mkdir -p out && cp in.txt out/a.txt && echo ran >> runs.log
    deps: [in.txt]
    outs: [out]
`;

function project(pipeline = PIPELINE): Nest {
  const n = nestedProject({ 'pipeline.yaml': pipeline, 'in.txt': 'v1\n' });
  nests.push(n);
  return n;
}

const runs = (proj: string) =>
  existsSync(join(proj, 'runs.log')) ? readFileSync(join(proj, 'runs.log'), 'utf8').trim().split('\n').length : 0;

/** Points the lock's record of `out` at `hash`. */
function setLockHash(proj: string, hash: string): void {
  const lock = readFileSync(join(proj, 'pipeline.lock'), 'utf8');
  const next = lock.replace(/(path: out, hash: )md5:[0-9a-f]{32}\.dir/, `$1${hash}`);
  assert.notEqual(next, lock, 'the lock records out');
  writeFileSync(join(proj, 'pipeline.lock'), next);
}

test('checkout: a manifest naming ../../x writes nothing outside the project and fails', async () => {
  const { base, proj } = project();
  assert.equal((await runGrow(proj, ['run'])).code, 0);
  const cache = join(proj, '.grow', 'cache');
  const payload = putObject(cache, 'pwned\n');
  setLockHash(proj, putManifest(cache, [{ relpath: '../../x', md5: payload.slice(4) }]));
  rmSync(join(proj, 'out'), { recursive: true });
  const r = await runGrow(proj, ['checkout']);
  assert.equal(r.code, 1, r.output);
  assert.match(r.stderr, /cannot restore out: not in the cache/);
  assert.doesNotMatch(r.output, /\n\s+at /, 'no stack trace');
  assert.equal(existsSync(join(base, 'a', 'x')), false, 'nothing written outside the project');
});

test('checkout: a manifest whose file md5 is ../../victim deletes nothing', async () => {
  const { base, proj } = project();
  assert.equal((await runGrow(proj, ['run'])).code, 0);
  const victim = join(base, 'a', 'victim');
  writeFileSync(victim, 'keep me\n');
  const cache = join(proj, '.grow', 'cache');
  // From <cache>/files/md5, the old object path of this "md5" was <base>/a/victim.
  setLockHash(proj, putManifest(cache, [{ relpath: 'a.txt', md5: '../../../../../victim' }]));
  rmSync(join(proj, 'out'), { recursive: true });
  const r = await runGrow(proj, ['checkout']);
  assert.equal(r.code, 1, r.output);
  assert.equal(readFileSync(victim, 'utf8'), 'keep me\n');
});

test('a poisoned remote: pull skips the bad manifest and exits 1; run then computes the out, writing nothing outside', async () => {
  const attacker = project();
  const remote = join(attacker.base, 'remote');
  assert.equal((await runGrow(attacker.proj, ['run'])).code, 0);
  assert.equal((await runGrow(attacker.proj, ['push', '--to', remote])).code, 0);
  const payload = putObject(remote, 'pwned\n');
  const evil = putManifest(remote, [{ relpath: '../../x', md5: payload.slice(4) }]);
  const [entry] = runEntries(remote);
  editJson(entry, (e) => ({ ...e, outs: (e.outs as { hash: string }[]).map((o) => ({ ...o, hash: evil })) }));

  // The victim: a clone of the same project, nothing run yet.
  const victim = project();
  const pull = await runGrow(victim.proj, ['pull', '--from', remote]);
  assert.equal(pull.code, 1, pull.output);
  assert.match(pull.stdout, /skipped 1 corrupt object/);
  const run = await runGrow(victim.proj, ['run']);
  assert.equal(run.code, 0, run.output);
  assert.equal(runs(victim.proj), 1, 'the stage ran: nothing was restored from the poisoned entry');
  assert.equal(readFileSync(join(victim.proj, 'out', 'a.txt'), 'utf8'), 'v1\n');
  assert.equal(existsSync(join(victim.proj, '..', 'x')), false);
  assert.equal(existsSync(join(victim.base, 'a', 'x')), false);
});

test('a poisoned shared cache used directly: the run-cache entry is a miss, nothing is written outside', async () => {
  const attacker = project();
  const shared = join(attacker.base, 'shared');
  const env = { GROW_CACHE_DIR: shared };
  assert.equal((await runGrow(attacker.proj, ['run'], env)).code, 0);
  const payload = putObject(shared, 'pwned\n');
  const evil = putManifest(shared, [{ relpath: '../../x', md5: payload.slice(4) }]);
  editJson(runEntries(shared)[0], (e) => ({ ...e, outs: (e.outs as { hash: string }[]).map((o) => ({ ...o, hash: evil })) }));

  const victim = project();
  const run = await runGrow(victim.proj, ['run'], env);
  assert.equal(run.code, 0, run.output);
  assert.equal(runs(victim.proj), 1, 'computed, not restored');
  assert.equal(existsSync(join(victim.base, 'a', 'x')), false);
});

test('a run-cache entry whose hash is md5:../../victim is a miss and deletes nothing', async () => {
  const { base, proj } = project();
  const shared = join(base, 'a', 'shared');
  const env = { GROW_CACHE_DIR: shared };
  assert.equal((await runGrow(proj, ['run'], env)).code, 0);
  const [v1Entry] = runEntries(shared);
  writeFileSync(join(proj, 'in.txt'), 'v2\n');
  assert.equal((await runGrow(proj, ['run'], env)).code, 0);
  const victim = join(base, 'a', 'victim');
  writeFileSync(victim, 'keep me\n');
  // <shared>/files/md5/ + '..' + '/../../victim' was <base>/a/victim.
  editJson(v1Entry, (e) => ({ ...e, outs: (e.outs as object[]).map((o) => ({ ...o, hash: 'md5:../../../victim' })) }));
  writeFileSync(join(proj, 'in.txt'), 'v1\n');
  const r = await runGrow(proj, ['run'], env);
  assert.equal(r.code, 0, r.output);
  assert.equal(runs(proj), 3, 'the malformed entry was a miss: the stage ran');
  assert.equal(readFileSync(victim, 'utf8'), 'keep me\n');
});

test('a shared run-cache entry with `hash: 5` is a miss, not a failure', async () => {
  const { base, proj } = project();
  const env = { GROW_CACHE_DIR: join(base, 'shared') };
  assert.equal((await runGrow(proj, ['run'], env)).code, 0);
  editJson(runEntries(join(base, 'shared'))[0], (e) => ({ ...e, outs: (e.outs as object[]).map((o) => ({ ...o, hash: 5 })) }));
  rmSync(join(proj, 'pipeline.lock'));
  rmSync(join(proj, 'out'), { recursive: true });
  const r = await runGrow(proj, ['run'], env);
  assert.equal(r.code, 0, r.output);
  assert.equal(runs(proj), 2);
  assert.equal(readFileSync(join(proj, 'out', 'a.txt'), 'utf8'), 'v1\n');
});

test('a run-cache entry listing one out twice is a miss: both outs are produced', async () => {
  const { base, proj } = project(`stages:
  make:
    cmd: cp in.txt o1.txt && cp in.txt o2.txt && echo ran >> runs.log
    deps: [in.txt]
    outs: [o1.txt, o2.txt]
`);
  const env = { GROW_CACHE_DIR: join(base, 'shared') };
  assert.equal((await runGrow(proj, ['run'], env)).code, 0);
  editJson(runEntries(join(base, 'shared'))[0], (e) => {
    const outs = e.outs as { path: string }[];
    return { ...e, outs: [outs[0], outs[0]] };
  });
  rmSync(join(proj, 'pipeline.lock'));
  rmSync(join(proj, 'o1.txt'));
  rmSync(join(proj, 'o2.txt'));
  const r = await runGrow(proj, ['run'], env);
  assert.equal(r.code, 0, r.output);
  assert.equal(runs(proj), 2);
  assert.ok(existsSync(join(proj, 'o1.txt')) && existsSync(join(proj, 'o2.txt')));
  const again = await runGrow(proj, ['status', '--check'], env);
  assert.equal(again.code, 0, again.output);
});

test('pipeline.lock paths that leave the project, or name the project itself, are a one-line error; nothing is deleted', async () => {
  for (const bad of ['../../victim-dir', '.', '/etc', 'out/../../x']) {
    const { base, proj } = project();
    assert.equal((await runGrow(proj, ['run'])).code, 0);
    mkdirSync(join(base, 'victim-dir'));
    writeFileSync(join(base, 'victim-dir', 'f'), 'keep\n');
    const lock = readFileSync(join(proj, 'pipeline.lock'), 'utf8');
    writeFileSync(join(proj, 'pipeline.lock'), lock.replace('path: out,', `path: ${JSON.stringify(bad)},`));
    for (const cmd of [['checkout'], ['status'], ['run']]) {
      const r = await runGrow(proj, cmd);
      assert.equal(r.code, 2, `${bad} / ${cmd}: ${r.output}`);
      assert.match(
        r.stderr,
        /^grow: pipeline\.lock:\d+:\d+: stage `make`: path .* (leaves the project|is absolute|names the project root|is not a normalised)/m,
      );
      assert.doesNotMatch(r.output, /\n\s+at /, 'no stack trace');
    }
    assert.equal(readFileSync(join(base, 'victim-dir', 'f'), 'utf8'), 'keep\n');
    assert.ok(existsSync(join(proj, 'pipeline.yaml')) && existsSync(join(proj, 'in.txt')), 'the project is intact');
  }
});

test('checkout restores only declared outs: a lock entry for `src` does not replace the sources', async () => {
  const { proj } = project();
  mkdirSync(join(proj, 'src'));
  writeFileSync(join(proj, 'src', 'main.py'), 'print("mine")\n');
  assert.equal((await runGrow(proj, ['run'])).code, 0);
  const lock = readFileSync(join(proj, 'pipeline.lock'), 'utf8');
  const outLine = /- \{path: out, hash: (md5:[0-9a-f]{32}\.dir), size: (\d+), files: 1\}/.exec(lock);
  assert.ok(outLine, lock);
  // A hand-edited (or merged) lock naming `src` with a hash the cache holds.
  writeFileSync(
    join(proj, 'pipeline.lock'),
    lock.replace(outLine[0], `${outLine[0]}\n      - {path: src, hash: ${outLine[1]}, size: ${outLine[2]}, files: 1}`),
  );
  rmSync(join(proj, 'out'), { recursive: true });
  const r = await runGrow(proj, ['checkout']);
  assert.equal(r.code, 0, r.output);
  assert.equal(readFileSync(join(proj, 'src', 'main.py'), 'utf8'), 'print("mine")\n');
  assert.equal(readFileSync(join(proj, 'out', 'a.txt'), 'utf8'), 'v1\n');
});

test('checkout through a symlinked parent that leads outside writes nothing there', async () => {
  const { base, proj } = project(`stages:
  make:
    cmd: mkdir -p gen/out && cp in.txt gen/out/a.txt
    deps: [in.txt]
    outs: [gen/out]
`);
  assert.equal((await runGrow(proj, ['run'])).code, 0);
  // `gen` becomes a link to a directory outside the project.
  rmSync(join(proj, 'gen'), { recursive: true });
  mkdirSync(join(base, 'elsewhere'));
  const { symlinkSync } = await import('node:fs');
  symlinkSync(join(base, 'elsewhere'), join(proj, 'gen'));
  const r = await runGrow(proj, ['checkout']);
  // Refused when the pipeline is loaded (exit 2) or when the out is restored (exit 1): either way
  // one line naming the out, and nothing written.
  assert.ok(r.code === 1 || r.code === 2, r.output);
  assert.match(r.stderr, /gen\/out.*outside the project/);
  assert.doesNotMatch(r.output, /\n\s+at /, 'no stack trace');
  assert.equal(existsSync(join(base, 'elsewhere', 'out')), false);
});

test('corrupt .grow/lock.json entries of the right md5 are a miss: status and run work, the out stays', async () => {
  const { proj } = project();
  assert.equal((await runGrow(proj, ['run'])).code, 0);
  const cachePath = join(proj, '.grow', 'lock.json');
  const c = JSON.parse(readFileSync(cachePath, 'utf8')) as { md5: string; stages: [string, unknown][] };
  writeFileSync(
    cachePath,
    JSON.stringify({ md5: c.md5, stages: [['make', { cmd: 'x', deps: 5, outs: [{ path: '../../x', hash: 'md5:zz' }] }]] }),
  );
  const status = await runGrow(proj, ['status', '--check']);
  assert.equal(status.code, 0, status.output);
  const run = await runGrow(proj, ['run']);
  assert.equal(run.code, 0, run.output);
  assert.equal(runs(proj), 1, 'still up to date');
  assert.equal(readFileSync(join(proj, 'out', 'a.txt'), 'utf8'), 'v1\n');
});

test('corrupt .grow/state.json entries are ignored: status is right and run keeps the out', async () => {
  const { proj } = project();
  assert.equal((await runGrow(proj, ['run'])).code, 0);
  // A second look records what the run found racily new (see src/pipeline/store/hash-state.ts).
  assert.equal((await runGrow(proj, ['status', '--check'])).code, 0);
  const statePath = join(proj, '.grow', 'state.json');
  const s = JSON.parse(readFileSync(statePath, 'utf8')) as {
    version: number;
    files: Record<string, unknown[]>;
    dirs: Record<string, unknown[]>;
  };
  // The right stats (so the entries would be used) with md5s of the wrong shape.
  const bad: unknown[] = [5, { x: 1 }, 'not-an-md5', md5('nope').toUpperCase()];
  assert.ok(Object.keys(s.files).includes('in.txt'), 'the state remembers the dep');
  assert.ok(Object.keys(s.dirs).includes('out'), 'the state remembers the out directory');
  const entries = (which: 'files' | 'dirs') => Object.entries(s[which]);
  for (const [k, e] of entries('files')) s.files[k] = [...e.slice(0, 4), bad[k.length % bad.length]];
  // A directory record: its directory hash of the wrong shape, stats or md5s too short for its
  // listing, a listing longer than its stats.
  const [k, e] = entries('dirs')[0];
  for (const dirBad of [
    [e[0], e[1], e[2], 'not-an-md5'],
    [e[0], e[1], e[2], md5('nope').toUpperCase()],
    [e[0], `${e[1]}`.slice(0, -8), e[2], e[3]],
    [e[0], e[1], `${e[2]}`.slice(0, -8), e[3]],
    [e[0], 5, e[2], e[3]],
    [`${e[0]}\u0000extra`, e[1], e[2], e[3]],
  ]) {
    s.dirs[k] = dirBad;
    writeFileSync(statePath, JSON.stringify(s));
    const status = await runGrow(proj, ['status', '--check']);
    assert.equal(status.code, 0, status.output);
  }
  writeFileSync(statePath, JSON.stringify(s));
  const status = await runGrow(proj, ['status', '--check']);
  assert.equal(status.code, 0, status.output);
  const run = await runGrow(proj, ['run']);
  assert.equal(run.code, 0, run.output);
  assert.equal(runs(proj), 1);
  assert.equal(readFileSync(join(proj, 'out', 'a.txt'), 'utf8'), 'v1\n');
});

test('a copied project (cpSync) keeps working: containment follows the real root', async () => {
  const { base, proj } = project();
  assert.equal((await runGrow(proj, ['run'])).code, 0);
  const copy = join(base, 'a', 'copy');
  cpSync(proj, copy, { recursive: true });
  rmSync(join(copy, 'out'), { recursive: true });
  const r = await runGrow(copy, ['checkout']);
  assert.equal(r.code, 0, r.output);
  assert.equal(readFileSync(join(copy, 'out', 'a.txt'), 'utf8'), 'v1\n');
});

test('push into a remote whose fan-out directories are links to elsewhere writes nothing there', async () => {
  const { base, proj } = project();
  assert.equal((await runGrow(proj, ['run'])).code, 0);
  const remote = join(base, 'remote');
  const victimDir = join(base, 'a', 'victim-dir');
  mkdirSync(victimDir, { recursive: true });
  mkdirSync(join(remote, 'files', 'md5'), { recursive: true });
  for (const sub of readdirSync(join(proj, '.grow', 'cache', 'files', 'md5'))) symlinkSync(victimDir, join(remote, 'files', 'md5', sub));
  const r = await runGrow(proj, ['push', '--to', remote]);
  assert.equal(r.code, 1, r.output);
  assert.match(r.stderr, /leads outside .*remote through a symbolic link; refusing to write there/);
  assert.doesNotMatch(r.output, /\n\s+at /, 'no stack trace');
  assert.deepEqual(readdirSync(victimDir), []);
});

test('a shared cache whose fan-out directory is a link to elsewhere: the stage fails, nothing is written there', async () => {
  const { base, proj } = project();
  const shared = join(base, 'shared');
  const victimDir = join(base, 'a', 'victim-dir');
  mkdirSync(victimDir, { recursive: true });
  mkdirSync(join(shared, 'files', 'md5'), { recursive: true });
  // The object of out/a.txt ('v1\n') would go to <shared>/files/md5/<first two hex>.
  symlinkSync(victimDir, join(shared, 'files', 'md5', md5('v1\n').slice(0, 2)));
  const r = await runGrow(proj, ['run'], { GROW_CACHE_DIR: shared });
  assert.equal(r.code, 1, r.output);
  assert.match(r.output, /leads outside .*shared through a symbolic link; refusing to write there/);
  assert.deepEqual(readdirSync(victimDir), []);
});
