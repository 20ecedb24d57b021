// The CI recipe of docs/ci.md on examples/ci-small: it passes as committed, and each half catches
// what it is for — a lock that is out of date (status --check, exit 3) and an output that does not
// reproduce (verify, exit 1).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ensureBuilt } from '../helpers/grow-project.ts';
import { REPO, removeProject, runGrow, tempProject, writeFile } from './rig.ts';

const EXAMPLE = join(REPO, 'examples/ci-small');
const dirs: string[] = [];
after(() => dirs.forEach(removeProject));

function copyOfExample(): string {
  const dir = tempProject();
  dirs.push(dir);
  cpSync(EXAMPLE, dir, { recursive: true, filter: (src) => !src.includes('/.grow') });
  return dir;
}

test('scripts/ci-repro-check.sh passes on the committed example', () => {
  ensureBuilt();
  const r = spawnSync('bash', [join(REPO, 'scripts/ci-repro-check.sh')], {
    cwd: REPO,
    encoding: 'utf8',
    env: { ...process.env, GROW_DEV: '', CI: 'true' },
  });
  assert.equal(r.status, 0, r.stdout + r.stderr);
  assert.match(r.stdout, /all 4 stages up to date/);
  assert.match(r.stdout, /verify: all 4 outputs of 4 stages reproduced/);
});

test('an edited param without a re-run: status --check exits 3 naming stage and key', async () => {
  const dir = copyOfExample();
  writeFile(dir, 'params.yaml', readFileSync(join(dir, 'params.yaml'), 'utf8').replace('degree: 2', 'degree: 3'));
  const r = await runGrow(dir, ['status', '--check']);
  assert.equal(r.code, 3, r.output);
  assert.match(r.stdout, /fit: stale\n(\s+.*\n)*?\s+param params\.yaml:model\.degree changed/);
  assert.doesNotMatch(r.stdout, /generate: stale/);
});

test('a stage that stopped being deterministic: verify exits 1 naming the output', async () => {
  const dir = copyOfExample();
  // The lock still records the old, deterministic output; the new code adds a timestamp.
  const evaluate = join(dir, 'scripts/evaluate.mjs');
  writeFile(
    dir,
    'scripts/evaluate.mjs',
    readFileSync(evaluate, 'utf8').replace('points: rows.length }', 'points: rows.length, at: process.hrtime.bigint().toString() }'),
  );
  const r = await runGrow(dir, ['verify']);
  assert.equal(r.code, 1, r.output);
  assert.match(
    r.stdout,
    /✖ evaluate: metrics\.json did not reproduce\n\s+expected md5:[0-9a-f]{32} \(pipeline\.lock\)\n\s+got\s+md5:[0-9a-f]{32}/,
  );
  assert.match(r.stdout, /✖ summary: report did not reproduce/);
  assert.doesNotMatch(r.stdout, /✖ fit:/);
});
