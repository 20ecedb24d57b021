// `kill -9` of the runner at the two moments where a non-atomic write would do damage: while an out
// is being stored in the cache, and while pipeline.lock is being written. The moment is made
// deterministic without touching the runner: strace delays every rename() by 0.4 s (fault
// injection), so each atomic write's temp file sits complete but not yet renamed; the test sees it
// appear and kills the runner right there. The next `grow run` must then complete, and the lock,
// the cache (every object matches its hash) and the state file must be readable and correct.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { parse } from 'yaml';
import { ensureBuilt } from '../helpers/grow-project.ts';
import { auditCache, GROW_BIN, removeProject, runGrow, tempProject, waitFor } from './rig.ts';

const hasStrace = spawnSync('strace', ['-V']).status === 0;
const skip = hasStrace
  ? false
  : 'strace is not installed (apt-get install strace): it injects the delays that make the kill point deterministic';

const dirs: string[] = [];
after(() => dirs.forEach(removeProject));

const PIPELINE = `stages:
  big:
    cmd: echo ran >> runs.log && node -e "const fs=require('fs');fs.mkdirSync('big',{recursive:true});for(let i=0;i<40;i++)fs.writeFileSync('big/f'+i,String(i%10).repeat(200000))"
    deps: [seed.txt]
    outs: [big]
  after:
    cmd: ls big | wc -l > summary.txt
    deps: [big]
    outs: [summary.txt]
`;

/** Runs `grow run` with every rename() delayed by 0.4 s; resolves when the runner is gone. */
function startSlowRenames(dir: string) {
  return startWithDelayed(dir, 'rename,renameat,renameat2');
}

function startWithDelayed(dir: string, syscalls: string) {
  ensureBuilt();
  const child = spawn(
    'strace',
    [
      '-f',
      '-qq',
      '-o',
      '/dev/null',
      '-e',
      `trace=${syscalls}`,
      '-e',
      `inject=${syscalls}:delay_enter=400000`,
      process.execPath,
      GROW_BIN,
      'run',
      '-j',
      '1',
    ],
    {
      cwd: dir,
      env: { ...process.env, GROW_DEV: '', GROW_CACHE_DIR: '', CI: 'true' },
      stdio: 'ignore',
    },
  );
  return new Promise<void>((res) => child.on('close', () => res()));
}

/** Finds a temp file of an atomic write (`<name>.tmp-<host>-<pid>-…`) in `dir`; returns the writer's pid. */
function tempWriterIn(dir: string, prefix: string): number | undefined {
  if (!existsSync(dir)) return undefined;
  for (const f of readdirSync(dir, { recursive: true }).map(String)) {
    const m = f.match(/\.tmp-[^-]+-(\d+)-/);
    if (m && f.split('/').pop()!.startsWith(prefix)) return Number(m[1]);
  }
  return undefined;
}

/**
 * The hash state is optional (a run may have nothing worth remembering), but when present it must
 * parse, and every entry whose stat still matches its file must hold that file's real md5 — and a
 * directory record whose files all match, the real directory hash.
 */
function assertStateFileCorrect(dir: string) {
  const path = join(dir, '.grow/state.json');
  if (!existsSync(path)) return;
  const state = JSON.parse(readFileSync(path, 'utf8')) as { files?: Record<string, unknown[]>; dirs?: Record<string, string[]> };
  const md5 = (data: string | Buffer) => createHash('md5').update(data).digest('hex');
  const same = (abs: string, s: ArrayLike<number>) => {
    const st = statSync(abs);
    return s[0] === st.ino && s[1] === st.mtimeMs && s[2] === st.ctimeMs && s[3] === st.size;
  };
  let checked = 0;
  for (const [rel, e] of Object.entries(state.files ?? {})) {
    if (!existsSync(join(dir, rel)) || !same(join(dir, rel), e as number[])) continue;
    assert.equal(e[4], md5(readFileSync(join(dir, rel))), `state entry of ${rel}`);
    checked++;
  }
  for (const [rel, [names, stats, md5Text, hex]] of Object.entries(state.dirs ?? {})) {
    const list = names === '' ? [] : names.split('\0');
    const nums = new Float64Array(new Uint8Array(Buffer.from(stats, 'base64')).buffer);
    const md5s = Buffer.from(md5Text, 'base64').toString('hex');
    let all = true;
    list.forEach((name, i) => {
      const abs = join(dir, rel, name);
      if (!existsSync(abs) || !same(abs, nums.subarray(i * 4, i * 4 + 4))) {
        all = false;
        return;
      }
      assert.equal(md5s.slice(i * 32, i * 32 + 32), md5(readFileSync(abs)), `state entry of ${rel}/${name}`);
      checked++;
    });
    const manifest = JSON.stringify(list.map((relpath, i) => ({ md5: md5s.slice(i * 32, i * 32 + 32), relpath })));
    if (all) assert.equal(hex, md5(manifest), `directory hash of ${rel}`);
  }
  return checked;
}

