/**
 * Overlays remembered: pipeline.lock records the `--params`/`--set` it was made with; the commands
 * that compare (status, explain, params diff, run --dry) take the same flags and, without them,
 * say that the lock came from an overlay and how to compare; reasons give old → new and the
 * overlay that set the value; `watch --params F` re-runs on edits to F.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { record, TestProject } from '../helpers/grow-project.ts';
import { removeProject, startGrow, tempProject, waitFor, writeFile, type GrowProcess } from '../reliability/rig.ts';

const projects: TestProject[] = [];
after(() => projects.forEach((p) => p.cleanup()));

const PIPELINE = `stages:
  train:
    cmd: ${record} && echo "steps=\${train.steps} lr=\${train.lr}" > model.txt
    params: [train.steps, train.lr]
    outs: [model.txt]
`;

function project(): TestProject {
  const p = new TestProject({
    'params.yaml': 'train:\n  steps: 5000\n  lr: 0.003\n',
    'params/smoke.yaml': 'train:\n  steps: 10\n',
    'pipeline.yaml': PIPELINE,
  });
  projects.push(p);
  return p;
}

const NOTE =
  /^note: pipeline\.lock was written by a run with --params params\/smoke\.yaml; this compares against the params files alone\. To compare with those results: grow (.*)$/m;

test('the lock records the overlays; without them, comparing commands say so and how to compare', async () => {
  const p = project();
  await p.ok(['run']);
  assert.doesNotMatch(p.lockText(), /overlays/, 'a plain run writes no overlays line');
  await p.ok(['run', '--params', 'params/smoke.yaml']);
  assert.match(p.lockText(), /^schema: 1\noverlays: \{params: \["params\/smoke\.yaml"\], set: \[\]\}\nstages:\n/);

  const status = await p.ok(['status']);
  assert.match(status.stdout, /param params\.yaml:train\.steps changed: 10 → 5000/);
  assert.equal(NOTE.exec(status.stdout)?.[1], 'status --params params/smoke.yaml');
  const json = await p.ok(['status', '--json']);
  JSON.parse(json.stdout); // the note goes to stderr beside JSON
  assert.match(json.stderr, NOTE);
  assert.equal(NOTE.exec((await p.ok(['explain', 'train'])).stdout)?.[1], 'explain train --params params/smoke.yaml');
  assert.equal(NOTE.exec((await p.ok(['params', 'diff'])).stdout)?.[1], 'params diff --params params/smoke.yaml');
  const dry = await p.ok(['run', '--dry']);
  assert.match(dry.stdout, /train: would restore from the run-cache \(cmd changed, param params\.yaml:train\.steps changed: 10 → 5000\)/);
  assert.equal(NOTE.exec(dry.stdout)?.[1], 'run --dry --params params/smoke.yaml');

  // Under the lock's own overlays: up to date, no note.
  const same = await p.ok(['status', '--check', '--params', 'params/smoke.yaml']);
  assert.match(same.stdout, /train: up to date/);
  assert.doesNotMatch(same.stdout, /note:/);
  const explained = await p.ok(['explain', 'train', '--params', 'params/smoke.yaml']);
  assert.match(explained.stdout, /= param params\.yaml:train\.steps: 10/);
  assert.match(explained.stdout, /^up to date$/m);
  assert.equal((await p.ok(['params', 'diff', '--params', 'params/smoke.yaml'])).stdout.trim(), 'no differences');
  assert.match((await p.ok(['run', '--dry', '--params', 'params/smoke.yaml'])).stdout, /nothing to run|up to date/);

  // A plain run rewrites the lock without the overlays line.
  await p.ok(['run']);
  assert.doesNotMatch(p.lockText(), /overlays/);
  assert.doesNotMatch((await p.ok(['status'])).stdout, /note:/);
});

test('reasons name the overlay that set a value, with old → new', async () => {
  const p = project();
  await p.ok(['run']);
  const bySet = await p.ok(['status', '--set', 'train.lr=0.01']);
  assert.match(bySet.stdout, /param params\.yaml:train\.lr changed: 0\.003 → 0\.01 \(set by --set train\.lr=0\.01\)/);
  const byFile = await p.ok(['status', '--json', '--params', 'params/smoke.yaml']);
  const reasons = (JSON.parse(byFile.stdout) as { reasons: string[] }[])[0].reasons;
  assert.ok(reasons.includes('param params.yaml:train.steps changed: 5000 → 10 (set by params/smoke.yaml)'), reasons.join('\n'));
  const explained = await p.ok(['explain', 'train', '--set', 'train.steps=7']);
  assert.match(explained.stdout, /≠ param params\.yaml:train\.steps\n\s+now:\s+7\n\s+lock: 5000/);
  assert.match(explained.stdout, /stale: .*train\.steps changed: 5000 → 7 \(set by --set train\.steps=7\)/);
  // An overlay flag with a file that does not exist is one clear line.
  const missing = await p.ok(['explain', 'train', '--params', 'nope.yaml'], 2);
  assert.match(missing.stderr, /nope\.yaml/);
});

test('watch --params F re-runs when F is edited', async () => {
  const dir = tempProject({
    'params.yaml': 'train:\n  steps: 5000\n  lr: 0.003\n',
    'params/smoke.yaml': 'train:\n  steps: 10\n',
    'pipeline.yaml': PIPELINE,
  });
  let w: GrowProcess | undefined;
  try {
    w = startGrow(dir, ['watch', '--debounce', '100', '--params', 'params/smoke.yaml']);
    const out = () => w!.stdout() + w!.stderr();
    await waitFor(`the first iteration in:\n${out()}`, () => /watch: watching/.test(out()));
    writeFile(dir, 'params/smoke.yaml', 'train:\n  steps: 20\n');
    await waitFor(`a re-run after editing the overlay in:\n${out()}`, () =>
      /changed: params\/smoke\.yaml → train \(param params\.yaml:train\.steps changed\)[\s\S]*1 done/.test(out()),
    );
    await waitFor('the model', () => /steps=20/.test(readModel(dir)));
    w.child.kill('SIGINT');
    assert.equal((await w.exit).code, 130, out());
  } finally {
    if (w && w.child.exitCode === null) w.child.kill('SIGKILL');
    removeProject(dir);
  }
});

function readModel(dir: string): string {
  return existsSync(join(dir, 'model.txt')) ? readFileSync(join(dir, 'model.txt'), 'utf8') : '';
}

test('a listed mapping is reported by the keys inside it that an overlay changed', async () => {
  const p = new TestProject({
    'params.yaml': 'train:\n  steps: 5000\n  lr: 0.003\n',
    'params/smoke.yaml': 'train:\n  steps: 10\n',
    'pipeline.yaml': 'stages:\n  train:\n    cmd: echo x > model.txt\n    params: [train]\n    outs: [model.txt]\n',
  });
  projects.push(p);
  await p.ok(['run']);
  const reasons = (JSON.parse((await p.ok(['status', '--json', '--params', 'params/smoke.yaml'])).stdout) as { reasons: string[] }[])[0]
    .reasons;
  assert.deepEqual(reasons, ['param params.yaml:train.steps changed: 5000 → 10 (set by params/smoke.yaml)']);
});
