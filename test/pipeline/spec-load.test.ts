import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadPipeline } from '../../src/pipeline/spec/index.ts';
import { errorOf, project, yaml } from './spec-helpers.ts';

const PARAMS = yaml(`
  train:
    lr: 0.003
    epochs: 3
  seeds: [1, 2]
  small: {d_model: 64, n_layer: 2}
`);

test('every stage field is read into a Stage', async () => {
  const root = project({
    'params/experiment.yaml': PARAMS,
    'other.yaml': 'a: {b: 1}\nc: 2\n',
    'pipeline.yaml': yaml(`
      params: params/experiment.yaml
      stages:
        prep:
          desc: Prepare the data
          cmd: node prep.js
          deps: [src/a.txt, ./data//raw/]
          params:
            - train.lr
            - small
            - other.yaml: [a.b]
          outs:
            - artifacts/prep
            - artifacts/ckpt: {cache: false, persist: true}
          metrics:
            - artifacts/m.json: {cache: false}
          plots:
            - artifacts/loss.csv: {x: step, y: loss}
          always_changed: true
          frozen: false
          interruptible: true
          executor: slurm
          resources: {cpus: 4, gpus: 1, mem: 8G, time: 30, sbatch: [--partition=gpu]}
        sub:
          wdir: stages/sub
          cmd:
            - ./a.sh
            - ./b.sh
          deps: [../../artifacts/prep/x.bin, input.txt]
          params:
            - ../../other.yaml:
          outs: [out]
    `),
  });
  const p = await loadPipeline(root);
  assert.equal(p.root, root);
  assert.equal(p.file, 'pipeline.yaml');
  assert.equal(p.defaultParamsFile, 'params/experiment.yaml');
  const [prep, sub] = p.stages;
  assert.deepEqual(prep, {
    name: 'prep',
    cmd: ['node prep.js'],
    wdir: '.',
    deps: ['src/a.txt', 'data/raw'],
    params: [
      { file: 'params/experiment.yaml', keys: ['train.lr', 'small'] },
      { file: 'other.yaml', keys: ['a.b'] },
    ],
    outs: [
      { path: 'artifacts/prep', cache: true, persist: false, kind: 'out' },
      { path: 'artifacts/ckpt', cache: false, persist: true, kind: 'out' },
      { path: 'artifacts/m.json', cache: false, persist: false, kind: 'metrics' },
      { path: 'artifacts/loss.csv', cache: true, persist: false, kind: 'plots' },
    ],
    desc: 'Prepare the data',
    alwaysChanged: true,
    frozen: false,
    interruptible: true,
    executor: 'slurm',
    resources: { cpus: 4, gpus: 1, mem: '8G', time: 30, sbatch: ['--partition=gpu'] },
    pos: { file: 'pipeline.yaml', line: 3, col: 3 },
  });
  assert.equal(sub.wdir, 'stages/sub');
  assert.deepEqual(sub.cmd, ['./a.sh', './b.sh']);
  assert.deepEqual(sub.deps, ['artifacts/prep/x.bin', 'stages/sub/input.txt']);
  assert.deepEqual(sub.params, [{ file: 'other.yaml', keys: null }]);
  assert.deepEqual(
    sub.outs.map((o) => o.path),
    ['stages/sub/out'],
  );
  assert.equal(sub.alwaysChanged, false);
  assert.equal(sub.executor, undefined);
  assert.deepEqual(p.paramsFiles.sort(), ['other.yaml', 'params/experiment.yaml']);
});

test('params.yaml at the root is the default params file when pipeline.yaml names none (DVC)', async () => {
  const root = project({
    'params.yaml': 'lr: 0.1\n',
    'pipeline.yaml': 'stages:\n  a:\n    cmd: run ${lr}\n    params: [lr]\n',
  });
  const p = await loadPipeline(root);
  assert.equal(p.defaultParamsFile, 'params.yaml');
  assert.deepEqual(p.stages[0].cmd, ['run 0.1']);
  assert.deepEqual(p.stages[0].params, [{ file: 'params.yaml', keys: ['lr'] }]);
});

