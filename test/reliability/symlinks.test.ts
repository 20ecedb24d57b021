// Symbolic links in outs and deps (policy: docs/reliability.md). No content from outside the
// project enters the cache; an out holding a link that leads out, or a dangling one, fails its
// stage with one line; a link that stays inside the project is cached and restored as a copy.
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { removeProject, runGrow } from './rig.ts';
import { md5, nestedProject, type Nest } from './trust-helpers.ts';

const nests: Nest[] = [];
after(() => nests.forEach((n) => removeProject(n.base)));

function project(stage: (base: string) => string): Nest {
  const n = nestedProject({ 'in.txt': 'v1\n' });
  nests.push(n);
  writeFileSync(join(n.proj, 'pipeline.yaml'), `stages:\n  make:\n${stage(n.base)}`);
  writeFileSync(join(n.base, 'a', 'secret.txt'), 'secret\n');
  mkdirSync(join(n.base, 'a', 'outside'));
  writeFileSync(join(n.base, 'a', 'outside', 'f.txt'), 'outside\n');
  return n;
}

/** Every object in the project's cache, by the md5 its content has. */
function cachedContents(proj: string, cacheDir = join(proj, '.grow', 'cache')): Set<string> {
  const dir = join(cacheDir, 'files', 'md5');
  const out = new Set<string>();
  if (!existsSync(dir)) return out;
  for (const sub of readdirSync(dir)) for (const f of readdirSync(join(dir, sub))) out.add(md5(readFileSync(join(dir, sub, f))));
  return out;
}

test('an out holding a link to a file outside the project fails the stage; the file is not cached', async () => {
  const { base, proj } = project(
    (b) => `    cmd: mkdir -p out && cp in.txt out/a.txt && ln -s ${join(b, 'a', 'secret.txt')} out/leak.txt
    deps: [in.txt]
    outs: [out]
`,
  );
  const r = await runGrow(proj, ['run']);
  assert.equal(r.code, 1, r.output);
  assert.match(r.output, /out `out`: `out\/leak\.txt` is a symbolic link to .*secret\.txt, outside the project/);
  assert.equal(cachedContents(proj).has(md5('secret\n')), false, 'the outside content never entered the cache');
  assert.equal(readFileSync(join(base, 'a', 'secret.txt'), 'utf8'), 'secret\n');
  const push = await runGrow(proj, ['push', '--to', join(base, 'remote')]);
  assert.equal(push.code, 0, push.output);
  assert.equal(cachedContents(proj, join(base, 'remote')).has(md5('secret\n')), false, 'nor was it pushed');
});

test('an out that is itself a link to a directory outside fails the stage, leaves the target alone, and later commands still work', async () => {
  const { base, proj } = project(
    (b) => `    cmd: ln -s ${join(b, 'a', 'outside')} out
    deps: [in.txt]
    outs: [out]
`,
  );
  const r = await runGrow(proj, ['run']);
  assert.equal(r.code, 1, r.output);
  assert.match(r.output, /out `out`: `out` is a symbolic link to .*outside, outside the project/);
  assert.equal(readFileSync(join(base, 'a', 'outside', 'f.txt'), 'utf8'), 'outside\n', 'the link target is untouched');
  assert.equal(cachedContents(proj).has(md5('outside\n')), false);
  for (const cmd of [['status'], ['checkout'], ['gc']]) {
    const again = await runGrow(proj, cmd);
    assert.doesNotMatch(again.output, /\n\s+at /, `${cmd}: no stack trace`);
    assert.notEqual(again.code, null);
  }
  assert.equal((await runGrow(proj, ['run'])).code, 1, 'fails the same way, with a message, until the stage is fixed');
});

test('a dangling link in an out fails the stage with a message', async () => {
  const { proj } = project(
    () => `    cmd: mkdir -p out && cp in.txt out/a.txt && ln -s /nonexistent/grow-test-target out/gone
    deps: [in.txt]
    outs: [out]
`,
  );
  const r = await runGrow(proj, ['run']);
  assert.equal(r.code, 1, r.output);
  assert.match(r.output, /`out\/gone` is a symbolic link to \/nonexistent\/grow-test-target, which does not exist/);
});

test('a link inside an out to a file inside the project is cached and restored as a regular copy', async () => {
  const { proj } = project(
    () => `    cmd: mkdir -p out && cp in.txt out/a.txt && ln -s ../in.txt out/link.txt
    deps: [in.txt]
    outs: [out]
`,
  );
  assert.equal((await runGrow(proj, ['run'])).code, 0);
  rmSync(join(proj, 'out'), { recursive: true });
  const r = await runGrow(proj, ['checkout']);
  assert.equal(r.code, 0, r.output);
  assert.equal(lstatSync(join(proj, 'out', 'link.txt')).isFile(), true, 'restored as a file');
  assert.equal(readFileSync(join(proj, 'out', 'link.txt'), 'utf8'), 'v1\n');
});

test('a dep directory holding a link to outside is hashed (followed) but never cached', async () => {
  const { base, proj } = project(
    () => `    cmd: cat data/* > summary.txt
    deps: [data]
    outs: [summary.txt]
`,
  );
  mkdirSync(join(proj, 'data'));
  writeFileSync(join(proj, 'data', 'local.txt'), 'local\n');
  const { symlinkSync } = await import('node:fs');
  symlinkSync(join(base, 'a', 'secret.txt'), join(proj, 'data', 'shared.txt'));
  assert.equal((await runGrow(proj, ['run'])).code, 0);
  assert.equal(cachedContents(proj).has(md5('secret\n')), false, 'deps are not cached');
  writeFileSync(join(base, 'a', 'secret.txt'), 'changed\n');
  const st = await runGrow(proj, ['status', '--check']);
  assert.equal(st.code, 3, `a change behind the link makes the stage stale: ${st.output}`);
});

test('a link inside an out back to one of its ancestors (a loop) fails the stage with a message, no stack overflow', async () => {
  const { proj } = project(
    () => `    cmd: mkdir -p out && cp in.txt out/a.txt && ln -s .. out/up
    deps: [in.txt]
    outs: [out]
`,
  );
  const r = await runGrow(proj, ['run']);
  assert.equal(r.code, 1, r.output);
  assert.match(r.output, /out\/up is a symbolic link to .*, which contains the link itself \(a loop\)/);
  assert.doesNotMatch(r.output, /Maximum call stack|\n\s+at /);
});
