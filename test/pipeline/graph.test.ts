import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildGraph, selectTargets } from '../../src/pipeline/plan/graph.ts';
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

async function graphError(pipeline: string) {
  const p = await loadPipeline(project({ 'pipeline.yaml': yaml(pipeline) }));
  const e = await errorOf(() => buildGraph(p));
  assert.equal(e.exitCode, 2);
  return e;
}

test('a cycle is printed stage by stage with the paths that link them', async () => {
  const e = await graphError(`
    stages:
      a:
        cmd: a
        deps: [c.out]
        outs: [a.out]
      b:
        cmd: b
        deps: [a.out]
        outs: [b.out]
      c:
        cmd: c
        deps: [b.out/part]
        outs: [c.out]
  `);
  assert.match(e.message, /^pipeline\.yaml:2:3: dependency cycle: a → b → c → a/);
  assert.match(e.message, /a → b \(via a\.out\)/);
  assert.match(e.message, /b → c \(via b\.out\)/);
  assert.match(e.message, /c → a \(via c\.out\)/);
  assert.match(e.text, /break one of these edges/);
});

test('a stage reading its own out', async () => {
  const e = await graphError(`
    stages:
      a:
        cmd: a
        deps: [data/x]
        outs: [data]
  `);
  assert.match(e.message, /^pipeline\.yaml:2:3: stage "a" depends on its own out \(data\)/);
  assert.match(e.text, /remove the path from deps or from outs/);
});

test('two stages claiming one out name both stages and the path', async () => {
  const e = await graphError(`
    stages:
      a:
        cmd: a
        outs: [model]
      b:
        cmd: b
        metrics: [./model/]
  `);
  assert.match(
    e.message,
    /^pipeline\.yaml:5:3: stages "a" \(pipeline\.yaml:2:3\) and "b" \(pipeline\.yaml:5:3\) both claim the out "model"/,
  );
  assert.match(e.text, /give one of them another path/);
});

test('an out nested in another out (same or different stage) is an overlap', async () => {
  const e = await graphError(`
    stages:
      a:
        cmd: a
        outs: [artifacts/models]
      b:
        cmd: b
        outs: [artifacts/models/m0]
  `);
  assert.match(
    e.message,
    /^pipeline\.yaml:5:3: the out "artifacts\/models\/m0" of stage "b" lies inside the out "artifacts\/models" of stage "a"/,
  );
  assert.match(e.text, /make the outs disjoint/);
  // Siblings that share a name prefix do not overlap.
  const ok = await loadPipeline(project({ 'pipeline.yaml': 'stages:\n  a:\n    cmd: a\n    outs: [m, m0, m-1/x]\n' }));
  assert.doesNotThrow(() => buildGraph(ok));
});

test('a hand-built Pipeline with paths outside the project is rejected', () => {
  const stage = {
    name: 's',
    cmd: ['x'],
    wdir: '.',
    deps: ['../up'],
    params: [],
    outs: [],
    alwaysChanged: false,
    frozen: false,
    interruptible: false,
  };
  const p = { root: '/tmp/x', file: 'pipeline.yaml', defaultParamsFile: 'params.yaml', stages: [stage], paramsFiles: [] };
  assert.throws(() => buildGraph(p), /dep "\.\.\/up" of stage "s" is outside the project/);
  assert.throws(
    () =>
      buildGraph({ ...p, stages: [{ ...stage, deps: [], outs: [{ path: '/abs', cache: true, persist: false, kind: 'out' as const }] }] }),
    /out "\/abs" of stage "s" is outside the project/,
  );
});

test('upstream/downstream of an unknown stage is an error', async () => {
  const p = await loadPipeline(project({ 'pipeline.yaml': CHAIN }));
  const g = buildGraph(p);
  assert.throws(() => g.upstream('nope'), /unknown stage "nope"/);
});

test('a pipeline that fails the graph checks leaves no parse cache behind (bad input changes nothing)', async () => {
  const { existsSync } = await import('node:fs');
  const path = await import('node:path');
  const root = project({ 'pipeline.yaml': 'stages:\n  a:\n    cmd: a\n    outs: [x]\n  b:\n    cmd: b\n    outs: [x]\n' });
  const p = await loadPipeline(root);
  assert.throws(() => buildGraph(p), /both claim the out "x"/);
  assert.equal(existsSync(path.join(root, '.grow')), false);
});