test('a missing default params file is fine while nothing uses it', async () => {
  const root = project({ 'pipeline.yaml': 'stages:\n  a:\n    cmd: "true"\n' });
  const p = await loadPipeline(root);
  assert.deepEqual(p.paramsFiles, []);
  assert.deepEqual(p.stages[0].params, []);
});

test('a listed param missing from its file names the key, the file and the position', async () => {
  const root = project({
    'params/experiment.yaml': PARAMS,
    'pipeline.yaml': yaml(`
      params: params/experiment.yaml
      stages:
        train:
          cmd: train
          params: [train.lr, train.lrr]
    `),
  });
  const e = await errorOf(() => loadPipeline(root));
  assert.equal(e.exitCode, 2);
  assert.match(e.message, /^pipeline\.yaml:5:24: /);
  assert.match(e.text, /"train\.lrr"/);
  assert.match(e.text, /params\/experiment\.yaml/);
  assert.match(e.text, /did you mean "train\.lr"\?/);
});

test('an unknown params file is named with the stage and position', async () => {
  const root = project({
    'pipeline.yaml': 'stages:\n  a:\n    cmd: x\n    params:\n      - nope.yaml: [k]\n',
  });
  const e = await errorOf(() => loadPipeline(root));
  assert.match(e.message, /^pipeline\.yaml:5:9: params file "nope\.yaml" \(listed by stage "a"\) not found/);
});

test('a missing pipeline file is a ConfigError naming it', async () => {
  const root = project({});
  const e = await errorOf(() => loadPipeline(root));
  assert.match(e.message, /pipeline\.yaml: pipeline file not found/);
  const e2 = await errorOf(() => loadPipeline(root, { file: 'other.yaml' }));
  assert.match(e2.message, /^other\.yaml: /);
});

test('a second load reuses the parse from .grow/spec and gives the same pipeline and the same error positions', async () => {
  const { existsSync, readdirSync, writeFileSync } = await import('node:fs');
  const { buildGraph } = await import('../../src/pipeline/plan/graph.ts');
  const path = await import('node:path');
  const root = project({
    'params.yaml': 'lr: 0.1\nbig: .inf\n',
    'pipeline.yaml': yaml(`
      stages:
        a:
          cmd: run \${lr} \${big}
          params: [lr]
          outs: [x]
    `),
  });
  const first = await loadPipeline(root);
  assert.equal(existsSync(path.join(root, '.grow/spec')), false, 'nothing is cached before the graph checks pass');
  buildGraph(first);
  assert.ok(readdirSync(path.join(root, '.grow/spec')).length >= 1, 'the parse was cached');
  const second = await loadPipeline(root);
  const { params: _p1, ...a } = first;
  const { params: _p2, ...b } = second;
  assert.deepEqual(b, a);
  assert.deepEqual(second.stages[0].cmd, ['run 0.1 inf'], 'YAML .inf reads as Python prints it, as DVC writes it');
  // An error that needs a deeper position than the cached key positions still gets it.
  writeFileSync(path.join(root, 'params.yaml'), 'lrr: 0.1\nbig: 1\n');
  const e = await errorOf(() => loadPipeline(root));
  assert.match(e.message, /^pipeline\.yaml:3:10: cannot interpolate \$\{lr\}/);
  const uncached = await errorOf(() => loadPipeline(root, { parseCache: false }));
  assert.equal(uncached.message, e.message);
});

test('YAML anchors, aliases and merge keys work as in DVC files', async () => {
  const root = project({
    'pipeline.yaml': yaml(`
      stages:
        a:
          cmd: a
          deps: &common [src/lib, src/util]
          resources: &res {cpus: 2, mem: 4G}
        b:
          cmd: b
          deps: *common
          resources:
            <<: *res
            cpus: 8
    `),
  });
  const p = await loadPipeline(root);
  assert.deepEqual(p.stages[1].deps, ['src/lib', 'src/util']);
  assert.deepEqual(p.stages[1].resources, { cpus: 8, mem: '4G' });
});