async function assertRecovers(dir: string, t: { diagnostic(msg: string): void }) {
  const r = await runGrow(dir, ['run']);
  assert.equal(r.code, 0, r.output);
  const lock = parse(readFileSync(join(dir, 'pipeline.lock'), 'utf8'));
  assert.deepEqual(Object.keys(lock.stages), ['big', 'after']);
  assert.equal(readFileSync(join(dir, 'summary.txt'), 'utf8').trim(), '40');
  assert.equal(readFileSync(join(dir, 'big/f7'), 'utf8'), '7'.repeat(200000));
  const audit = auditCache(join(dir, '.grow/cache'));
  assert.deepEqual(audit.bad, [], 'every cache object matches its hash');
  assert.ok(audit.objects >= 12, `the cache holds the 10 distinct files of big/, its manifest and summary.txt (${audit.objects})`);
  assertStateFileCorrect(dir);
  assert.equal((await runGrow(dir, ['status', '--check'])).code, 0, 'nothing is stale afterwards');
  // The dead runner's temp files in the project are removed when its process lock is taken over
  // (a `pipeline.lock.tmp-…` would show in `git status`); cache temp files are only garbage.
  const leftovers = [...readdirSync(dir), ...readdirSync(join(dir, '.grow'))].filter((f) => f.includes('.tmp-'));
  assert.deepEqual(leftovers, [], 'no temp file of the killed runner is left in the project');
  if (audit.temps.length) t.diagnostic(`temp files left in the cache by the crash: ${audit.temps.join(', ')}`);
}

test('kill -9 while an out is being stored in the cache', { skip }, async (t) => {
  const dir = tempProject({ 'pipeline.yaml': PIPELINE, 'seed.txt': '1\n' });
  dirs.push(dir);
  const done = startSlowRenames(dir);
  const pid = await waitFor('a cache object being written', () => tempWriterIn(join(dir, '.grow/cache/files'), ''));
  process.kill(pid, 'SIGKILL');
  await done;
  assert.equal(existsSync(join(dir, 'pipeline.lock')), false, 'killed before anything was recorded');
  await assertRecovers(dir, t);
});

test('kill -9 while pipeline.lock is being rewritten: the old lock stays intact, the next run continues', { skip }, async (t) => {
  const dir = tempProject({ 'pipeline.yaml': PIPELINE, 'seed.txt': '1\n' });
  dirs.push(dir);
  const done = startSlowRenames(dir);
  // The second lock write (recording `after`), when a lock with `big` already exists.
  const pid = await waitFor('the second lock write', () => existsSync(join(dir, 'pipeline.lock')) && tempWriterIn(dir, 'pipeline.lock'));
  const before = readFileSync(join(dir, 'pipeline.lock'), 'utf8');
  process.kill(pid, 'SIGKILL');
  await done;
  assert.equal(readFileSync(join(dir, 'pipeline.lock'), 'utf8'), before, 'the lock is the complete previous version');
  assert.deepEqual(Object.keys(parse(before).stages), ['big']);
  await assertRecovers(dir, t);
  assert.equal(readFileSync(join(dir, 'runs.log'), 'utf8'), 'ran\n', 'the recorded stage did not run again');
});

test('kill -9 while the hash state file is being written', { skip }, async (t) => {
  const dir = tempProject({ 'pipeline.yaml': PIPELINE, 'seed.txt': '1\n' });
  dirs.push(dir);
  const done = startSlowRenames(dir);
  const pid = await waitFor('a state file write', () => tempWriterIn(join(dir, '.grow'), 'state.json'));
  process.kill(pid, 'SIGKILL');
  await done;
  await assertRecovers(dir, t);
});

test('kill -9 while outs are being restored from the cache: the next run restores them again', { skip }, async (t) => {
  const dir = tempProject({ 'pipeline.yaml': PIPELINE, 'seed.txt': '1\n' });
  dirs.push(dir);
  assert.equal((await runGrow(dir, ['run'])).code, 0);
  const lockBefore = readFileSync(join(dir, 'pipeline.lock'), 'utf8');
  rmSync(join(dir, 'big'), { recursive: true });
  // Restoring copies each file out of the cache (copy_file_range), here 0.4 s per file.
  const done = startWithDelayed(dir, 'copy_file_range,sendfile');
  // A directory out is assembled beside its place (`big.tmp-…`) and renamed in when complete.
  const assembling = () => readdirSync(dir).find((n) => n.startsWith('big.tmp-'));
  await waitFor('a half-restored big/', () => {
    const t = assembling();
    return t !== undefined && readdirSync(join(dir, t)).length >= 1;
  });
  const holder = JSON.parse(readFileSync(join(dir, '.grow/runner.lock'), 'utf8')).pid as number;
  process.kill(holder, 'SIGKILL');
  await done;
  const half = assembling();
  assert.ok(half && readdirSync(join(dir, half)).length < 40, 'the kill came in the middle of the restore');
  assert.equal(existsSync(join(dir, 'big')), false, "nothing half-restored under the out's own name");
  await assertRecovers(dir, t);
  assert.equal(readFileSync(join(dir, 'runs.log'), 'utf8'), 'ran\n', 'restored, never re-run');
  assert.equal(readFileSync(join(dir, 'pipeline.lock'), 'utf8'), lockBefore, 'the lock is byte-identical');
  assert.equal(assembling(), undefined, 'the half-restored temp directory is gone');
});
