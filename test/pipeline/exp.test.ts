/**
 * Experiments through the real CLI: every `grow run` records one; `grow exp show|diff|apply|remove`
 * read them back; `grow gc` keeps what they need; damaged records are ignored or refused clearly.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { after, test } from 'node:test';
import { record, TestProject } from '../helpers/grow-project.ts';

const projects: TestProject[] = [];
after(() => projects.forEach((p) => p.cleanup()));

/** One stage whose metric depends on both params, so every run gives a distinct result. */
function project(): TestProject {
  const p = new TestProject({
    'params.yaml': 'train:\n  lr: 1\n  epochs: 3\nseed: 7\n',
    'train.sh':
      'echo "{\\"loss\\": $(( $2 * 10 )).123456789, \\"backend\\": \\"cpu\\", \\"steps\\": $2}" > metrics.json\necho "model lr=$1 epochs=$2" > model.txt\n',
    'pipeline.yaml': `stages:
  train:
    cmd: ${record} && sh train.sh \${train.lr} \${train.epochs}
    params: [train.lr, train.epochs, seed]
    outs: [model.txt]
    metrics: [metrics.json]
`,
  });
  projects.push(p);
  return p;
}

interface ShownExp {
  name: string;
  time: string;
  commit: string | null;
  overlays: { params: string[]; set: string[] };
  params: Record<string, unknown>;
  metrics: Record<string, unknown>;
}

async function shown(p: TestProject, ...args: string[]): Promise<ShownExp[]> {
  return JSON.parse((await p.ok(['exp', 'show', '--json', ...args])).stdout) as ShownExp[];
}

test('every run is recorded with its name, overlays, the params that vary and the metrics', async () => {
  const p = project();
  const first = await p.ok(['run']);
  const generated = /recorded as experiment (\S+)/.exec(first.stdout)?.[1];
  assert.ok(generated, first.stdout);
  p.write('fast.yaml', 'train:\n  epochs: 5\n');
  await p.ok(['run', '--name', 'lr2', '--set', 'train.lr=2']);
  await p.ok(['run', '-n', 'fast', '--params', 'fast.yaml']);
  // The same run again leaves the same lock: no new record without a name.
  const again = await p.ok(['run', '--params', 'fast.yaml']);
  assert.doesNotMatch(again.stdout, /recorded as experiment/);

  const list = await shown(p);
  assert.deepEqual(
    list.map((e) => e.name),
    [generated, 'lr2', 'fast'],
  );
  assert.deepEqual(list[1].overlays, { params: [], set: ['train.lr=2'] });
  assert.deepEqual(list[2].overlays, { params: ['fast.yaml'], set: [] });
  // Only the params that vary are columns (seed never does); metrics are numbers unless asked.
  assert.deepEqual(
    list.map((e) => e.params),
    [
      { 'train.epochs': 3, 'train.lr': 1 },
      { 'train.epochs': 3, 'train.lr': 2 },
      { 'train.epochs': 5, 'train.lr': 1 },
    ],
  );
  assert.deepEqual(
    list.map((e) => e.metrics.loss),
    [30.123456789, 30.123456789, 50.123456789],
  );
  assert.equal(list[0].metrics.backend, undefined);
  const withStrings = await shown(p, '--all-metrics');
  assert.equal(withStrings[0].metrics.backend, 'cpu');

  // The table: rounded to 5 significant digits by default, --precision otherwise.
  const table = (await p.ok(['exp', 'show'])).stdout;
  assert.match(table, /^Experiment\s+Created\s+train\.epochs\s+train\.lr\s+loss\s+steps$/m);
  assert.match(table, /^lr2\s+\S+ \S+\s+3\s+2\s+30\.123\s+3$/m);
  assert.match((await p.ok(['exp', 'show', '--precision', '3'])).stdout, /^fast\s.*\s50\.1\s+5$/m);
});

