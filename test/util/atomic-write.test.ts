import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tempMarker, tempPathFor, writeDirAtomic, writeFileAtomic } from '../../src/util/atomic-write.ts';

const tmp = () => mkdtempSync(join(tmpdir(), 'growline-atomic-'));

test('writeFileAtomic replaces the file, with or without sync, and leaves no temp behind', () => {
  const dir = tmp();
  const f = join(dir, 'sub', 'a.json');
  writeFileAtomic(f, 'one');
  writeFileAtomic(f, Buffer.from('two'), { sync: true });
  assert.equal(readFileSync(f, 'utf8'), 'two');
  assert.deepEqual(readdirSync(join(dir, 'sub')), ['a.json']);
});

test('temp names are unique per call, not per process, and carry the pid marker', () => {
  const a = tempPathFor('/x/f');
  const b = tempPathFor('/x/f');
  assert.notEqual(a, b);
  assert.ok(a.startsWith(`/x/f${tempMarker(process.pid)}`));
});

test('a failed file write removes its temp and keeps the old file', () => {
  const dir = tmp();
  const f = join(dir, 'a.txt');
  writeFileSync(f, 'old');
  // A directory where the target is: the rename fails after the temp was written.
  const target = join(dir, 'blocked');
  mkdirSync(join(target, 'inside'), { recursive: true });
  assert.throws(() => writeFileAtomic(target, 'new'));
  assert.deepEqual(readdirSync(dir).sort(), ['a.txt', 'blocked']);
  assert.equal(readFileSync(f, 'utf8'), 'old');
});

test('writeDirAtomic swaps in the complete new directory; a failing fill leaves the old one and no temp', async () => {
  const dir = tmp();
  const out = join(dir, 'out');
  await writeDirAtomic(out, (t) => writeFileSync(join(t, 'a'), '1'));
  const r = await writeDirAtomic(out, (t) => {
    writeFileSync(join(t, 'b'), '2');
    return 42;
  });
  assert.equal(r, 42);
  assert.deepEqual(readdirSync(out), ['b'], 'the old directory is replaced, not merged');
  await assert.rejects(
    writeDirAtomic(out, (t) => {
      writeFileSync(join(t, 'c'), '3');
      throw new Error('fill failed');
    }),
    /fill failed/,
  );
  assert.deepEqual(readdirSync(out), ['b']);
  assert.deepEqual(readdirSync(dir), ['out'], 'no hidden temp directory is left');
});
