/**
 * Graph-shaped behaviour: invalid graphs rejected before anything runs, foreach/matrix names and
 * group targets, target selection flags, --dry, real parallelism, and the stage environment.
 */
import assert from 'node:assert/strict';
import { readdirSync, realpathSync, statSync } from 'node:fs';
import { after, test } from 'node:test';
import { record, TestProject } from '../helpers/grow-project.ts';

const projects: TestProject[] = [];
after(() => projects.forEach((p) => p.cleanup()));
const project = (files: Record<string, string>) => {
  const p = new TestProject(files);
  projects.push(p);
  return p;
};

test('cycles, duplicate outs and overlapping outs are rejected before anything runs', async () => {
  const cycle = project({
    'pipeline.yaml': `stages:
  a:
    cmd: ${record} && touch a.txt
    deps: [b.txt]
    outs: [a.txt]
  b:
    cmd: ${record} && touch b.txt
    deps: [a.txt]
    outs: [b.txt]
`,
  });
  let r = await cycle.ok(['run'], 2);
  assert.match(r.stderr, /cycle/i);
  assert.deepEqual(cycle.calls(), []);

  const dup = project({
    'pipeline.yaml': `stages:\n  a:\n    cmd: ${record} && touch x.txt\n    outs: [x.txt]\n  b:\n    cmd: ${record} && touch x.txt\n    outs: [x.txt]\n`,
  });
  r = await dup.ok(['run'], 2);
  assert.match(r.stderr, /x\.txt/);
  assert.deepEqual(dup.calls(), []);

  const overlap = project({
    'pipeline.yaml': `stages:\n  a:\n    cmd: ${record} && mkdir -p d && touch d/f\n    outs: [d]\n  b:\n    cmd: ${record} && touch d/f\n    outs: [d/f]\n`,
  });
  r = await overlap.ok(['run'], 2);
  assert.match(r.stderr, /d\/f/);
  assert.deepEqual(overlap.calls(), []);
});

test('foreach and matrix stages are named name@item and a group name is a target', async () => {
  const p = project({
    'pipeline.yaml': `stages:
  train:
    foreach: [1, 2]
    do:
      cmd: ${record} && echo \${item} > m\${item}.txt
      outs:
        - m\${item}.txt
  eval:
    matrix:
      model: [a, b]
      size: [s]
    cmd: ${record} && echo \${item.model} > e-\${item.model}-\${item.size}.txt
    outs:
      - e-\${item.model}-\${item.size}.txt
  other:
    cmd: ${record} && touch o.txt
    outs: [o.txt]
`,
  });
  await p.ok(['run', 'train']);
  assert.deepEqual(p.calls().sort(), ['train@1', 'train@2']);
  assert.equal(p.read('m2.txt'), '2\n');
  await p.ok(['run', 'eval@b-s']);
  assert.deepEqual(p.calls(), ['eval@b-s']);
  assert.ok(p.exists('.grow/logs/eval@b-s.log'));
  await p.ok(['run']);
  assert.deepEqual(p.calls().sort(), ['eval@a-s', 'other']);
  assert.deepEqual(Object.keys(p.lock().stages), ['train@1', 'train@2', 'eval@a-s', 'eval@b-s', 'other']);
});

function diamond(): TestProject {
  return project({
    'in.txt': '1',
    'pipeline.yaml': `stages:
  a:
    cmd: ${record} && cp in.txt a.txt
    deps: [in.txt]
    outs: [a.txt]
  b:
    cmd: ${record} && cp a.txt b.txt
    deps: [a.txt]
    outs: [b.txt]
  c:
    cmd: ${record} && cp b.txt c.txt
    deps: [b.txt]
    outs: [c.txt]
`,
  });
}

test('targets pull in their upstream; --single-item runs only the target; --downstream runs what follows', async () => {
  const p = diamond();
  await p.ok(['run', 'b']);
  assert.deepEqual(p.calls(), ['a', 'b']);
  assert.equal(p.exists('c.txt'), false);
  p.write('in.txt', '2');
  await p.ok(['run', '-s', 'c']);
  assert.deepEqual(p.calls(), ['c']);
  await p.ok(['run', '--downstream', 'b', '--no-run-cache']);
  assert.deepEqual(p.calls(), []); // b and c are up to date relative to a.txt on disk
  await p.ok(['run', '--downstream', 'a']);
  assert.deepEqual(p.calls(), ['a', 'b', 'c']);
  assert.equal(p.read('c.txt'), '2');
});

test('--dry prints what would run and why, and runs and writes nothing', async () => {
  const p = diamond();
  await p.ok(['run']);
  p.calls();
  p.write('in.txt', '3');
  const lock = p.lockText();
  const readState = () => (p.exists('.grow/state.json') ? p.read('.grow/state.json') : null);
  const state = readState();
  const r = await p.ok(['run', '--dry']);
  assert.match(r.stdout, /a: would run \(dep in\.txt changed\)/);
  assert.match(r.stdout, /b: would run \(upstream a will re-run\)/);
  assert.match(r.stdout, /c: would run/);
  assert.deepEqual(p.calls(), []);
  assert.equal(p.lockText(), lock);
  assert.equal(readState(), state);
  assert.equal(p.read('c.txt'), '1');
});

