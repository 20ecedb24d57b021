// Faults found while running: a corrupt cache object is detected and never restored (the stage
// re-runs); a missing out and a command that is not found fail the stage with exit 1 and a clear
// message, and leave the lock as it was.
import assert from 'node:assert/strict';
import { chmodSync, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { auditCache, removeProject, runGrow, tempProject } from './rig.ts';

const dirs: string[] = [];
after(() => dirs.forEach(removeProject));

const PIPELINE = `stages:
  make:
    cmd: echo ran >> runs.log && mkdir -p out && cat in.txt > out/a.txt && cat in.txt > single.txt
    deps: [in.txt]
    outs: [out, single.txt]
`;

function project(pipeline = PIPELINE): string {
  const dir = tempProject({ 'pipeline.yaml': pipeline, 'in.txt': 'v1\n' });
  dirs.push(dir);
  return dir;
}

function lockHashOf(dir: string, out: string): string {
  const m = readFileSync(join(dir, 'pipeline.lock'), 'utf8').match(new RegExp(`path: ${out}, hash: md5:([0-9a-f]{32})`));
  assert.ok(m, `pipeline.lock records ${out}`);
  return m[1];
}

function corruptObject(dir: string, hex: string): void {
  const obj = join(dir, '.grow/cache/files/md5', hex.slice(0, 2), hex.slice(2));
  assert.ok(existsSync(obj), `cache object ${obj} exists`);
  chmodSync(obj, 0o644);
  writeFileSync(obj, 'garbage\n');
}

const runs = (dir: string) => readFileSync(join(dir, 'runs.log'), 'utf8').trim().split('\n').length;

test('a corrupt cache object is never restored when an out is missing: the stage re-runs', async () => {
  const dir = project();
  assert.equal((await runGrow(dir, ['run'])).code, 0);
  corruptObject(dir, lockHashOf(dir, 'single.txt'));
  rmSync(join(dir, 'single.txt'));
  const r = await runGrow(dir, ['run']);
  assert.equal(r.code, 0, r.output);
  assert.equal(readFileSync(join(dir, 'single.txt'), 'utf8'), 'v1\n');
  assert.equal(runs(dir), 2, 'the stage ran again instead of restoring the corrupt object');
  assert.deepEqual(auditCache(join(dir, '.grow/cache')).bad, []);
});

test('a corrupt cache object is never restored through the run-cache: the stage re-runs', async () => {
  const dir = project();
  assert.equal((await runGrow(dir, ['run'])).code, 0);
  const v1 = lockHashOf(dir, 'single.txt');
  writeFileSync(join(dir, 'in.txt'), 'v2\n');
  assert.equal((await runGrow(dir, ['run'])).code, 0);
  assert.equal(runs(dir), 2);
  corruptObject(dir, v1);
  writeFileSync(join(dir, 'in.txt'), 'v1\n'); // back to a configuration the run-cache knows
  const r = await runGrow(dir, ['run']);
  assert.equal(r.code, 0, r.output);
  assert.equal(readFileSync(join(dir, 'single.txt'), 'utf8'), 'v1\n');
  assert.equal(readFileSync(join(dir, 'out/a.txt'), 'utf8'), 'v1\n');
  assert.equal(runs(dir), 3, 'the stage re-ran: its run-cache entry pointed at a corrupt object');
  assert.deepEqual(auditCache(join(dir, '.grow/cache')).bad, []);
});

test('an out the command did not produce fails the stage with exit 1, naming stage and out', async () => {
  const dir = project(`stages:
  make:
    cmd: echo made > produced.txt
    deps: [in.txt]
    outs: [produced.txt, forgotten.txt]
`);
  const r = await runGrow(dir, ['run']);
  assert.equal(r.code, 1, r.output);
  assert.match(r.output, /make/);
  assert.match(r.output, /forgotten\.txt/);
  assert.equal(existsSync(join(dir, 'pipeline.lock')), false, 'no lock entry for a failed stage');
});

test('a command that is not found fails the stage with exit 1 and says so', async () => {
  const dir = project(`stages:
  make:
    cmd: grow-no-such-program-xyz --flag
    deps: [in.txt]
    outs: [x.txt]
`);
  const r = await runGrow(dir, ['run']);
  assert.equal(r.code, 1, r.output);
  assert.match(r.output, /make/);
  assert.match(r.output, /not found/i);
  assert.match(r.output, /grow-no-such-program-xyz/);
  assert.equal(existsSync(join(dir, 'pipeline.lock')), false);
});
