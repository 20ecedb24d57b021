/** Every mistake a user can make in pipeline.yaml: message with file:line:col and the fix. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadPipeline } from '../../src/pipeline/spec/index.ts';
import { ConfigError } from '../../src/pipeline/errors.ts';
import { errorOf, project, yaml } from './spec-helpers.ts';

async function loadError(pipeline: string, files: Record<string, string> = {}) {
  const root = project({ ...files, 'pipeline.yaml': yaml(pipeline) });
  const e = await errorOf(() => loadPipeline(root));
  assert.ok(e instanceof ConfigError, `expected a ConfigError, got ${e.name}: ${e.message}`);
  assert.equal(e.exitCode, 2);
  return e;
}

test('unknown stage field: position of the key and the nearest valid name', async () => {
  const e = await loadError(`
    stages:
      train:
        cmd: train
        outz: [model]
  `);
  assert.match(e.message, /^pipeline\.yaml:4:5: unknown field "outz" in stage "train"\. did you mean "outs"\?/);
  assert.match(e.text, /valid fields here: cmd, wdir, deps/);
});

test('unknown top-level field', async () => {
  const e = await loadError(`
    stages:
      a: {cmd: x}
    stage:
      b: {cmd: y}
  `);
  assert.match(e.message, /^pipeline\.yaml:3:1: unknown field "stage" in the pipeline file\. did you mean "stages"\?/);
});

test('unknown out flag, inside a do body', async () => {
  const e = await loadError(`
    stages:
      train:
        foreach: [1, 2]
        do:
          cmd: train
          outs:
            - model: {cahce: false}
  `);
  assert.match(e.message, /^pipeline\.yaml:7:19: unknown field "cahce" in "model" of stage "train"\. did you mean "cache"\?/);
});

test('duplicate YAML keys and duplicate stage names give the position of the second one', async () => {
  const e = await loadError(`
    stages:
      train:
        cmd: a
      train:
        cmd: b
  `);
  assert.match(e.message, /^pipeline\.yaml:4:3: duplicate key "train"/);
  const e2 = await loadError(`
    stages:
      train:
        cmd: a
        deps: [x]
        deps: [y]
  `);
  assert.match(e2.message, /^pipeline\.yaml:5:5: duplicate key "deps"/);
  const e3 = await loadError(`
    stages:
      train:
        foreach: [1, "1"]
        do:
          cmd: b
  `);
  assert.match(e3.message, /^pipeline\.yaml:2:3: stage name "train@1" is defined twice/);
  const e4 = await loadError(`
    stages:
      train@1:
        cmd: a
  `);
  assert.match(e4.message, /^pipeline\.yaml:2:3: invalid stage name "train@1"/);
  assert.match(e4.text, /"@" is reserved/);
});

test('invalid YAML syntax names line and column', async () => {
  const e = await loadError(`
    stages:
      a:
        cmd: [x, y
        deps: []
  `);
  assert.match(e.message, /^pipeline\.yaml:\d+:\d+: invalid YAML/);
});

test('missing cmd, wrong types, bad enum values', async () => {
  const noCmd = await loadError(`
    stages:
      a:
        deps: [x]
  `);
  assert.match(noCmd.message, /^pipeline\.yaml:2:3: stage "a" has no "cmd"/);
  assert.match(noCmd.text, /add `cmd: <command>`/);

  const deps = await loadError(`
    stages:
      a:
        cmd: x
        deps: data.csv
  `);
  assert.match(
    deps.message,
    /^pipeline\.yaml:4:11: "deps" in stage "a" must be a list, or a `\$\{\.\.\.\}` template; got the string "data\.csv"/,
  );

  const cmd = await loadError(`
    stages:
      a:
        cmd: []
  `);
  assert.match(cmd.message, /^pipeline\.yaml:3:10: /);

  const exec = await loadError(`
    stages:
      a:
        cmd: x
        executor: kubernetes
  `);
  assert.match(exec.message, /^pipeline\.yaml:4:15: "executor" in stage "a" must be one of "local", "slurm", not the string "kubernetes"/);

  const frozen = await loadError(`
    stages:
      a:
        cmd: x
        frozen: yes please
  `);
  assert.match(frozen.message, /^pipeline\.yaml:4:13: "frozen" in stage "a" must be true or false/);

  const cpus = await loadError(`
    stages:
      a:
        cmd: x
        resources: {cpus: 0}
  `);
  assert.match(cpus.message, /^pipeline\.yaml:4:23: /);
  assert.match(cpus.message, />= 1/);
});

test('foreach mistakes: fields beside foreach, missing do, not a list after interpolation', async () => {
  const beside = await loadError(`
    stages:
      a:
        foreach: [1]
        cmd: x
        do:
          cmd: y
  `);
  assert.match(beside.message, /^pipeline\.yaml:4:5: "cmd" is not allowed beside "foreach" in stage "a"/);
  assert.match(beside.text, /move the stage fields under `do:`/);

  const noDo = await loadError(`
    stages:
      a:
        foreach: [1]
  `);
  assert.match(noDo.message, /^pipeline\.yaml:3:5: "foreach" needs "do"/);

  const scalar = await loadError(
    `
    stages:
      a:
        foreach: \${seed}
        do:
          cmd: y
  `,
    { 'params.yaml': 'seed: 3\n' },
  );
  assert.match(scalar.message, /^pipeline\.yaml:3:14: foreach of stage "a" must be a list or a mapping, got the number 3/);

  const literal = await loadError(`
    stages:
      a:
        foreach: 3
        do:
          cmd: y
  `);
  assert.match(literal.message, /^pipeline\.yaml:3:14: /);

  const axis = await loadError(
    `
    stages:
      a:
        matrix:
          seed: \${seed}
        cmd: y
  `,
    { 'params.yaml': 'seed: 3\n' },
  );
  assert.match(axis.message, /^pipeline\.yaml:4:13: matrix axis "seed" of stage "a" must be a non-empty list/);
});

test('a missing variable points at the string and lists what exists', async () => {
  const e = await loadError(
    `
    vars:
      - out: artifacts
    stages:
      a:
        cmd: train --lr \${train.lrr} --out \${out}
  `,
    { 'params.yaml': 'train: {lr: 0.1, epochs: 2}\n' },
  );
  assert.match(e.message, /^pipeline\.yaml:5:10: cannot interpolate \$\{train\.lrr\}: "train" has no key "lrr"\. Available: lr, epochs\./);
  assert.match(e.text, /did you mean \$\{train\.lr\}\?/);

  const e2 = await loadError(`
    stages:
      a:
        foreach: [1]
        do:
          cmd: run \${itme}
  `);
  assert.match(e2.message, /^pipeline\.yaml:5:12: cannot interpolate \$\{itme\}: no variable "itme"\. Available names: item\./);
});

test('a list or mapping cannot be embedded in a longer string', async () => {
  const e = await loadError(`
    vars:
      - sizes: [1, 2]
    stages:
      a:
        cmd: run \${sizes}
  `);
  assert.match(e.message, /^pipeline\.yaml:5:10: \$\{sizes\} is a list and cannot be part of a longer string/);
});

test('vars cannot redefine a params name (as DVC)', async () => {
  const e = await loadError(
    `
    vars:
      - lr: 0.5
    stages:
      a: {cmd: x}
  `,
    { 'params.yaml': 'lr: 0.1\n' },
  );
  assert.match(e.message, /^pipeline\.yaml:2:5: vars cannot redefine "lr", already defined by params\.yaml/);
});

test('invalid stage names', async () => {
  const e = await loadError(`
    stages:
      "train small":
        cmd: x
  `);
  assert.match(e.message, /^pipeline\.yaml:2:3: invalid stage name "train small"/);
});

test('paths that leave the project: .., absolute, wdir, symlink', async () => {
  const up = await loadError(`
    stages:
      a:
        cmd: x
        deps: [../secret.txt]
  `);
  assert.match(up.message, /^pipeline\.yaml:4:12: dep of stage "a" "\.\.\/secret\.txt" leads outside the project/);

  const abs = await loadError(`
    stages:
      a:
        cmd: x
        outs: [/etc/passwd]
  `);
  assert.match(abs.message, /^pipeline\.yaml:4:12: out of stage "a" the absolute path "\/etc\/passwd" is outside the project/);

  const wdir = await loadError(`
    stages:
      a:
        cmd: x
        wdir: sub
        outs: [../../x]
  `);
  assert.match(wdir.message, /^pipeline\.yaml:5:12: .*from wdir sub.*outside the project/);

  const flagged = await loadError(`
    stages:
      a:
        cmd: x
        outs:
          - ../x: {cache: false}
  `);
  assert.match(flagged.message, /^pipeline\.yaml:5:9: /);
});

test('a symlink pointing outside the root is an escape, even when the out does not exist yet', async () => {
  const { symlinkSync, mkdtempSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const path = await import('node:path');
  const outside = mkdtempSync(path.join(tmpdir(), 'grow-outside-'));
  const root = project({
    'pipeline.yaml': yaml(`
      stages:
        a:
          cmd: x
          outs: [data/link/model.bin]
        b:
          cmd: y
          deps: [inner/file]
    `),
    'real/file': 'x',
  });
  symlinkSync(outside, path.join(root, 'data-link-target-placeholder'));
  const { mkdirSync } = await import('node:fs');
  mkdirSync(path.join(root, 'data'));
  symlinkSync(outside, path.join(root, 'data', 'link'));
  symlinkSync(path.join(root, 'real'), path.join(root, 'inner')); // inside: fine
  const e = await errorOf(() => loadPipeline(root));
  assert.match(
    e.message,
    /^pipeline\.yaml:4:12: out of stage "a" "data\/link\/model\.bin" resolves through a symlink to .*grow-outside-.*model\.bin, outside the project/,
  );

  // A dangling symlink still tells where it leads.
  const root2 = project({ 'pipeline.yaml': 'stages:\n  a:\n    cmd: x\n    outs: [out]\n' });
  symlinkSync(path.join(outside, 'nothing-here'), path.join(root2, 'out'));
  const e2 = await errorOf(() => loadPipeline(root2));
  assert.match(e2.message, /^pipeline\.yaml:4:12: .*resolves through a symlink/);

  const ok = project({ 'pipeline.yaml': 'stages:\n  b:\n    cmd: y\n    deps: [inner/file]\n', 'real/file': 'x' });
  symlinkSync(path.join(ok, 'real'), path.join(ok, 'inner'));
  assert.deepEqual((await loadPipeline(ok)).stages[0].deps, ['inner/file']);
});

test('the pipeline file must be a mapping with stages', async () => {
  const empty = await loadError('\n');
  assert.match(empty.message, /^pipeline\.yaml:1:1: the pipeline file is empty/);
  const noStages = await loadError('vars: []\n');
  assert.match(noStages.message, /^pipeline\.yaml:1:1: the pipeline file has no "stages"/);
});

test('YAML 1.1 booleans, two outs in one item, empty matrix: messages say what to write', async () => {
  const yes = await loadError(`
    stages:
      a:
        cmd: x
        outs:
          - model: {cache: no}
  `);
  assert.match(yes.message, /^pipeline\.yaml:5:24: "cache" in stage "a" must be true or false/);
  assert.match(yes.text, /in YAML 1\.2, yes\/no\/on\/off are strings/);

  const two = await loadError(`
    stages:
      a:
        cmd: x
        outs:
          - {a: {cache: false}, b: {persist: true}}
  `);
  assert.match(two.message, /^pipeline\.yaml:5:9: item 1 of "outs" in stage "a" must name one path, with its flags \(2 keys found\)/);
  assert.match(two.text, /each output as its own list item/);

  const empty = await loadError(`
    stages:
      a:
        matrix: {}
        cmd: x
  `);
  assert.match(empty.message, /^pipeline\.yaml:3:13: "matrix" in stage "a" must not be empty/);
});