/** Every file under the project (`.grow/` included) with its content, to compare before and after. */
function snapshot(p: TestProject): Map<string, string> {
  const files = new Map<string, string>();
  for (const f of readdirSync(p.dir, { recursive: true }).map(String).sort()) {
    if (statSync(p.path(f)).isFile()) files.set(f, p.read(f));
  }
  return files;
}

test('--dry writes no file at all, the spec parse cache (.grow/spec) included, on a fresh project and after edits', async () => {
  const p = diamond();
  const fresh = snapshot(p);
  await p.ok(['run', '--dry']);
  assert.deepEqual(snapshot(p), fresh);
  assert.equal(p.exists('.grow'), false);

  await p.ok(['run']);
  p.calls();
  // New YAML text for the parse cache to store (a comment changes no stage).
  p.write('pipeline.yaml', `# edited\n${p.read('pipeline.yaml')}`);
  p.write('in.txt', '4');
  const before = snapshot(p);
  const r = await p.ok(['run', '--dry']);
  assert.match(r.stdout, /a: would run/);
  assert.deepEqual(snapshot(p), before);
  // status may store the parse (a cache); run --dry must not.
  await p.ok(['status']);
  assert.notDeepEqual(
    [...snapshot(p).keys()].filter((f) => f.startsWith('.grow/spec')),
    [...before.keys()].filter((f) => f.startsWith('.grow/spec')),
  );
});

test('independent stages run in parallel (each waits until the other has started)', async () => {
  // Each stage announces itself, then waits for the other; run one at a time they would time out.
  const wait = (me: string, other: string) =>
    `touch ${me}.started && i=0 && while [ ! -f ${other}.started ]; do i=$((i+1)); if [ $i -gt 400 ]; then echo timed out >&2; exit 9; fi; sleep 0.05; done && touch ${me}.txt`;
  const p = project({
    'pipeline.yaml': `stages:
  left:
    cmd: ${wait('left', 'right')}
    outs: [left.txt]
  right:
    cmd: ${wait('right', 'left')}
    outs: [right.txt]
`,
  });
  await p.ok(['run', '-j', '2']);
  assert.ok(p.exists('left.txt') && p.exists('right.txt'));
});

test('stages see GROW_STAGE, GROW_ROOT and run in their wdir', async () => {
  const p = project({
    'sub/.keep': '',
    'pipeline.yaml': `stages:
  env:
    wdir: sub
    cmd: echo "$GROW_STAGE $GROW_ROOT $(pwd)" > env.txt
    outs: [env.txt]
`,
  });
  await p.ok(['run']);
  const root = realpathSync(p.dir);
  const [stage, growRoot, cwd] = p.read('sub/env.txt').trim().split(' ');
  assert.equal(stage, 'env');
  assert.equal(realpathSync(growRoot), root);
  assert.equal(realpathSync(cwd), `${root}/sub`);
  assert.ok(p.lock().stages.env.outs![0].path === 'sub/env.txt');
});

test('--set passes overrides through GROW_PARAMS_OVERRIDES and the lock records them; files are untouched', async () => {
  const p = project({
    'params.yaml': 'train:\n  lr: 1\n',
    'pipeline.yaml': `stages:
  t:
    cmd: echo "$GROW_PARAMS_OVERRIDES" > o.txt
    params: [train.lr]
    outs: [o.txt]
`,
  });
  await p.ok(['run', '--set', 'train.lr=0.5']);
  assert.deepEqual(JSON.parse(p.read('o.txt')), { 'params.yaml': { train: { lr: 0.5 } } });
  assert.equal(p.lock().stages.t.params!['params.yaml']['train.lr'], 0.5);
  assert.equal(p.read('params.yaml'), 'train:\n  lr: 1\n');
});

test('frozen stages are reported, never run', async () => {
  const p = project({
    'in.txt': 'a',
    'pipeline.yaml': `stages:\n  f:\n    cmd: ${record} && cp in.txt f.txt\n    deps: [in.txt]\n    outs: [f.txt]\n    frozen: true\n`,
  });
  const r = await p.ok(['run']);
  assert.match(r.stdout, /f: frozen/);
  assert.deepEqual(p.calls(), []);
});

test('resources.cpus are tokens: two stages that each need every core never overlap, even with -j 2', async () => {
  const cores = (await import('node:os')).availableParallelism();
  // mkdir is atomic: a stage that finds the other's marker knows they overlapped and fails.
  const exclusive = (me: string) => `mkdir busy || exit 9; touch ${me}.txt; sleep 0.2; rmdir busy`;
  const p = project({
    'pipeline.yaml': `stages:
  one:
    cmd: ${exclusive('one')}
    outs: [one.txt]
    resources: {cpus: ${cores}}
  two:
    cmd: ${exclusive('two')}
    outs: [two.txt]
    resources: {cpus: ${cores}}
`,
  });
  await p.ok(['run', '-j', '2']);
  assert.ok(p.exists('one.txt') && p.exists('two.txt'));
});