test('exp show sorts, selects columns by glob and prints CSV and Markdown', async () => {
  const p = project();
  await p.ok(['run', '-n', 'a', '--set', 'train.epochs=4']);
  await p.ok(['run', '-n', 'b', '--set', 'train.epochs=2']);
  await p.ok(['run', '-n', 'c', '--set', 'train.epochs=6']);
  assert.deepEqual(
    (await shown(p, '--sort-by', 'loss')).map((e) => e.name),
    ['b', 'a', 'c'],
  );
  assert.deepEqual(
    (await shown(p, '--sort-by', 'train.epochs', '--desc')).map((e) => e.name),
    ['c', 'a', 'b'],
  );
  const only = await shown(p, '-c', '*loss*');
  assert.deepEqual(only[0].params, {});
  assert.deepEqual(Object.keys(only[0].metrics), ['loss']);

  const csv = (await p.ok(['exp', 'show', '--csv', '-c', 'train.*', '-c', 'loss'])).stdout.trim().split('\n');
  assert.equal(csv[0], 'Experiment,Created,train.epochs,loss');
  assert.match(csv[1], /^a,\d{4}-\d\d-\d\dT[^,]+,4,40\.123456789$/);
  const md = (await p.ok(['exp', 'show', '--md', '-c', 'loss', '--sort-by', 'name'])).stdout.trim().split('\n');
  assert.equal(md[0], '| Experiment | Created | loss |');
  assert.equal(md[1], '| --- | --- | --- |');
  assert.match(md[2], /^\| a \| .* \| 40\.123 \|$/);

  const bad = await p.ok(['exp', 'show', '--sort-by', 'nope'], 2);
  assert.match(bad.stderr, /--sort-by: no column `nope`/);
  assert.match(bad.stderr, /hint: sort by name, time or one of: train\.epochs, loss, steps/);
});

test('exp diff names what differs between two experiments, old → new with the change', async () => {
  const p = project();
  await p.ok(['run', '-n', 'slow', '--set', 'train.epochs=3']);
  await p.ok(['run', '-n', 'long', '--set', 'train.epochs=8']);
  const r = await p.ok(['exp', 'diff', 'slow', 'long']);
  assert.match(r.stdout, /^param\s+params\.yaml\s+train\.epochs\s+3\s+8\s+\+5$/m);
  assert.match(r.stdout, /^metric\s+metrics\.json\s+loss\s+30\.123\s+80\.123\s+\+50$/m);
  assert.doesNotMatch(r.stdout, /train\.lr|seed/);
  const json = JSON.parse((await p.ok(['exp', 'diff', 'slow', 'long', '--json'])).stdout) as {
    key: string;
    a: unknown;
    b: unknown;
    change?: number;
  }[];
  assert.deepEqual(
    json.find((x) => x.key === 'steps'),
    { kind: 'metric', file: 'metrics.json', key: 'steps', a: 3, b: 8, change: 5 },
  );
  assert.equal((await p.ok(['exp', 'diff', 'slow', 'slow'])).stdout.trim(), 'no differences in params or metrics');
});

test("exp apply restores an experiment's outs and lock from the cache, running nothing; gc keeps them", async () => {
  const p = project();
  await p.ok(['run', '-n', 'base']);
  const baseLock = p.lockText();
  await p.ok(['run', '-n', 'lr5', '--set', 'train.lr=5']);
  const lr5Lock = p.lockText();
  await p.ok(['run', '-n', 'lr9', '--set', 'train.lr=9']);
  p.calls();

  // gc with no run-cache entries kept: only the lock and the experiments protect objects.
  await p.ok(['gc', '--keep-runs', '0']);
  const r = await p.ok(['exp', 'apply', 'lr5']);
  assert.deepEqual(p.calls(), [], 'nothing ran');
  assert.match(r.stdout, /restored model\.txt/);
  assert.match(r.stdout, /made with --set train\.lr=5: compare with `grow status --set train\.lr=5`/);
  assert.equal(p.read('model.txt'), 'model lr=5 epochs=3\n');
  assert.equal(p.lockText(), lr5Lock);
  // Under its overlay the applied results are current.
  assert.match((await p.ok(['status', '--set', 'train.lr=5'])).stdout, /up to date/);

  await p.ok(['exp', 'apply', 'base']);
  assert.equal(p.read('model.txt'), 'model lr=1 epochs=3\n');
  assert.equal(p.lockText(), baseLock);
  await p.ok(['status', '--check']);

  // Removed experiments no longer protect their objects.
  await p.ok(['exp', 'remove', 'lr9']);
  assert.deepEqual(
    (await shown(p)).map((e) => e.name),
    ['base', 'lr5'],
  );
  await p.ok(['gc', '--keep-runs', '0']);
  await p.ok(['exp', 'apply', 'lr5']);
  assert.equal(p.read('model.txt'), 'model lr=5 epochs=3\n');
});

