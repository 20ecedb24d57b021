// Write, then record; and a full disk is one line. Real ENOSPC from a small tmpfs (mounting needs
// root, so these tests are skipped elsewhere): a failed pipeline.lock write leaves the lock and its
// parsed mirror (.grow/lock.json) as they were, so nothing reports "up to date" for work that was
// not recorded; checkout into a full disk keeps the old out; a push to a full remote leaves no
// temp file there.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { removeProject, runGrow } from './rig.ts';
import { isRoot, nestedProject, type Nest } from './trust-helpers.ts';

const mounts: string[] = [];
const nests: Nest[] = [];
after(() => {
  for (const m of mounts) {
    try {
      execFileSync('umount', [m], { stdio: 'ignore' });
    } catch {
      /* already gone */
    }
  }
  nests.forEach((n) => removeProject(n.base));
});

/** Mounts a tmpfs of `size` at `dir`; false when this machine does not let us (not root, no CAP_SYS_ADMIN). */
function mountTmpfs(dir: string, size: string): boolean {
  if (!isRoot()) return false;
  mkdirSync(dir, { recursive: true });
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'ignore' });
  } catch {
    return false;
  }
  mounts.push(dir);
  return true;
}

/**
 * A project at <base>/disk/proj on a small tmpfs, its `.grow` (state, lock mirror, cache) a link
 * to a directory on the ordinary disk: only what grow writes in the project itself hits ENOSPC.
 */
function projectOnTmpfs(files: Record<string, string>, size = '1m'): (Nest & { disk: string }) | null {
  const n = nestedProject({});
  nests.push(n);
  const disk = join(n.base, 'disk');
  if (!mountTmpfs(disk, size)) return null;
  const proj = join(disk, 'proj');
  mkdirSync(proj);
  for (const [rel, text] of Object.entries(files)) writeFileSync(join(proj, rel), text);
  mkdirSync(join(n.base, 'grow-state'));
  symlinkSync(join(n.base, 'grow-state'), join(proj, '.grow'));
  return { ...n, proj, disk };
}

const fill = (dir: string) => {
  try {
    execFileSync('sh', ['-c', `head -c 64000000 /dev/zero > ${join(dir, 'filler')}`], { stdio: 'ignore' });
  } catch {
    /* ENOSPC is the point */
  }
};

const temps = (dir: string): string[] =>
  existsSync(dir) ? (readdirSync(dir, { recursive: true }) as string[]).map(String).filter((f) => f.includes('.tmp-')) : [];

test('a pipeline.lock write that fails (disk full) records nothing: the lock and .grow/lock.json stay, status says stale', async (t) => {
  const p = projectOnTmpfs({
    'in1.txt': 'a1\n',
    'in2.txt': 'b1\n',
    'pipeline.yaml': `stages:
  one:
    cmd: cp in1.txt o1.txt
    deps: [in1.txt]
    outs: [o1.txt]
  two:
    cmd: cp in2.txt o2.txt && if [ -e ../fill-now ]; then head -c 64000000 /dev/zero > filler 2>/dev/null; true; fi
    deps: [in2.txt, o1.txt]
    outs: [o2.txt]
`,
  });
  if (!p) return t.skip('needs root to mount a tmpfs');
  assert.equal((await runGrow(p.proj, ['run'])).code, 0);
  writeFileSync(join(p.proj, 'in1.txt'), 'a2\n');
  writeFileSync(join(p.proj, 'in2.txt'), 'b2\n');
  writeFileSync(join(p.disk, 'fill-now'), '');
  const r = await runGrow(p.proj, ['run']);
  assert.equal(r.code, 1, r.output);
  assert.match(r.output, /cannot write .*pipeline\.lock: no space left on device \(ENOSPC\)/);
  assert.doesNotMatch(r.output, /\n\s+at /, 'no stack trace');
  const lockAfterFailure = readFileSync(join(p.proj, 'pipeline.lock'), 'utf8');
  assert.match(lockAfterFailure, /one:/);
  assert.equal(temps(p.proj).length, 0, 'no temp file left in the project');
  rmSync(join(p.proj, 'filler'), { force: true });
  rmSync(join(p.disk, 'fill-now'));
  const st = await runGrow(p.proj, ['status', '--check']);
  assert.equal(st.code, 3, `stage two's result was never recorded, so it is stale: ${st.output}`);
  assert.equal(readFileSync(join(p.proj, 'pipeline.lock'), 'utf8'), lockAfterFailure);
  const again = await runGrow(p.proj, ['run']);
  assert.equal(again.code, 0, again.output);
  assert.equal((await runGrow(p.proj, ['status', '--check'])).code, 0);
});