test("a stage's reported time excludes its wait for a slot: at -j 1 the times add up to no more than the run", async () => {
  const p = project({
    'pipeline.yaml': `stages:
  a: {cmd: sleep 1 && touch a.txt, outs: [a.txt]}
  b: {cmd: sleep 1 && touch b.txt, outs: [b.txt]}
  c: {cmd: sleep 1 && touch c.txt, outs: [c.txt]}
`,
  });
  const started = Date.now();
  const r = await p.ok(['run', '-j', '1']);
  const wall = (Date.now() - started) / 1000;
  const times = [...r.stdout.matchAll(/done in ([\d.]+)s/g)].map((m) => Number(m[1]));
  assert.equal(times.length, 3, r.stdout);
  // Run one after the other, their own times cannot overlap; counting the waits would give 1 + 2 + 3 s.
  const sum = times.reduce((a, b) => a + b, 0);
  assert.ok(sum <= wall + 0.3, `reported ${times.join(' + ')} s within a ${wall.toFixed(1)} s run`);
});

test("a local stage sees the cores it was given as GROW_CPUS (default 1, at most the machine's)", async () => {
  const cores = (await import('node:os')).availableParallelism();
  const p = project({
    'pipeline.yaml': `stages:
  plain:
    cmd: echo "$GROW_CPUS" > plain.txt
    outs: [plain.txt]
  two:
    cmd: echo "$GROW_CPUS" > two.txt
    outs: [two.txt]
    resources: {cpus: 2}
  greedy:
    cmd: echo "$GROW_CPUS" > greedy.txt
    outs: [greedy.txt]
    resources: {cpus: ${cores + 5}}
`,
  });
  await p.ok(['run']);
  assert.equal(p.read('plain.txt').trim(), '1');
  assert.equal(p.read('two.txt').trim(), String(Math.min(2, cores)));
  assert.equal(p.read('greedy.txt').trim(), String(cores));
});

test('resources.gpus: stages get distinct devices as CUDA_VISIBLE_DEVICES; without GPUs they take turns', async () => {
  const wait = (me: string, other: string) =>
    `echo "$CUDA_VISIBLE_DEVICES" > ${me}.gpu && touch ${me}.started && i=0 && while [ ! -f ${other}.started ]; do i=$((i+1)); if [ $i -gt 400 ]; then exit 9; fi; sleep 0.05; done`;
  const p = project({
    'pipeline.yaml': `stages:
  g1:
    cmd: ${wait('g1', 'g2')}
    outs: [g1.gpu]
    resources: {gpus: 1}
  g2:
    cmd: ${wait('g2', 'g1')}
    outs: [g2.gpu]
    resources: {gpus: 1}
`,
  });
  // Two devices: both stages run at once (each waits for the other), on different devices.
  await p.ok(['run', '-j', '2'], 0, { CUDA_VISIBLE_DEVICES: '3,5' });
  assert.deepEqual([p.read('g1.gpu').trim(), p.read('g2.gpu').trim()].sort(), ['3', '5']);

  // No GPUs (empty CUDA_VISIBLE_DEVICES): GPU stages take turns; the mkdir marker proves no overlap.
  const exclusive = (me: string) => `mkdir busy || exit 9; touch ${me}.txt; sleep 0.2; rmdir busy`;
  const q = project({
    'pipeline.yaml': `stages:
  a:
    cmd: ${exclusive('a')}
    outs: [a.txt]
    resources: {gpus: 1}
  b:
    cmd: ${exclusive('b')}
    outs: [b.txt]
    resources: {gpus: 1}
`,
  });
  await q.ok(['run', '-j', '2'], 0, { CUDA_VISIBLE_DEVICES: '' });
  assert.ok(q.exists('a.txt') && q.exists('b.txt'));
});

test("a dep on a directory that gathers other stages' outs need not exist before the run", async () => {
  // The experiment's evaluate stage depends on artifacts/models, which only the training stages
  // create; on a fresh checkout that directory does not exist yet.
  const p = project({
    'pipeline.yaml': `stages:
  a:
    cmd: ${record} && mkdir -p models && echo a > models/a.txt
    outs: [models/a.txt]
  b:
    cmd: ${record} && mkdir -p models && echo b > models/b.txt
    outs: [models/b.txt]
  gather:
    cmd: ${record} && cat models/a.txt models/b.txt > all.txt
    deps: [models]
    outs: [all.txt]
`,
  });
  await p.ok(['run', '-j', '1']);
  const calls = p.calls();
  assert.equal(calls.length, 3);
  assert.equal(calls[2], 'gather', 'gather runs after both producers');
  assert.equal(p.read('all.txt'), 'a\nb\n');
  await p.ok(['run']);
  assert.deepEqual(p.calls(), [], 'second run is a no-op');
});
