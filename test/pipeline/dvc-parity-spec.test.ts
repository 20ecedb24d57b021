/**
 * DVC parity, reading pipeline files: vars (wdir-relative, loaded twice, no templates), numbers
 * printed as DVC prints them, bracket and non-ASCII names, whole-file params reasons, params diff
 * by leaf, bare-number metrics and the messages DVC users run into. All through the real CLI.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, test } from 'node:test';
import { TestProject } from '../helpers/grow-project.ts';

const projects: TestProject[] = [];
after(() => projects.forEach((p) => p.cleanup()));

function project(files: Record<string, string>): TestProject {
  const p = new TestProject(files);
  projects.push(p);
  return p;
}

test("a stage's vars files resolve relative to its wdir, also a templated wdir", async () => {
  const p = project({
    'params.yaml': 'sub: b\n',
    'a/conf.yaml': 'x: from-a\n',
    'b/conf.yaml': 'y: from-b\n',
    'pipeline.yaml': `stages:
  one:
    wdir: a
    vars: [conf.yaml]
    cmd: echo \${x} > out.txt
    outs: [out.txt]
  two:
    wdir: \${sub}
    vars: [conf.yaml]
    cmd: echo \${y} > out.txt
    outs: [out.txt]
`,
  });
  await p.ok(['run']);
  assert.equal(p.read('a/out.txt'), 'from-a\n');
  assert.equal(p.read('b/out.txt'), 'from-b\n');
});

test('the same vars file may be loaded twice; only a key with two different values is an error', async () => {
  const p = project({
    'params.yaml': 'lr: 1\n',
    'extra.yaml': 'seed: 7\nlr: 1\n',
    'pipeline.yaml': `vars:
  - params.yaml
  - extra.yaml
  - extra.yaml
  - extra.yaml:seed
stages:
  s:
    vars: [extra.yaml, {seed: 7}]
    cmd: echo \${seed} \${lr} > out.txt
    outs: [out.txt]
`,
  });
  await p.ok(['run']);
  assert.equal(p.read('out.txt'), '7 1\n');
  p.write('pipeline.yaml', p.read('pipeline.yaml').replace('{seed: 7}', '{seed: 8}'));
  const r = await p.ok(['run'], 2);
  assert.match(r.stderr, /pipeline\.yaml:8:\d+: vars cannot redefine "seed", already defined by extra\.yaml \(7 here 8\)/);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
});

test('${…} inside vars is refused with a clear error', async () => {
  for (const entry of ['"${name}.yaml"', '{foo: "${bar}"}']) {
    const p = project({
      'params.yaml': 'name: p\nbar: 1\n',
      'pipeline.yaml': `stages:\n  s:\n    vars: [${entry}]\n    cmd: echo hi\n`,
    });
    const r = await p.ok(['status'], 2);
    assert.match(r.stderr, /pipeline\.yaml:3:\d+: \$\{…\} is not allowed in vars/);
    assert.match(r.stderr, /hint: vars are read before anything is interpolated/);
  }
});

test('numbers keep the text DVC gives them: foreach [0.5, 1.0] makes build@1.0, ${lr} with lr: 1.0 is 1.0', async () => {
  const p = project({
    'params.yaml': 'lr: 1.0\nsteps: 100\nsizes: [2.0, 3]\nopts: {wd: 0.0}\n',
    'pipeline.yaml': `stages:
  build:
    foreach: [0.5, 1.0, 2]
    do:
      cmd: echo "\${item} \${lr} \${steps} \${sizes[0]} \${sizes.1}" > out-\${item}.txt
      outs:
        - out-\${item}.txt
  flags:
    cmd: echo \${opts} > flags.txt
    outs: [flags.txt]
  grid:
    matrix:
      lr: [0.1, 1.0]
      wd: [0.0]
    cmd: echo \${item.lr} \${key}
`,
  });
  const dry = await p.ok(['run', '--dry']);
  assert.match(dry.stdout, /build@0\.5/);
  assert.match(dry.stdout, /build@1\.0/);
  assert.match(dry.stdout, /build@2\b/);
  assert.match(dry.stdout, /grid@1\.0-0\.0/);
  assert.match(dry.stdout, /grid@0\.1-0\.0/);
  await p.ok(['run']);
  assert.equal(p.read('out-1.0.txt'), '1.0 1.0 100 2.0 3\n');
  assert.equal(p.read('flags.txt'), '--wd 0.0\n');
  await p.ok(['run', 'build@1.0']);
  // From params too, and again when the parse comes from the .grow/spec cache.
  p.write('params.yaml', p.read('params.yaml') + 'lrs: [0.1, 2.0]\n');
  p.write('pipeline.yaml', p.read('pipeline.yaml') + '  sweep:\n    foreach: ${lrs}\n    do:\n      cmd: echo ${item}\n');
  for (let i = 0; i < 2; i++) {
    const st = await p.ok(['status']);
    assert.match(st.stdout, /sweep@0\.1: stale/);
    assert.match(st.stdout, /sweep@2\.0: stale/);
  }
  await p.ok(['run', 'sweep@2.0']);
});

test('${item[key]} bracket access and non-ASCII names in ${…}', async () => {
  const p = project({
    'params.yaml': 'größe: 3\nmodelle: {klein: 1}\n',
    'pipeline.yaml': `stages:
  fit:
    foreach:
      - {name: a, lr: 0.1}
    do:
      cmd: echo \${item[name]} \${item[lr]} \${größe} \${modelle[klein]} > fit.txt
      outs: [fit.txt]
`,
  });
  await p.ok(['run']);
  assert.equal(p.read('fit.txt'), 'a 0.1 3 1\n');
});

test('a whole-file params dependency names each key in status reasons', async () => {
  const p = project({
    'params.yaml': 'ipsum: 1\ndolor: 2\n',
    'pipeline.yaml': `stages:
  s:
    cmd: echo x > x.txt
    params: [{params.yaml: null}]
    outs: [x.txt]
`,
  });
  await p.ok(['run']);
  p.write('params.yaml', 'ipsum: 5\nlorem: 3\n');
  const r = await p.ok(['status']);
  assert.match(r.stdout, /param params\.yaml:lorem added/);
  assert.match(r.stdout, /param params\.yaml:ipsum changed/);
  assert.match(r.stdout, /param params\.yaml:dolor removed/);
  assert.doesNotMatch(r.stdout, /params\.yaml changed/);
});

test('params diff on nested keys reports each leaf, in every output format', async () => {
  const p = project({
    'params.yaml': 'foo:\n  bar: baz\n  same: 1\nwhole: {a: {b: 1}}\n',
    'other.yaml': 'k: {x: 1}\n',
    'pipeline.yaml': `stages:
  s:
    cmd: echo x > x.txt
    params: [foo, {other.yaml: null}]
    outs: [x.txt]
`,
  });
  await p.ok(['run']);
  p.write('params.yaml', 'foo:\n  bar: qux\n  same: 1\nwhole: {a: {b: 1}}\n');
  p.write('other.yaml', 'k: {x: 2}\n');
  const text = await p.ok(['params', 'diff']);
  assert.match(text.stdout, /params\.yaml\s+foo\.bar\s+baz\s+qux/);
  assert.match(text.stdout, /other\.yaml\s+k\.x\s+1\s+2/);
  assert.doesNotMatch(text.stdout, /foo\.same/);
  const json = JSON.parse((await p.ok(['params', 'diff', '--json'])).stdout);
  assert.deepEqual(json['params.yaml'], { 'foo.bar': { old: 'baz', new: 'qux' } });
  assert.deepEqual(json['other.yaml'], { 'k.x': { old: 1, new: 2, change: 1 } });
  const all = JSON.parse((await p.ok(['params', 'diff', '--all', '--json'])).stdout);
  assert.deepEqual(Object.keys(all['params.yaml']).sort(), ['foo.bar', 'foo.same']);
});

test('params diff prints floats as DVC does (1.0 stays 1.0), in the table and in --json', async () => {
  const p = project({
    'params.yaml': 'lr: 1.0\nepochs: 3\nname: a\n',
    'pipeline.yaml': `stages:
  s:
    cmd: echo x > x.txt
    params: [lr, epochs, name]
    outs: [x.txt]
`,
  });
  const git = (...args: string[]) =>
    execFileSync('git', ['-c', 'user.email=t@example.com', '-c', 'user.name=t', ...args], { cwd: p.dir, stdio: 'pipe' });
  git('init', '-q');
  git('add', '-A');
  git('commit', '-qm', 'one');
  p.write('params.yaml', 'lr: 2.0\nepochs: 4\nname: a\n');
  const text = await p.ok(['params', 'diff', 'HEAD']);
  assert.match(text.stdout, /params\.yaml\s+lr\s+1\.0\s+2\.0\s+\+1\.0\n/);
  assert.match(text.stdout, /params\.yaml\s+epochs\s+3\s+4\s+\+1\n/);
  const json = (await p.ok(['params', 'diff', 'HEAD', '--json'])).stdout;
  assert.match(json, /"lr": \{\s*"old": 1\.0,\s*"new": 2\.0,\s*"change": 1\.0\s*\}/);
  assert.match(json, /"epochs": \{\s*"old": 3,\s*"new": 4,\s*"change": 1\s*\}/);
  assert.deepEqual(JSON.parse(json)['params.yaml'].lr, { old: 1, new: 2, change: 1 });
  // Against the lock: the new side is the workspace file's float.
  await p.ok(['run']);
  p.write('params.yaml', 'lr: 3.0\nepochs: 4\nname: a\n');
  assert.match((await p.ok(['params', 'diff'])).stdout, /params\.yaml\s+lr\s+\S+\s+3\.0\s/);
});

test('metrics show reads a file holding a bare number', async () => {
  const p = project({
    'pipeline.yaml': `stages:
  s:
    cmd: "echo 0.93 > acc.txt && echo '{\\"loss\\": 0.1}' > m.json"
    metrics:
      - acc.txt
      - m.json: {cache: false}
`,
  });
  await p.ok(['run']);
  const r = await p.ok(['metrics', 'show']);
  assert.match(r.stdout, /acc\.txt\s+\(whole file\)\s+0\.93/);
  assert.match(r.stdout, /m\.json\s+loss\s+0\.1/);
  const json = JSON.parse((await p.ok(['metrics', 'show', '--json'])).stdout);
  assert.equal(json['acc.txt'], 0.93);
  assert.deepEqual(json['m.json'], { loss: 0.1 });
});

test('messages: an undefined name says where to define it (and that params.yaml is empty); metrics diff outside git', async () => {
  const p = project({
    'params.yaml': '',
    'pipeline.yaml': 'stages:\n  s:\n    cmd: echo ${nope}\n',
  });
  const r = await p.ok(['status'], 2);
  assert.match(r.stderr, /hint: define it in vars or params\.yaml \(which is empty\)/);
  assert.doesNotMatch(r.stderr, /vars or in vars/);
  p.remove('params.yaml');
  const r2 = await p.ok(['status'], 2);
  assert.match(r2.stderr, /hint: define it in vars or params\.yaml \(which does not exist yet\)/);

  const m = project({ 'pipeline.yaml': 'stages:\n  s:\n    cmd: echo 1 > m.json\n    metrics: [m.json]\n' });
  const d = await m.ok(['metrics', 'diff'], 2, { GIT_CEILING_DIRECTORIES: m.dir.replace(/\/[^/]+$/, '') });
  assert.match(d.stderr, /is not in a git repository/);
  const { spawnSync } = await import('node:child_process');
  spawnSync('git', ['init', '-q'], { cwd: m.dir });
  const d2 = await m.ok(['metrics', 'diff'], 2);
  assert.match(d2.stderr, /the git repository has no commits yet/);
  assert.doesNotMatch(d.stderr, /e\.g\. HEAD/);

  const y = project({
    'pipeline.yaml': 'stages:\n  s:\n    foreach: [a]\n    do:\n      cmd: touch out${item}\n      outs: [out${item}]\n',
  });
  const e = await y.ok(['status'], 2);
  assert.match(e.stderr, /pipeline\.yaml:6:\d+: invalid YAML/);
  assert.match(e.stderr, /hint: .*quote it .* or use a block list/);
});
