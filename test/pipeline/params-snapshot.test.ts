// Stages get exactly the params the runner recorded: the runner hands each stage run a JSON
// snapshot of its params files (GROW_PARAMS_FILE), and the stage library (stages/lib/params.ts)
// reads that instead of the YAML — so an edit made while the run goes on cannot reach a stage.
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { REPO, TestProject } from '../helpers/grow-project.ts';
import { startGrow, waitFor, type GrowProcess } from '../reliability/rig.ts';

const projects: TestProject[] = [];
const runners: GrowProcess[] = [];
after(() => {
  for (const r of runners) if (r.child.exitCode === null) r.child.kill('SIGKILL');
  projects.forEach((p) => p.cleanup());
});
const project = (files: Record<string, string>) => {
  const p = new TestProject(files);
  projects.push(p);
  return p;
};

// A stage program as the experiment's stages are written: it reads its params through the
// stage library (compiled, as `grow run` runs it), here once the test lets it go on.
const readParams = `import { loadParams } from ${JSON.stringify(join(REPO, 'dist', 'stages', 'lib', 'params.js'))};
import { writeFileSync } from 'node:fs';
const p = loadParams('params.yaml');
writeFileSync(process.argv[2] ?? 'seen.json', JSON.stringify({ lr: p.num('train.lr'), steps: p.num('train.steps'), snapshot: process.env.GROW_PARAMS_FILE ?? null }));
`;

const waitingStage = `stages:
  train:
    cmd: touch waiting && while [ ! -e go ]; do sleep 0.02; done && node read-params.mjs
    params: [train.lr]
    outs: [seen.json]
`;

function leftSnapshots(p: TestProject): string[] {
  const dir = p.path('.grow/tmp');
  return existsSync(dir) ? readdirSync(dir).filter((f) => f.startsWith('params-')) : [];
}

test('a params file edited while a stage waits: the stage runs with the values the lock records', async () => {
  const p = project({
    'params.yaml': 'train:\n  lr: 0.1\n  steps: 10\n',
    'pipeline.yaml': waitingStage,
    'read-params.mjs': readParams,
  });
  const run = p.grow(['run']);
  await waitFor('the stage to start waiting', () => p.exists('waiting'));
  // The edit lands after the runner read and hashed the params, before the stage reads them.
  p.write('params.yaml', 'train:\n  lr: 0.5\n  steps: 99\n');
  p.write('go', '');
  const r = await run;
  assert.equal(r.code, 0, r.stderr);

  const seen = JSON.parse(p.read('seen.json')) as { lr: number; steps: number; snapshot: string | null };
  assert.equal(seen.lr, 0.1, 'the listed key has the recorded value');
  // The whole file as the runner read it, unlisted keys too: one consistent version of it.
  assert.equal(seen.steps, 10);
  assert.equal(p.lock().stages.train.params!['params.yaml']['train.lr'], 0.1);
  assert.ok(seen.snapshot?.startsWith(p.path('.grow/tmp/')), `snapshot under .grow/tmp: ${seen.snapshot}`);
  assert.deepEqual(leftSnapshots(p), [], 'the snapshot is removed once the stage ended');

  // The lock is honest about it: the edit is a change the next run picks up.
  const status = await p.ok(['status']);
  assert.match(status.stdout, /train/);
  assert.match(status.stdout, /params\.yaml:train\.lr/);
});

test('the snapshot carries --set and --params overlays, and is removed after a failing stage too', async () => {
  const p = project({
    'params.yaml': 'train:\n  lr: 0.1\n  steps: 10\n',
    'fast.yaml': 'train:\n  steps: 2\n',
    'pipeline.yaml': `stages:
  train:
    cmd: node read-params.mjs
    params: [train.lr, train.steps]
    outs: [seen.json]
  broken:
    cmd: node read-params.mjs broken.json && exit 3
    params: [train.lr]
    outs: [never.txt]
`,
    'read-params.mjs': readParams,
  });
  const r = await p.grow(['run', '--keep-going', '--params', 'fast.yaml', '--set', 'train.lr=0.25']);
  assert.equal(r.code, 1, r.stderr);
  const seen = JSON.parse(p.read('seen.json')) as { lr: number; steps: number };
  assert.deepEqual({ lr: seen.lr, steps: seen.steps }, { lr: 0.25, steps: 2 });
  assert.deepEqual(p.lock().stages.train.params!['params.yaml'], { 'train.lr': 0.25, 'train.steps': 2 });
  assert.equal(p.read('params.yaml'), 'train:\n  lr: 0.1\n  steps: 10\n');
  assert.equal((JSON.parse(p.read('broken.json')) as { lr: number }).lr, 0.25, 'the failing stage read the overrides too');
  assert.deepEqual(leftSnapshots(p), []);
});

test('a stage without params gets no snapshot; a value JSON cannot carry fails the stage naming file and key', async () => {
  const p = project({
    'params.yaml': 'train:\n  lr: .inf\n',
    'pipeline.yaml': `stages:
  plain:
    cmd: echo "params file:$GROW_PARAMS_FILE" > env.txt
    outs: [env.txt]
  train:
    cmd: echo ran > ran.txt
    params: [train.lr]
    outs: [ran.txt]
`,
  });
  const r = await p.grow(['run', '--keep-going']);
  assert.equal(r.code, 1);
  assert.equal(p.read('env.txt').trim(), 'params file:');
  assert.match(r.stderr, /params key "train\.lr" in params\.yaml is Infinity/);
  assert.ok(!p.exists('ran.txt'), 'the stage did not run with a value it could not be handed');
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
});

test('the snapshots of a runner killed with SIGKILL are removed by the runner that takes over', async () => {
  const p = project({
    'params.yaml': 'train:\n  lr: 0.1\n  steps: 10\n',
    'pipeline.yaml': waitingStage,
    'read-params.mjs': readParams,
  });
  const first = startGrow(p.dir, ['run']);
  runners.push(first);
  await waitFor('the stage to start waiting', () => p.exists('waiting'));
  const left = leftSnapshots(p);
  assert.equal(left.length, 1, `one snapshot while the stage runs: ${left.join(', ')}`);
  first.child.kill('SIGKILL');
  await first.exit;
  assert.deepEqual(leftSnapshots(p), left, 'SIGKILL leaves the snapshot behind');

  p.remove('waiting');
  const second = startGrow(p.dir, ['run']);
  runners.push(second);
  // By the time the stage waits again, the new runner took the lock over (and stopped the orphan).
  await waitFor('the re-run stage to wait', () => p.exists('waiting'));
  const now = leftSnapshots(p);
  assert.equal(now.length, 1);
  assert.ok(!now.includes(left[0]), "the dead runner's snapshot is gone");
  p.write('go', '');
  const { code } = await second.exit;
  assert.equal(code, 0, second.stdout() + second.stderr());
  assert.equal((JSON.parse(p.read('seen.json')) as { lr: number }).lr, 0.1);
  assert.deepEqual(leftSnapshots(p), []);
});
