import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildGraph, selectTargets } from '../../src/pipeline/graph.ts';
import { loadPipeline } from '../../src/pipeline/spec/index.ts';
import { errorOf, project, yaml } from './spec-helpers.ts';

const CHAIN = yaml(`
  stages:
    report:
      cmd: report
      deps: [artifacts/eval]
      outs: [artifacts/report.html]
    download:
      cmd: dl
      outs: [artifacts/data]
    tokenize:
      cmd: tok
      deps: [artifacts/data/train.txt]
      outs: [artifacts/tokens]
    train_small:
      foreach: [1, 2]
      do:
        cmd: train \${item}
        deps: [artifacts/tokens]
        outs: ["artifacts/models/small-\${item}"]
    train_m0:
      cmd: m0
      deps: [artifacts/tokens]
      outs: [artifacts/models/m0]
    evaluate:
      cmd: eval
      deps: [artifacts/models]
      outs: [artifacts/eval]
    lonely:
      cmd: lonely
`);

test('edges follow deps into, onto and around outs; topological order keeps declaration order otherwise', async () => {
  const p = await loadPipeline(project({ 'pipeline.yaml': CHAIN }));
  const g = buildGraph(p);
  assert.deepEqual(g.upstream('tokenize'), ['download']);
  // evaluate depends on the directory holding several outs
  assert.deepEqual(g.upstream('evaluate'), ['train_small@1', 'train_small@2', 'train_m0']);
  assert.deepEqual(g.via('train_m0', 'evaluate'), ['artifacts/models/m0']);
  assert.deepEqual(g.downstream('tokenize'), ['train_small@1', 'train_small@2', 'train_m0']);
  assert.deepEqual(g.topoOrder(), ['download', 'tokenize', 'train_small@1', 'train_small@2', 'train_m0', 'evaluate', 'report', 'lonely']);
});

test('selectTargets: upstream by default, single item, downstream, groups, all', async () => {
  const p = await loadPipeline(project({ 'pipeline.yaml': CHAIN }));
  const g = buildGraph(p);
  assert.deepEqual(selectTargets(p, g, [], {}), g.topoOrder());
  assert.deepEqual(selectTargets(p, g, ['train_small@2'], {}), ['download', 'tokenize', 'train_small@2']);
  assert.deepEqual(selectTargets(p, g, ['train_small'], {}), ['download', 'tokenize', 'train_small@1', 'train_small@2']);
  assert.deepEqual(selectTargets(p, g, ['train_small'], { singleItem: true }), ['train_small@1', 'train_small@2']);
  assert.deepEqual(selectTargets(p, g, ['evaluate', 'tokenize'], { singleItem: true }), ['tokenize', 'evaluate']);
  assert.deepEqual(selectTargets(p, g, ['train_m0'], { downstream: true }), ['train_m0', 'evaluate', 'report']);
  assert.deepEqual(selectTargets(p, g, ['pipeline.yaml:lonely'], {}), ['lonely']);
  const e = await errorOf(() => selectTargets(p, g, ['train_smal'], {}));
  assert.equal(e.exitCode, 2);
  assert.match(e.message, /unknown stage "train_smal".*did you mean "train_small"/);
});