test('exp apply refuses, changing nothing, when an object is gone from the cache', async () => {
  const p = project();
  await p.ok(['run', '-n', 'one']);
  await p.ok(['run', '-n', 'two', '--set', 'train.lr=2']);
  p.remove('.grow/cache');
  const lockBefore = p.lockText();
  const r = await p.ok(['exp', 'apply', 'one'], 1);
  assert.match(r.stderr, /^grow: cannot apply experiment `one`: not in the cache: model\.txt \(stage `train`\)$/m);
  // (metrics.json is the same in both: already in place, so not needed from the cache)
  assert.match(r.stderr, /^hint: /m);
  assert.doesNotMatch(r.stderr, /at .*\.js/);
  assert.equal(p.lockText(), lockBefore);
  assert.equal(p.read('model.txt'), 'model lr=2 epochs=3\n');
});

test('names are checked; damaged records are ignored by show and refused by name; recorded paths are never trusted', async () => {
  const p = project();
  for (const bad of ['../evil', '.hidden', 'a/b', '']) {
    const r = await p.ok(['run', '--name', bad], 2);
    assert.match(r.stderr, /is not a valid experiment name/);
  }
  assert.equal(p.exists('.grow/exps'), false, 'nothing recorded by refused runs');
  await p.ok(['run', '-n', 'good']);
  assert.match((await p.ok(['run', '-n', 'good'], 2)).stderr, /an experiment named `good` exists already/);
  assert.match((await p.ok(['exp', 'apply', 'nope'], 2)).stderr, /no experiment named `nope`\nhint: the experiments are: good/);
  assert.match((await p.ok(['exp', 'remove', 'good', 'nope'], 2)).stderr, /no experiment named `nope`/);
  assert.ok(p.exists('.grow/exps/good.json'), 'remove is all or nothing');

  p.write('.grow/exps/broken.json', '{not json');
  p.write('.grow/exps/wrong.json', JSON.stringify({ schema: 1, name: 'other' }));
  const good = JSON.parse(p.read('.grow/exps/good.json')) as Record<string, unknown>;
  // A lock that names an out the pipeline does not declare: applying must not write outside.
  const evilLock = String(good.lock).replace('path: model.txt', 'path: ../outside.txt');
  p.write('.grow/exps/evil.json', JSON.stringify({ ...good, name: 'evil', lock: evilLock }));
  p.write('.grow/exps/garbled.json', JSON.stringify({ ...good, name: 'garbled', lock: 'schema: 1\nstages:\n  train: [1' }));
  const r = await p.ok(['exp', 'show', '--json']);
  assert.deepEqual((JSON.parse(r.stdout) as ShownExp[]).map((e) => e.name).sort(), ['evil', 'garbled', 'good']);
  assert.match(r.stderr, /grow: warning: ignoring \.grow\/exps\/broken\.json: cannot be read/);
  assert.match(r.stderr, /grow: warning: ignoring \.grow\/exps\/wrong\.json: its name "other" does not match the file name/);
  assert.match(
    (await p.ok(['exp', 'apply', 'broken'], 2)).stderr,
    /^grow: \.grow\/exps\/broken\.json: cannot be read .*\nhint: remove it with `grow exp remove broken`/m,
  );
  assert.match((await p.ok(['exp', 'apply', 'garbled'], 2)).stderr, /experiment `garbled`: its recorded pipeline\.lock is invalid/);
  // The lock is read through the trust boundary: a path leaving the project refuses the record.
  assert.match(
    (await p.ok(['exp', 'apply', 'evil'], 2)).stderr,
    /experiment `evil`: its recorded pipeline\.lock is invalid .*leaves the project/,
  );
  assert.equal(p.exists('../outside.txt'), false);
  assert.ok(!readdirSync(p.path('..')).includes('outside.txt'));
  // gc reads the records too, and is not stopped by the damaged ones.
  await p.ok(['gc']);
});

test('failed and --dry runs record nothing', async () => {
  const p = project();
  await p.ok(['run', '--dry']);
  p.write('train.sh', 'exit 3\n');
  await p.ok(['run', '-n', 'boom'], 1);
  assert.equal(p.exists('.grow/exps'), false);
  assert.equal((await p.ok(['exp', 'show'])).stdout.trim(), 'no experiments yet: every `grow run` records one (see `grow exp --help`)');
});
