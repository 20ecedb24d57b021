// The test rig's build check (test/helpers/grow-project.ts): a source edited while the compiler
// runs must be compiled by the next check, though the output is newer than the edit. A fake
// compiler on real files makes the interleaving deterministic (explicit mtimes, no sleeps).
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ensureBuiltAt } from '../helpers/grow-project.ts';

const root = mkdtempSync(join(tmpdir(), 'grow-ensure-built-'));
after(() => rmSync(root, { recursive: true, force: true }));

test('a source edited during the build is rebuilt next time; an unchanged tree is not', () => {
  const srcDir = join(root, 'src');
  const distDir = join(root, 'dist');
  const cli = join(distDir, 'cli.js');
  const source = join(srcDir, 'a.ts');
  mkdirSync(srcDir, { recursive: true });
  writeFileSync(source, 'v1');
  const t0 = Date.now() / 1000 - 100;
  utimesSync(source, t0, t0);

  let builds = 0;
  const build = () => {
    builds++;
    if (builds === 1) {
      // Someone saves a.ts while the compiler runs; the compiler then writes its output.
      writeFileSync(source, 'v2');
      utimesSync(source, t0 + 1, t0 + 1);
    }
    mkdirSync(distDir, { recursive: true });
    writeFileSync(cli, `built ${builds}`);
    utimesSync(cli, t0 + 2, t0 + 2);
  };
  const paths = { cli, srcDir, distDir, build };
  ensureBuiltAt(paths);
  assert.equal(builds, 1);
  ensureBuiltAt(paths);
  assert.equal(builds, 2, 'the edit made during the first build is compiled');
  ensureBuiltAt(paths);
  assert.equal(builds, 2, 'nothing changed since: no third build');
});
