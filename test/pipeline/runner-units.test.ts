/**
 * Unit tests of the runner's pure pieces: status reasons, the ::progress protocol, the lock's
 * canonical serialization and validation, the run-cache signature, gc's size/age parsing, and
 * when a stage's process group counts as alive.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseAge, parseSize } from '../../src/pipeline/store/gc.ts';
import type { HashInfo } from '../../src/pipeline/store/hash.ts';
import { parseLock, serializeLock, type LockEntry } from '../../src/pipeline/store/lockfile.ts';
import { parseProgressLine, ProgressTracker } from '../../src/pipeline/run/progress.ts';
import { runSignature } from '../../src/pipeline/store/run-cache.ts';
import { staleReasons, type StageFacts } from '../../src/pipeline/plan/stale-reasons.ts';
import type { Stage } from '../../src/pipeline/types.ts';
import { ConfigError } from '../../src/pipeline/errors.ts';

const H = (c: string) => `md5:${c.repeat(32)}`;
const info = (hash: string): HashInfo => ({ hash, size: 1 });

const stage: Stage = {
  name: 'train',
  cmd: ['python train.py'],
  wdir: '.',
  deps: ['data', 'train.py'],
  params: [{ file: 'params.yaml', keys: ['lr'] }],
  outs: [{ path: 'model', cache: true, persist: false, kind: 'out' }],
  alwaysChanged: false,
  frozen: false,
  interruptible: false,
};

const entry: LockEntry = {
  cmd: ['python train.py'],
  deps: [
    { path: 'data', hash: `${H('a')}.dir`, files: 2 },
    { path: 'train.py', hash: H('b') },
  ],
  params: { 'params.yaml': { lr: 0.1 } },
  outs: [{ path: 'model', hash: H('c'), size: 10 }],
};

function facts(over: Partial<StageFacts> = {}): StageFacts {
  return {
    cmd: ['python train.py'],
    deps: new Map([
      ['data', info(`${H('a')}.dir`)],
      ['train.py', info(H('b'))],
    ]),
    params: { 'params.yaml': { lr: 0.1 } },
    outs: new Map([['model', info(H('c'))]]),
    ...over,
  };
}

test('status: nothing changed → no reasons; each kind of change gives its reason', () => {
  assert.deepEqual(staleReasons(stage, entry, facts()), []);
  assert.deepEqual(staleReasons(stage, undefined, facts()), ['never run']);
  assert.deepEqual(staleReasons(stage, entry, facts({ cmd: ['python train.py --fast'] })), ['cmd changed']);
  assert.deepEqual(
    staleReasons(
      stage,
      entry,
      facts({
        deps: new Map([
          ['data', info(`${H('d')}.dir`)],
          ['train.py', info(H('b'))],
        ]),
      }),
    ),
    ['dep data changed'],
  );
  assert.deepEqual(staleReasons(stage, entry, facts({ deps: new Map([['data', info(`${H('a')}.dir`)]]) })), ['dep train.py removed']);
  assert.deepEqual(
    staleReasons(
      stage,
      entry,
      facts({
        deps: new Map([
          ['data', null],
          ['train.py', info(H('b'))],
        ]),
      }),
    ),
    ['dep data missing'],
  );
  assert.deepEqual(staleReasons(stage, entry, facts({ params: { 'params.yaml': { lr: 0.2 } } })), [
    'param params.yaml:lr changed: 0.1 → 0.2',
  ]);
  assert.deepEqual(staleReasons(stage, entry, facts({ params: { 'params.yaml': { lr: 0.1, wd: 0 } } })), ['param params.yaml:wd added']);
  assert.deepEqual(staleReasons(stage, entry, facts({ outs: new Map([['model', null]]) })), ['out model missing']);
  assert.deepEqual(staleReasons(stage, entry, facts({ outs: new Map([['model', info(H('e'))]]) })), ['out model modified']);
  assert.deepEqual(staleReasons({ ...stage, alwaysChanged: true }, entry, facts()), ['always_changed']);
});

test('status: params compare by value, whatever the key order of nested values', () => {
  const e = { ...entry, params: { 'params.yaml': { lr: { a: 1, b: [1, 2] } } } };
  assert.deepEqual(staleReasons(stage, e, facts({ params: { 'params.yaml': { lr: { b: [1, 2], a: 1 } } } })), []);
  assert.deepEqual(staleReasons(stage, e, facts({ params: { 'params.yaml': { lr: { b: [2, 1], a: 1 } } } })), [
    'param params.yaml:lr.b changed: [1,2] → [2,1]',
  ]);
  // Inside a listed mapping: each key that changed, added or removed, by its own dotted name.
  assert.deepEqual(staleReasons(stage, e, facts({ params: { 'params.yaml': { lr: { a: 2, c: { d: 1 } } } } })), [
    'param params.yaml:lr.a changed: 1 → 2',
    'param params.yaml:lr.b changed: [1,2] → (none)',
    'param params.yaml:lr.c changed: (none) → {"d":1}',
  ]);
});

test('::progress lines parse into current/total and values; other lines are ignored', () => {
  assert.deepEqual(parseProgressLine('::progress current=120 total=600 loss=3.21 phase=warmup'), {
    current: 120,
    total: 600,
    values: { loss: '3.21', phase: 'warmup' },
  });
  assert.equal(parseProgressLine('progress current=1'), null);
  assert.equal(parseProgressLine('::progressive current=1'), null);
  let now = 0;
  const t = new ProgressTracker(() => now);
  t.update({ current: 0, total: 100, values: {} });
  now = 10_000;
  t.update({ current: 50, values: { loss: '1.5' } });
  assert.equal(t.fraction(), 0.5);
  assert.equal(t.etaSeconds(), 10);
  assert.match(t.render(10), /^\[#####-----\] 50% 50\/100 ETA 10\.0s loss=1\.5$/);
});

test('lock: canonical serialization (sorted deps/outs/params keys, flow items) round-trips byte-identically', () => {
  const messy: LockEntry = {
    cmd: ['a', 'b'],
    deps: [
      { path: 'z', hash: H('1') },
      { path: 'a', hash: `${H('2')}.dir`, files: 3 },
    ],
    params: { 'p.yaml': { y: 2, x: { k: 1 } } },
    outs: [{ path: 'out', hash: H('3'), size: 5 }],
  };
  const text = serializeLock(new Map([['s@1', messy]]));
  assert.equal(
    text,
    `schema: 1
stages:
  s@1:
    cmd:
      - a
      - b
    deps:
      - {path: a, hash: ${H('2')}.dir, files: 3}
      - {path: z, hash: ${H('1')}}
    params:
      p.yaml: {x: {k: 1}, y: 2}
    outs:
      - {path: out, hash: ${H('3')}, size: 5}
`,
  );
  assert.equal(serializeLock(parseLock(text)), text);
});

test('lock: a hand-edited lock is a ConfigError at the offending line:col, naming the stage', () => {
  const text = serializeLock(new Map([['train', entry]]));
  const bad = text.replace('size: 10', 'size: ten');
  assert.throws(
    () => parseLock(bad),
    (e: unknown) =>
      e instanceof ConfigError &&
      /pipeline\.lock:\d+:\d+: stage `train`: `size` of `model`/.test(e.message) &&
      /delete the `train` entry/.test(e.hint ?? ''),
  );
  assert.throws(() => parseLock('schema: 7\nstages: {}\n'), /unsupported lock schema 7/);
  assert.throws(() => parseLock('schema: 1\nstages:\n  a: [1\n'), /pipeline\.lock:\d+:\d+: invalid YAML/);
});

test('run-cache signature ignores dep and params key order but not values', () => {
  const a = runSignature({
    cmd: ['x'],
    deps: [
      { path: 'a', hash: H('1') },
      { path: 'b', hash: H('2') },
    ],
    params: { p: { x: 1, y: 2 } },
    outPaths: ['o', 'p'],
  });
  const b = runSignature({
    cmd: ['x'],
    deps: [
      { path: 'b', hash: H('2') },
      { path: 'a', hash: H('1') },
    ],
    params: { p: { y: 2, x: 1 } },
    outPaths: ['p', 'o'],
  });
  const c = runSignature({
    cmd: ['x'],
    deps: [
      { path: 'a', hash: H('1') },
      { path: 'b', hash: H('2') },
    ],
    params: { p: { x: 1, y: 3 } },
    outPaths: ['o', 'p'],
  });
  assert.equal(a, b);
  assert.notEqual(a, c);
});

test('gc sizes and ages', () => {
  assert.equal(parseSize('2G'), 2 * 1024 ** 3);
  assert.equal(parseSize('500M'), 500 * 1024 ** 2);
  assert.equal(parseSize('1024'), 1024);
  assert.equal(parseSize('lots'), null);
  assert.equal(parseAge('30d'), 30 * 86400e3);
  assert.equal(parseAge('12h'), 12 * 3600e3);
  assert.equal(parseAge('soon'), null);
});

test('hash state: remembers a file by (inode, mtime, size) unless it was racily clean when looked at', async () => {
  const { mkdtempSync, writeFileSync, statSync, rmSync, utimesSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { HashState } = await import('../../src/pipeline/store/hash-state.ts');
  const root = mkdtempSync(join(tmpdir(), 'grow-state-'));
  try {
    writeFileSync(join(root, 'f'), 'x');
    const st = statSync(join(root, 'f'));
    const state = new HashState(root);
    state.record('f', st, 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', st.mtimeMs + 10); // looked at 10 ms after the last write: racy
    assert.equal(state.lookup('f', st), undefined);
    state.record('f', st, 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa', st.mtimeMs + 5000);
    assert.equal(state.lookup('f', st), 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa');
    state.save();
    assert.equal(new HashState(root).lookup('f', st), 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa');
    utimesSync(join(root, 'f'), new Date(), new Date(st.mtimeMs + 1));
    assert.equal(new HashState(root).lookup('f', statSync(join(root, 'f'))), undefined, 'a new mtime invalidates');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('config: .growrc.yaml, then .grow/config.yaml, then GROW_CACHE_DIR; bad values are ConfigErrors', async () => {
  const { mkdtempSync, mkdirSync, writeFileSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { loadConfig } = await import('../../src/pipeline/project/config.ts');
  const root = mkdtempSync(join(tmpdir(), 'grow-config-'));
  try {
    assert.deepEqual(loadConfig(root, {}), { cacheDir: join(root, '.grow', 'cache'), executor: 'local' });
    writeFileSync(join(root, '.growrc.yaml'), 'cache:\n  dir: shared\nexecutor: slurm\njobs: 3\n');
    assert.deepEqual(loadConfig(root, {}), { cacheDir: join(root, 'shared'), executor: 'slurm', jobs: 3 });
    mkdirSync(join(root, '.grow'));
    writeFileSync(join(root, '.grow', 'config.yaml'), 'cache: {dir: /abs/cache}\nexecutor: local\n');
    assert.deepEqual(loadConfig(root, {}), { cacheDir: '/abs/cache', executor: 'local', jobs: 3 });
    assert.equal(loadConfig(root, { GROW_CACHE_DIR: '/from/env' }).cacheDir, '/from/env');
    writeFileSync(join(root, '.grow', 'config.yaml'), 'executor: kubernetes\n');
    assert.throws(() => loadConfig(root, {}), /\.grow\/config\.yaml: `executor` must be `local` or `slurm`/);
    writeFileSync(join(root, '.grow', 'config.yaml'), 'jobs: [1\n');
    assert.throws(() => loadConfig(root, {}), /\.grow\/config\.yaml:\d+:\d+/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('executor choice: the stage, else --executor, else the config', async () => {
  const { ExecutorPool } = await import('../../src/pipeline/run/executors/index.ts');
  assert.equal(new ExecutorPool('/x', undefined, 'local').nameFor(stage), 'local');
  assert.equal(new ExecutorPool('/x', undefined, 'slurm').nameFor(stage), 'slurm');
  assert.equal(new ExecutorPool('/x', 'local', 'slurm').nameFor(stage), 'local');
  assert.equal(new ExecutorPool('/x', 'local', 'slurm').nameFor({ ...stage, executor: 'slurm' }), 'slurm');
});

test('hash state: prune forgets paths this process never looked up', async () => {
  const { mkdtempSync, writeFileSync, statSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { HashState } = await import('../../src/pipeline/store/hash-state.ts');
  const root = mkdtempSync(join(tmpdir(), 'grow-state-'));
  try {
    writeFileSync(join(root, 'a'), 'a');
    writeFileSync(join(root, 'b'), 'b');
    const [sa, sb] = [statSync(join(root, 'a')), statSync(join(root, 'b'))];
    const first = new HashState(root);
    first.record('a', sa, '11111111111111111111111111111111', sa.mtimeMs + 5000);
    first.record('b', sb, '22222222222222222222222222222222', sb.mtimeMs + 5000);
    first.save();
    const second = new HashState(root);
    assert.equal(second.lookup('a', sa), '11111111111111111111111111111111');
    second.prune();
    second.save();
    const third = new HashState(root);
    assert.equal(third.lookup('a', sa), '11111111111111111111111111111111');
    assert.equal(third.lookup('b', sb), undefined);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('process groups: a group whose processes all exited is not alive, even while one lingers as a zombie', {
  skip: process.platform !== 'linux',
}, async () => {
  const { spawn } = await import('node:child_process');
  const { readFileSync } = await import('node:fs');
  const { groupAlive } = await import('../../src/pipeline/run/process-group.ts');
  // `true &` exits at once; sh then becomes `sleep`, which never reaps it: a zombie in the group.
  const child = spawn('sh', ['-c', 'true & echo $!; exec sleep 30'], { detached: true, stdio: ['ignore', 'pipe', 'ignore'] });
  const zombiePid = await new Promise<number>((resolve) => child.stdout!.once('data', (d: Buffer) => resolve(Number(String(d).trim()))));
  const state = () => {
    try {
      return readFileSync(`/proc/${zombiePid}/stat`, 'utf8').replace(/^.*\) /s, '')[0];
    } catch {
      return 'gone';
    }
  };
  while (state() !== 'Z' && state() !== 'gone') await new Promise((r) => setTimeout(r, 10));
  assert.equal(groupAlive(child.pid!), true, 'sleep still runs');
  const exited = new Promise((r) => child.once('exit', r));
  process.kill(-child.pid!, 'SIGKILL');
  await exited;
  // The zombie is reparented; where pid 1 does not reap it, it stays in the group for good.
  assert.equal(groupAlive(child.pid!), false);
});