test('a pipeline.lock write refused by permissions (EACCES, non-root) records nothing either', async (t) => {
  if (isRoot()) return t.skip('root ignores permission bits: the tmpfs test above covers this as root');
  const n = nestedProject({
    'in1.txt': 'a1\n',
    'in2.txt': 'b1\n',
    'pipeline.yaml': `stages:
  one:
    cmd: cp in1.txt o1.txt
    deps: [in1.txt]
    outs: [o1.txt]
  two:
    cmd: cp in2.txt o2.txt && if [ -e ../lock-now ]; then chmod a-w "$GROW_ROOT"; fi
    deps: [in2.txt, o1.txt]
    outs: [o2.txt]
`,
  });
  nests.push(n);
  assert.equal((await runGrow(n.proj, ['run'])).code, 0);
  writeFileSync(join(n.proj, 'in1.txt'), 'a2\n');
  writeFileSync(join(n.proj, 'in2.txt'), 'b2\n');
  writeFileSync(join(n.base, 'a', 'lock-now'), '');
  const r = await runGrow(n.proj, ['run']);
  execFileSync('chmod', ['u+w', n.proj]);
  assert.equal(r.code, 1, r.output);
  // The lock write fails first; removing the failed stage's outs then fails the same way.
  assert.match(r.output, /^grow: cannot \w+ .*: permission denied \(EACCES\)$/m);
  assert.doesNotMatch(r.output, /\n\s+at /, 'no stack trace');
  rmSync(join(n.base, 'a', 'lock-now'));
  const st = await runGrow(n.proj, ['status', '--check']);
  assert.equal(st.code, 3, `stage two's result was never recorded, so it is stale: ${st.output}`);
});

test('checkout into a full disk: one line, exit 1, the old out kept, no temp left; it works once there is room', async (t) => {
  const p = projectOnTmpfs(
    {
      'in.txt': 'v1\n',
      'pipeline.yaml': `stages:
  make:
    cmd: mkdir -p out && head -c 300000 /dev/urandom > out/big.bin && cp in.txt out/a.txt
    deps: [in.txt]
    outs: [out]
`,
    },
    '1m',
  );
  if (!p) return t.skip('needs root to mount a tmpfs');
  assert.equal((await runGrow(p.proj, ['run'])).code, 0);
  writeFileSync(join(p.proj, 'out', 'a.txt'), 'edited\n');
  fill(p.proj);
  const r = await runGrow(p.proj, ['checkout']);
  assert.equal(r.code, 1, r.output);
  assert.match(r.stderr, /cannot restore out: cannot \w+ .*: no space left on device \(ENOSPC\)/);
  assert.doesNotMatch(r.output, /\n\s+at /, 'no stack trace');
  assert.equal(readFileSync(join(p.proj, 'out', 'a.txt'), 'utf8'), 'edited\n', 'the old out is as it was');
  assert.deepEqual(temps(p.proj), []);
  rmSync(join(p.proj, 'filler'));
  const ok = await runGrow(p.proj, ['checkout']);
  assert.equal(ok.code, 0, ok.output);
  assert.equal(readFileSync(join(p.proj, 'out', 'a.txt'), 'utf8'), 'v1\n');
});

test('push to a full remote: one line with the path and a hint, exit 1, no temp object left at the remote', async (t) => {
  const n = nestedProject({
    'in.txt': 'v1\n',
    'pipeline.yaml': `stages:
  make:
    cmd: mkdir -p out && for i in 1 2 3 4 5 6; do head -c 200000 /dev/urandom > out/$i.bin; done
    deps: [in.txt]
    outs: [out]
`,
  });
  nests.push(n);
  const remote = join(n.base, 'remote');
  if (!mountTmpfs(remote, '512k')) return t.skip('needs root to mount a tmpfs');
  assert.equal((await runGrow(n.proj, ['run'])).code, 0);
  const r = await runGrow(n.proj, ['push', '--to', remote]);
  assert.equal(r.code, 1, r.output);
  assert.match(r.stderr, /^grow: cannot copy .* to .*remote.*: no space left on device \(ENOSPC\)$/m);
  assert.match(r.stderr, /^hint: free some space/m);
  assert.doesNotMatch(r.output, /\n\s+at /, 'no stack trace');
  assert.deepEqual(temps(remote), [], 'no temp object left at the remote');
});
