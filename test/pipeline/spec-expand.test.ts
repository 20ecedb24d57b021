/** foreach/matrix naming and interpolation typing. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadPipeline } from '../../src/pipeline/spec/index.ts';
import { project, yaml } from './spec-helpers.ts';

async function load(pipeline: string, files: Record<string, string> = {}) {
  return loadPipeline(project({ ...files, 'pipeline.yaml': yaml(pipeline) }));
}

test('foreach over scalars names items by value; ${item} in every string', async () => {
  const p = await load(`
    stages:
      train_small:
        foreach: [1, 2, 3]
        do:
          cmd: train --seed \${item}
          deps: [data]
          outs:
            - "models/small-\${item}"
            - "ckpt/\${item}": {persist: true}
  `);
  assert.deepEqual(
    p.stages.map((s) => s.name),
    ['train_small@1', 'train_small@2', 'train_small@3'],
  );
  assert.ok(p.stages.every((s) => s.group === 'train_small'));
  assert.deepEqual(p.stages[1].cmd, ['train --seed 2']);
  assert.deepEqual(p.stages[2].outs, [
    { path: 'models/small-3', cache: true, persist: false, kind: 'out' },
    { path: 'ckpt/3', cache: true, persist: true, kind: 'out' },
  ]);
  assert.deepEqual(p.stages[0].pos, { file: 'pipeline.yaml', line: 2, col: 3 });
});

test('foreach over mappings names items by index; over a mapping by key with ${key}', async () => {
  const p = await load(`
    stages:
      fit:
        foreach:
          - {d: 64, n: 2}
          - {d: 128, n: 4}
        do:
          cmd: fit --d \${item.d} --n \${item.n}
      size:
        foreach:
          small: {d: 64}
          large: {d: 256}
        do:
          cmd: size \${key} \${item.d}
          outs: ["out/\${key}"]
  `);
  assert.deepEqual(
    p.stages.map((s) => [s.name, s.cmd[0]]),
    [
      ['fit@0', 'fit --d 64 --n 2'],
      ['fit@1', 'fit --d 128 --n 4'],
      ['size@small', 'size small 64'],
      ['size@large', 'size large 256'],
    ],
  );
  assert.deepEqual(
    p.stages[3].outs.map((o) => o.path),
    ['out/large'],
  );
});

test('foreach: ${list} from params or vars', async () => {
  const p = await load(
    `
    vars:
      - models: {m0: {d: 8}, m1: {d: 16}}
    stages:
      a:
        foreach: \${seeds}
        do:
          cmd: a \${item}
      b:
        foreach: \${models}
        do:
          cmd: b \${key} \${item.d}
  `,
    { 'params.yaml': 'seeds: [7, 9]\n' },
  );
  assert.deepEqual(
    p.stages.map((s) => [s.name, s.cmd[0]]),
    [
      ['a@7', 'a 7'],
      ['a@9', 'a 9'],
      ['b@m0', 'b m0 8'],
      ['b@m1', 'b m1 16'],
    ],
  );
});

test('matrix: cartesian product, first axis slowest, named in axis order; ${item.axis}, ${key}', async () => {
  const p = await load(
    `
    stages:
      eval:
        matrix:
          model: [m0, m1]
          ds: \${datasets}
          cfg: [{lr: 1}, {lr: 2}]
        cmd: eval \${item.model} \${item.ds} \${item.cfg.lr}
        outs: ["eval/\${key}.json"]
  `,
    { 'params.yaml': 'datasets: [d1, d2]\n' },
  );
  assert.deepEqual(
    p.stages.map((s) => s.name),
    [
      'eval@m0-d1-cfg0',
      'eval@m0-d1-cfg1',
      'eval@m0-d2-cfg0',
      'eval@m0-d2-cfg1',
      'eval@m1-d1-cfg0',
      'eval@m1-d1-cfg1',
      'eval@m1-d2-cfg0',
      'eval@m1-d2-cfg1',
    ],
  );
  assert.deepEqual(p.stages[5].cmd, ['eval m1 d1 2']);
  assert.deepEqual(
    p.stages[5].outs.map((o) => o.path),
    ['eval/m1-d1-cfg1.json'],
  );
  assert.ok(p.stages.every((s) => s.group === 'eval'));
});

test('interpolation: a whole-string ${x} keeps its type; embedded values are written out; \\${ is literal', async () => {
  const p = await load(
    `
    vars:
      - flags: {frozen: true}
        n: 4
        out: artifacts
        deps_list: [a.txt, b.txt]
    stages:
      a:
        cmd:
          - echo \${lr} \${train.sizes[1]} \${train.sizes.0} \${flags.frozen} \${n}
          - echo '\\\${HOME}'
        frozen: \${flags.frozen}
        deps: \${deps_list}
        resources: {cpus: "\${n}", mem: 8G}
        outs: ["\${out}/x"]
  `,
    { 'params.yaml': 'lr: 0.001\ntrain: {sizes: [8, 16]}\n' },
  );
  const [a] = p.stages;
  assert.deepEqual(a.cmd, ['echo 0.001 16 8 true 4', "echo '${HOME}'"]);
  assert.equal(a.frozen, true);
  assert.deepEqual(a.deps, ['a.txt', 'b.txt']);
  assert.deepEqual(a.resources, { cpus: 4, mem: '8G' });
  assert.deepEqual(
    a.outs.map((o) => o.path),
    ['artifacts/x'],
  );
});

test('interpolated values are checked again: a template that yields the wrong type is an error at its position', async () => {
  const root = project({
    'params.yaml': 'flag: maybe\n',
    'pipeline.yaml': yaml(`
      stages:
        a:
          cmd: x
          frozen: \${flag}
    `),
  });
  await assert.rejects(
    loadPipeline(root),
    /^ConfigError: pipeline\.yaml:4:13: "frozen" in stage "a" must be true or false; got the string "maybe"/,
  );
});

test('vars from files, with key selection, relative to the pipeline file', async () => {
  const p = await load(
    `
    vars:
      - config/shared.yaml
      - config/more.yaml:model.d,tag
    stages:
      a:
        cmd: a \${shared.x} \${model.d} \${tag}
  `,
    { 'config/shared.yaml': 'shared: {x: 1}\n', 'config/more.yaml': 'model: {d: 5, n: 6}\ntag: v1\nother: 0\n' },
  );
  assert.deepEqual(p.stages[0].cmd, ['a 1 5 v1']);
  assert.ok(p.paramsFiles.includes('config/shared.yaml'));
  assert.ok(p.paramsFiles.includes('config/more.yaml'));
});

test('params entries inside foreach are interpolated and resolved per item', async () => {
  const p = await load(
    `
    stages:
      t:
        foreach: [small, large]
        do:
          cmd: t
          params: ["\${item}.d", "cfg/\${item}.yaml": [lr]]
  `,
    { 'params.yaml': 'small: {d: 1}\nlarge: {d: 2}\n', 'cfg/small.yaml': 'lr: 1\n', 'cfg/large.yaml': 'lr: 2\n' },
  );
  assert.deepEqual(p.stages[1].params, [
    { file: 'params.yaml', keys: ['large.d'] },
    { file: 'cfg/large.yaml', keys: ['lr'] },
  ]);
  assert.deepEqual(p.params.stageValues(p.stages[1]), { 'cfg/large.yaml': { lr: 2 }, 'params.yaml': { 'large.d': 2 } });
});

test('foreach over a params mapping expands in the order the file gives', async () => {
  const p = await load(
    `
    stages:
      m:
        foreach: \${models}
        do:
          cmd: m \${key}
  `,
    { 'params.yaml': 'models:\n  zeta: 1\n  alpha: 2\n  mid: 3\n' },
  );
  assert.deepEqual(
    p.stages.map((s) => s.name),
    ['m@zeta', 'm@alpha', 'm@mid'],
  );
  // while values handed to the engine stay canonical
  assert.deepEqual(Object.keys((p.params.tree('params.yaml') as { models: object }).models), ['alpha', 'mid', 'zeta']);
});

test('stage-level vars: inline or from a file (relative to the stage wdir), visible only in that stage', async () => {
  const p = await load(
    `
    vars:
      - out: artifacts
    stages:
      train:
        foreach: [small, large]
        do:
          wdir: configs/\${item}
          vars:
            - model.yaml
            - tag: "v1"
          cmd: train --d \${model.d} --tag \${item}-\${tag}
          outs: ["\${out}"]
      other:
        cmd: other \${out}
  `,
    { 'configs/small/model.yaml': 'model: {d: 8}\n', 'configs/large/model.yaml': 'model: {d: 64}\n' },
  );
  assert.deepEqual(
    p.stages.map((s) => [s.name, s.cmd[0], s.outs[0]?.path]),
    [
      ['train@small', 'train --d 8 --tag small-v1', 'configs/small/artifacts'],
      ['train@large', 'train --d 64 --tag large-v1', 'configs/large/artifacts'],
      ['other', 'other artifacts', undefined],
    ],
  );
  assert.ok(p.paramsFiles.includes('configs/large/model.yaml'));
  const root = project({
    'pipeline.yaml': yaml(`
      vars:
        - out: artifacts
      stages:
        a:
          vars:
            - out: elsewhere
          cmd: a
    `),
  });
  await assert.rejects(loadPipeline(root), /^ConfigError: pipeline\.yaml:6:9: vars cannot redefine "out"/);
});

test('in cmd, a mapping unpacks into --key value flags (DVC rules); elsewhere it is an error', async () => {
  const p = await load(
    `
    stages:
      train:
        cmd: python train.py \${train}
      only:
        cmd: \${train.opt}
  `,
    {
      'params.yaml': yaml(`
        train:
          lr: 0.001
          amp: true
          debug: false
          layers: [64, 128]
          name: my run
          opt: {beta1: 0.9, kind: adamw}
      `),
    },
  );
  assert.deepEqual(p.stages[0].cmd, ["python train.py --lr 0.001 --amp --layers 64 128 --name 'my run' --opt.beta1 0.9 --opt.kind adamw"]);
  assert.deepEqual(p.stages[1].cmd, ['--beta1 0.9 --kind adamw']);
  const root = project({ 'params.yaml': 'train: {lr: 1}\n', 'pipeline.yaml': 'stages:\n  a:\n    cmd: x\n    desc: about ${train}\n' });
  await assert.rejects(loadPipeline(root), /pipeline\.yaml:4:11: \$\{train\} is a mapping and cannot be part of a longer string/);
});
