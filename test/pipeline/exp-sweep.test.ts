/**
 * `grow exp run --sweep`: every point of the grid runs and becomes an experiment; work the points
 * share runs once; a failed point does not lose the others; bad axes are refused before anything runs.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { record, TestProject } from '../helpers/grow-project.ts';
import { startGrow, waitFor } from '../reliability/rig.ts';

const projects: TestProject[] = [];
after(() => projects.forEach((p) => p.cleanup()));

function project(): TestProject {
  const p = new TestProject({
    'params.yaml': 'data:\n  n: 3\ntrain:\n  lr: 1\n  seed: 1\n',
    'train.sh':
      'test "$1" != fail || exit 4\necho "{\\"score\\": $(( $(wc -l < data.txt) * $2 ))}" > score.json\necho "lr=$1 seed=$2" > model.txt\n',
    'pipeline.yaml': `stages:
  prepare:
    cmd: ${record} && seq \${data.n} > data.txt
    params: [data.n]
    outs: [data.txt]
  train:
    cmd: ${record} && sh train.sh \${train.lr} \${train.seed}
    deps: [data.txt, train.sh]
    params: [train.lr, train.seed]
    outs: [model.txt]
    metrics: [score.json]
`,
  });
  projects.push(p);
  return p;
}

interface Shown {
  name: string;
  params: Record<string, unknown>;
  metrics: Record<string, unknown>;
}

test('a sweep runs the grid, records each point, and runs the shared stage once', async () => {
  const p = project();
  const r = await p.ok(['exp', 'run', '-n', 'grid', '--sweep', 'train.lr=0.1,0.2', '--sweep', 'train.seed=1,2']);
  assert.match(r.stdout, /^sweep: \[1\/4\] grid-1: --set train\.lr=0\.1 --set train\.seed=1$/m);
  assert.match(r.stdout, /^sweep: \[4\/4\] grid-4: --set train\.lr=0\.2 --set train\.seed=2$/m);
  assert.match(r.stdout, /^sweep: 4 of 4 points recorded \(grid-1…grid-4\); compare with `grow exp show grid-1 grid-2 grid-3 grid-4`$/m);
  const calls = p.calls();
  assert.equal(calls.filter((c) => c === 'prepare').length, 1, 'the stage no point changes ran once');
  assert.equal(calls.filter((c) => c === 'train').length, 4);
  const shown = JSON.parse((await p.ok(['exp', 'show', '--json'])).stdout) as Shown[];
  assert.deepEqual(
    shown.map((e) => [e.name, e.params['train.lr'], e.params['train.seed'], e.metrics.score]),
    [
      ['grid-1', 0.1, 1, 3],
      ['grid-2', 0.1, 2, 6],
      ['grid-3', 0.2, 1, 3],
      ['grid-4', 0.2, 2, 6],
    ],
  );
  // Applying a point restores its results.
  await p.ok(['exp', 'apply', 'grid-2']);
  assert.equal(p.read('model.txt'), 'lr=0.1 seed=2\n');
  // The same names again are refused before anything runs.
  const again = await p.ok(['exp', 'run', '-n', 'grid', '--sweep', 'train.lr=0.1'], 2);
  assert.match(again.stderr, /an experiment named `grid-1` exists already/);
  assert.deepEqual(p.calls(), []);
});

test('a failed point is reported, the others are kept; with --set and --params for every point', async () => {
  const p = project();
  p.write('more.yaml', 'data:\n  n: 5\n');
  const r = await p.ok(['exp', 'run', '-n', 's', '--sweep', 'train.lr=1,fail,2', '--params', 'more.yaml', '--set', 'train.seed=3'], 1);
  assert.match(r.stderr, /grow: s-2: stage `train` failed/);
  assert.match(r.stdout, /^sweep: 2 of 3 points recorded \(s-1…s-3\); failed: s-2; compare with `grow exp show s-1 s-3`$/m);
  const shown = JSON.parse((await p.ok(['exp', 'show', '--json', '--all-metrics'])).stdout) as (Shown & { overlays: unknown })[];
  assert.deepEqual(
    shown.map((e) => [e.name, e.metrics.score]),
    [
      ['s-1', 15],
      ['s-3', 15],
    ],
  );
  assert.deepEqual(shown[0].overlays, { params: ['more.yaml'], set: ['train.seed=3', 'train.lr=1'] });
});

test('bad sweeps are one clear line, before anything runs', async () => {
  const p = project();
  for (const [args, re] of [
    [['--sweep', 'train.lr'], /--sweep "train\.lr" is not key=value1,value2,…/],
    [['--sweep', 'train.lr=1,,2'], /is not key=value1,value2/],
    [['--sweep', 'train.lr=1,1'], /a value is repeated/],
    [['--sweep', 'train.lr=1', '--sweep', 'train.lr=2'], /`train\.lr` is swept twice/],
    [['--sweep', 'train.rl=1,2'], /params\.yaml has no key "train\.rl"/],
    [[], /needs at least one --sweep/],
  ] as [string[], RegExp][]) {
    const r = await p.ok(['exp', 'run', ...args], 2);
    assert.match(r.stderr, re, args.join(' '));
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  }
  assert.deepEqual(p.calls(), []);
  assert.equal(p.exists('.grow/exps'), false);
});

test('list values with commas inside brackets are one value', async () => {
  const { splitValues } = await import('../../src/pipeline/exp/sweep.ts');
  assert.deepEqual(splitValues('[1,2],[3,4], "a,b",c'), ['[1,2]', '[3,4]', '"a,b"', 'c']);
});

test('Ctrl-C during a sweep stops the running point and keeps the finished ones', async () => {
  const p = project();
  // The second point's stage waits until the test interrupts the sweep.
  p.write(
    'train.sh',
    'if [ "$1" = 2 ]; then touch "$GROW_ROOT/waiting"; while :; do sleep 0.05; done; fi\necho "{\\"score\\": $1}" > score.json\necho "lr=$1" > model.txt\n',
  );
  const w = startGrow(p.dir, ['exp', 'run', '-n', 'c', '--sweep', 'train.lr=1,2,3']);
  try {
    await waitFor(`the second point to start:\n${w.stdout()}${w.stderr()}`, () => p.exists('waiting'));
    w.child.kill('SIGINT');
    const { code } = await w.exit;
    assert.equal(code, 130, w.stdout() + w.stderr());
  } finally {
    if (w.child.exitCode === null) w.child.kill('SIGKILL');
  }
  assert.match(w.stdout(), /^sweep: 1 of 3 points recorded \(c-1…c-1\); 2 not run \(interrupted\)/m);
  const shown = JSON.parse((await p.ok(['exp', 'show', '--json'])).stdout) as Shown[];
  assert.deepEqual(
    shown.map((e) => e.name),
    ['c-1'],
  );
});

test('--parallel runs points at once in isolated copies sharing the cache; each is recorded and can be applied', async () => {
  const p = project();
  // Copies have their own GROW_ROOT: stages report to the test's directory by its absolute path.
  p.write('pipeline.yaml', p.read('pipeline.yaml').replaceAll('"$GROW_ROOT/.calls"', `"${p.dir}/.calls"`));
  const r = await p.ok(['exp', 'run', '-n', 'par', '-P', '2', '--sweep', 'train.seed=1,2,3,4']);
  assert.match(r.stdout, /^sweep: 4 of 4 points recorded \(par-1…par-4\)/m);
  assert.match(r.stdout, /^\[par-3\] /m, 'copies report with their point name');
  const calls = p.calls();
  assert.equal(calls.filter((c) => c === 'prepare').length, 1, 'the shared stage ran once; the copies restored it');
  assert.equal(calls.filter((c) => c === 'train').length, 4);
  const shown = JSON.parse((await p.ok(['exp', 'show', '--json'])).stdout) as Shown[];
  assert.deepEqual(shown.map((e) => [e.name, e.metrics.score]).sort(), [
    ['par-1', 3],
    ['par-2', 6],
    ['par-3', 9],
    ['par-4', 12],
  ]);
  // The workspace holds the first point; a point run in a copy is applied from the cache.
  assert.equal(p.read('model.txt'), 'lr=1 seed=1\n');
  await p.ok(['exp', 'apply', 'par-4']);
  assert.equal(p.read('model.txt'), 'lr=1 seed=4\n');
  assert.deepEqual(p.calls(), []);
});
