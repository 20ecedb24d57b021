/** Params values, overlays and --set: what a run sees, canonical whatever the key order. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { loadPipeline } from '../../src/pipeline/spec/index.ts';
import { errorOf, project, yaml } from './spec-helpers.ts';

const EXPERIMENT = yaml(`
  train:
    lr: 0.003
    epochs: 3
    schedule: {warmup: 10, kind: cosine}
  model: {d: 64, layers: 2}
  growth: {method: stack, methods: [stack, width]}
`);

const PIPELINE = yaml(`
  params: params/experiment.yaml
  stages:
    train:
      cmd: train --lr \${train.lr} --method \${growth.method}
      params: [train.lr, train.schedule, model]
    whole:
      cmd: whole
      params:
        - params/experiment.yaml:
    other:
      cmd: other
      params:
        - params/other.yaml: [x.y]
`);

function files(extra: Record<string, string> = {}) {
  return { 'params/experiment.yaml': EXPERIMENT, 'params/other.yaml': 'x: {y: 1, z: 2}\n', 'pipeline.yaml': PIPELINE, ...extra };
}

test('stageValues: listed keys (dotted subtrees whole), whole files under "", canonical key order', async () => {
  const p = await loadPipeline(project(files()));
  const [train, whole, other] = p.stages;
  const v = p.params.stageValues(train);
  assert.deepEqual(v, {
    'params/experiment.yaml': { model: { d: 64, layers: 2 }, 'train.lr': 0.003, 'train.schedule': { kind: 'cosine', warmup: 10 } },
  });
  assert.deepEqual(Object.keys(v['params/experiment.yaml']['train.schedule'] as object), ['kind', 'warmup']);
  assert.deepEqual(Object.keys(p.params.stageValues(whole)['params/experiment.yaml']), ['']);
  assert.deepEqual(p.params.stageValues(other), { 'params/other.yaml': { 'x.y': 1 } });
  assert.equal(p.params.value('params/experiment.yaml', 'growth.methods[1]'), 'width');
  assert.deepEqual(p.params.tree('params/other.yaml'), { x: { y: 1, z: 2 } });
  assert.deepEqual(p.params.overrides(), {});
  assert.deepEqual(p.paramsFiles.sort(), ['params/experiment.yaml', 'params/other.yaml']);
});

test('values do not depend on key order or formatting in the YAML file', async () => {
  const reordered = yaml(`
    # comments and flow style change nothing
    growth: {methods: [stack, width], method: stack}
    model:
      layers: 2
      d: 64
    train: {schedule: {kind: cosine, warmup: 10}, epochs: 3, lr: 3.0e-3}
  `);
  const a = await loadPipeline(project(files()));
  const b = await loadPipeline(project(files({ 'params/experiment.yaml': reordered })));
  for (let i = 0; i < 3; i++) {
    assert.equal(JSON.stringify(a.params.stageValues(a.stages[i])), JSON.stringify(b.params.stageValues(b.stages[i])));
  }
  assert.equal(JSON.stringify(a.params.tree('params/experiment.yaml')), JSON.stringify(b.params.tree('params/experiment.yaml')));
});

test('overlays and --set are laid over the default params file in order, without touching the disk', async () => {
  const root = project(
    files({
      'params/smoke.yaml': 'train: {lr: 0.1, epochs: 1}\nmodel: {d: 8}\n',
      'second.yaml': 'train: {lr: 0.2}\n',
    }),
  );
  const before = readFileSync(path.join(root, 'params/experiment.yaml'), 'utf8');
  const p = await loadPipeline(root, {
    overlays: ['params/smoke.yaml', path.join(root, 'second.yaml')],
    set: ['model.layers=4', 'growth.methods=[a, b]', 'params/other.yaml:x.z=hello', '+train.new=true'],
  });
  assert.equal(readFileSync(path.join(root, 'params/experiment.yaml'), 'utf8'), before);
  assert.deepEqual(p.params.stageValues(p.stages[0])['params/experiment.yaml'], {
    model: { d: 8, layers: 4 },
    'train.lr': 0.2,
    'train.schedule': { kind: 'cosine', warmup: 10 },
  });
  // Interpolation sees the same effective values.
  assert.deepEqual(p.stages[0].cmd, ['train --lr 0.2 --method stack']);
  assert.equal(p.params.value('params/other.yaml', 'x.z'), 'hello');
  assert.deepEqual(p.params.overrides(), {
    'params/experiment.yaml': { growth: { methods: ['a', 'b'] }, model: { d: 8, layers: 4 }, train: { epochs: 1, lr: 0.2, new: true } },
    'params/other.yaml': { x: { z: 'hello' } },
  });
  assert.ok(p.paramsFiles.includes('params/smoke.yaml'));
  assert.ok(p.paramsFiles.includes('second.yaml'));
  assert.ok(p.paramsFiles.every((f) => !path.isAbsolute(f)));
});

test('--set parses the value as YAML: numbers, booleans, strings', async () => {
  const p = await loadPipeline(project(files()), { set: ['train.lr=1e-4', 'train.epochs=10', 'growth.method=ligo', 'model.d=null'] });
  assert.equal(p.params.value('params/experiment.yaml', 'train.lr'), 1e-4);
  assert.equal(p.params.value('params/experiment.yaml', 'train.epochs'), 10);
  assert.equal(p.params.value('params/experiment.yaml', 'growth.method'), 'ligo');
  assert.equal(p.params.value('params/experiment.yaml', 'model.d'), null);
});

test('--set of a key the file lacks is an error with the nearest key, unless written +key', async () => {
  const e = await errorOf(() => loadPipeline(project(files()), { set: ['train.lrr=0.1'] }));
  assert.equal(e.exitCode, 2);
  assert.match(e.message, /--set "train\.lrr=0\.1": params\/experiment\.yaml has no key "train\.lrr"\. did you mean "train\.lr"\?/);
  assert.match(e.text, /--set \+train\.lrr=0\.1/);
  const bad = await errorOf(() => loadPipeline(project(files()), { set: ['train.lr'] }));
  assert.match(bad.message, /not key=value/);
});

test('a missing overlay file is named', async () => {
  const e = await errorOf(() => loadPipeline(project(files()), { overlays: ['params/nope.yaml'] }));
  assert.match(e.message, /^params\/nope\.yaml: params overlay file not found/);
});

test('value() of a missing key throws a ConfigError naming key and file', async () => {
  const p = await loadPipeline(project(files()));
  const e = await errorOf(() => p.params.value('params/experiment.yaml', 'model.width'));
  assert.match(e.message, /params key "model\.width" is not defined in params\/experiment\.yaml/);
  const e2 = await errorOf(() => p.params.tree('params/missing.yaml'));
  assert.match(e2.message, /^params\/missing\.yaml: params file not found/);
});

test('a params file that is not a mapping, or not valid YAML, is an error with its position', async () => {
  const e = await errorOf(() => loadPipeline(project(files({ 'params/experiment.yaml': '- 1\n- 2\n' }))));
  assert.match(e.message, /^params\/experiment\.yaml:1:1: a params file must be a mapping/);
  const e2 = await errorOf(() => loadPipeline(project(files({ 'params/experiment.yaml': 'a: 1\na: 2\n' }))));
  assert.match(e2.message, /^params\/experiment\.yaml:2:1: duplicate key "a"/);
});

test('JSON params files are read; TOML and Python ones are refused with a clear message', async () => {
  const p = await loadPipeline(
    project({
      'cfg.json': '{"b": {"c": [1, 2]}, "a": 1}',
      'pipeline.yaml': 'stages:\n  s:\n    cmd: s\n    params:\n      - cfg.json: [b.c]\n',
    }),
  );
  assert.deepEqual(p.params.stageValues(p.stages[0]), { 'cfg.json': { 'b.c': [1, 2] } });
  const e = await errorOf(() =>
    loadPipeline(project({ 'cfg.toml': 'a = 1\n', 'pipeline.yaml': 'stages:\n  s:\n    cmd: s\n    params:\n      - cfg.toml: [a]\n' })),
  );
  assert.match(e.message, /\.toml params files are not supported/);
  assert.match(e.text, /YAML or JSON/);
});

test('--params/--set against a default params file that does not exist is an error naming it', async () => {
  const root = project({ 'over.yaml': 'a: 1\n', 'pipeline.yaml': 'stages:\n  s:\n    cmd: s\n' });
  const e = await errorOf(() => loadPipeline(root, { overlays: ['over.yaml'] }));
  assert.match(e.message, /^params\.yaml: params file not found, but --params\/--set would change it/);
  const e2 = await errorOf(() => loadPipeline(root, { set: ['+a=1'] }));
  assert.match(e2.message, /^params\.yaml: params file not found/);
});
