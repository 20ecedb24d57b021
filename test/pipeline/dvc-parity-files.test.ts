/**
 * DVC parity, files: every field DVC accepts loads (used where grow can, else one warning each),
 * and a DVC project's dvc.yaml runs with no edit, without dvc.lock ever being written.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { record, TestProject } from '../helpers/grow-project.ts';

const projects: TestProject[] = [];
after(() => projects.forEach((p) => p.cleanup()));

function project(files: Record<string, string>): TestProject {
  const p = new TestProject(files);
  projects.push(p);
  return p;
}

const DVC_FIELDS = `params:
  - params.yaml
  - extra.json
metrics:
  - summary.json
plots:
  - loss.csv:
      x: step
      y: loss
datasets:
  - name: d
    type: dvc
    url: x
artifacts:
  model:
    path: model.txt
    type: model
stages:
  train:
    meta: {owner: someone, tags: [a, b]}
    desc: trains
    cmd: ${record} && echo m > model.txt && echo '{"acc":1}' > m.json && mkdir -p ck && echo step,loss > loss.csv
    params: [lr]
    outs:
      - model.txt:
          desc: the model
          meta: {x: 1}
          type: model
          labels: [nlp]
          push: false
          remote: elsewhere
      - ck:
          checkpoint: true
    metrics:
      - m.json:
          cache: false
          desc: metrics
          remote: elsewhere
    plots:
      - loss.csv:
          cache: false
          x: step
          y: loss
          header: true
          desc: the loss
          push: true
`;

test('fields DVC accepts load: meta, desc/meta/type/labels/push/remote/checkpoint on outs, top-level artifacts/metrics/plots/params list', async () => {
  const p = project({
    'params.yaml': 'lr: 1\n',
    'extra.json': '{"k": 1}\n',
    'summary.json': '{"total": 3}\n',
    'pipeline.yaml': DVC_FIELDS,
  });
  const r = await p.ok(['run']);
  assert.deepEqual(p.calls(), ['train']);
  const warnings = r.stderr.split('\n').filter((l) => l.startsWith('grow: warning:'));
  // One warning per unused kind of field, each naming where it is.
  assert.equal(warnings.length, 6, r.stderr);
  for (const word of ['`plots`', '`artifacts`', '`datasets`', '`push`', '`remote`', '`checkpoint: true`']) {
    assert.equal(warnings.filter((w) => w.includes(word)).length, 1, `${word}: ${r.stderr}`);
  }
  assert.match(r.stderr, /pipeline\.yaml:\d+:\d+: `push` on outputs/);
  // checkpoint: true is persist: the out survives a re-run.
  p.write('ck/state', 'keep\n');
  p.write('params.yaml', 'lr: 2\n');
  await p.ok(['run']);
  assert.equal(p.read('ck/state'), 'keep\n');
  // Top-level metrics files are shown with the stages' metrics.
  const m = await p.ok(['metrics', 'show']);
  assert.match(m.stdout, /summary\.json\s+total\s+3/);
  assert.match(m.stdout, /m\.json\s+acc\s+1/);
  assert.equal((await p.ok(['status'])).code, 0);
});

test('a directory with dvc.yaml and no pipeline.yaml runs it; dvc.lock is never written or read', async () => {
  const p = project({
    'params.yaml': 'n: 2\n',
    'dvc.lock': 'schema: "2.0"\nstages: {}\n',
    'dvc.yaml': `stages:
  gen:
    cmd: ${record} && seq \${n} > nums.txt && echo "$DVC_STAGE $DVC_ROOT" > env.txt
    params: [n]
    outs: [nums.txt]
  sum:
    cmd: ${record} && awk '{s+=$1} END {print s}' nums.txt > sum.txt
    deps: [nums.txt]
    outs: [sum.txt]
`,
  });
  const dvcLock = p.read('dvc.lock');
  await p.ok(['run']);
  assert.deepEqual(p.calls(), ['gen', 'sum']);
  assert.equal(p.read('sum.txt'), '3\n');
  assert.equal(p.read('env.txt'), `gen ${p.dir}\n`, 'DVC_STAGE and DVC_ROOT are set, as dvc repro sets them');
  assert.equal(p.read('dvc.lock'), dvcLock, 'dvc.lock untouched');
  assert.ok(p.exists('pipeline.lock'));
  await p.ok(['run']);
  assert.deepEqual(p.calls(), []);
  const st = await p.ok(['status', 'dvc.yaml:sum']);
  assert.match(st.stdout, /sum: up to date/);
  // An error names dvc.yaml.
  p.write('dvc.yaml', 'stages:\n  gen:\n    cmd: echo ${nope}\n');
  const e = await p.ok(['status'], 2);
  assert.match(e.stderr, /^grow: dvc\.yaml:3:\d+: cannot interpolate/);
  // pipeline.yaml, when present, wins.
  p.write('pipeline.yaml', `stages:\n  own:\n    cmd: ${record}\n`);
  await p.ok(['run']);
  assert.deepEqual(p.calls(), ['own']);
  assert.equal(p.read('dvc.lock'), dvcLock);
});
