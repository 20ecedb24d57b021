/**
 * The inspection commands: status --json/--check, explain, dag, params diff, metrics show/diff,
 * help and version.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { after, test } from 'node:test';
import { TestProject } from '../helpers/grow-project.ts';

const projects: TestProject[] = [];
after(() => projects.forEach((p) => p.cleanup()));

function project(): TestProject {
  const p = new TestProject({
    'data.txt': 'd1',
    'params.yaml': 'train:\n  lr: 0.1\n  epochs: 2\nname: x\n',
    'pipeline.yaml': `stages:
  prep:
    cmd: cp data.txt prep.txt
    deps: [data.txt]
    outs: [prep.txt]
  train:
    cmd: 'echo "{\\"loss\\": 0.5, \\"acc\\": {\\"top1\\": 0.75}}" > metrics.json'
    deps: [prep.txt]
    params: [train.lr, train.epochs]
    metrics: [metrics.json]
  report:
    cmd: cp metrics.json report.txt
    deps: [metrics.json]
    outs: [report.txt]
`,
  });
  projects.push(p);
  return p;
}

function git(p: TestProject, ...args: string[]): void {
  execFileSync('git', ['-c', 'user.email=t@example.com', '-c', 'user.name=t', ...args], { cwd: p.dir, stdio: 'pipe' });
}

test('status --json gives reasons per stage; --check exits 3 only when stale', async () => {
  const p = project();
  let r = await p.ok(['status', '--json']);
  const before = JSON.parse(r.stdout) as { name: string; state: string; reasons: string[] }[];
  assert.deepEqual(
    before.map((s) => [s.name, s.state]),
    [
      ['prep', 'stale'],
      ['train', 'stale'],
      ['report', 'stale'],
    ],
  );
  assert.deepEqual(before[0].reasons, ['never run']);
  await p.ok(['status', '--check'], 3);
  await p.ok(['run']);
  r = await p.ok(['status', '--check', '--json']);
  assert.ok((JSON.parse(r.stdout) as { state: string }[]).every((s) => s.state === 'up to date'));
  p.write('params.yaml', 'train:\n  lr: 0.2\n  epochs: 2\nname: x\n');
  r = await p.ok(['status', 'train', '--json'], 0);
  const train = (JSON.parse(r.stdout) as { name: string; reasons: string[] }[]).find((s) => s.name === 'train')!;
  assert.deepEqual(train.reasons, ['param params.yaml:train.lr changed: 0.1 → 0.2']);
});

test('explain shows each fingerprint component now vs lock and marks differences', async () => {
  const p = project();
  await p.ok(['run']);
  p.write('params.yaml', 'train:\n  lr: 0.3\n  epochs: 2\nname: x\n');
  const r = await p.ok(['explain', 'train']);
  assert.match(r.stdout, /= cmd: echo/);
  assert.match(r.stdout, /= dep prep\.txt: md5:[0-9a-f]{32}/);
  assert.match(r.stdout, /≠ param params\.yaml:train\.lr\n\s+now:\s+0\.3\n\s+lock: 0\.1/);
  assert.match(r.stdout, /= param params\.yaml:train\.epochs: 2/);
  assert.match(r.stdout, /stale: param params\.yaml:train\.lr changed/);
  const j = JSON.parse((await p.ok(['explain', 'train', '--json'])).stdout) as { rows: { kind: string; differs: boolean }[] };
  assert.deepEqual(
    j.rows.filter((x) => x.differs).map((x) => x.kind),
    ['param'],
  );
  await p.ok(['explain', 'nope'], 2);
});

test('dag prints ASCII, Mermaid and dot', async () => {
  const p = project();
  const ascii = (await p.ok(['dag'])).stdout;
  assert.match(ascii, /prep {2}\(source\)\n {2}└─> train\ntrain\n {2}└─> report/);
  const mermaid = (await p.ok(['dag', '--mermaid'])).stdout;
  assert.match(mermaid, /^flowchart TD/);
  assert.match(mermaid, /s0\["prep"\]/);
  assert.match(mermaid, /s0 --> s1/);
  const dot = (await p.ok(['dag', '--dot'])).stdout;
  assert.match(dot, /"train" -> "report";/);
});

test('params diff: lock vs workspace, and a git revision vs workspace, as a table or JSON', async () => {
  const p = project();
  await p.ok(['run']);
  assert.match((await p.ok(['params', 'diff'])).stdout, /no differences/);
  git(p, 'init', '-q');
  git(p, 'add', 'params.yaml', 'pipeline.yaml');
  git(p, 'commit', '-qm', 'init');
  p.write('params.yaml', 'train:\n  lr: 0.25\n  epochs: 2\nname: y\n');
  const table = (await p.ok(['params', 'diff'])).stdout;
  assert.match(table, /params\.yaml\s+train\.lr\s+0\.1\s+0\.25\s+\+0\.15/);
  assert.doesNotMatch(table, /name/); // unlisted keys are not the stages' params
  const j = JSON.parse((await p.ok(['params', 'diff', 'HEAD', '--json'])).stdout);
  assert.deepEqual(j, { 'params.yaml': { 'train.lr': { old: 0.1, new: 0.25, change: 0.15 } } });
  await p.ok(['params', 'diff', 'no-such-rev'], 2);
});

test('metrics show and diff against a git revision', async () => {
  const p = project();
  await p.ok(['run']);
  const show = (await p.ok(['metrics', 'show'])).stdout;
  assert.match(show, /metrics\.json\s+acc\.top1\s+0\.75/);
  assert.deepEqual(JSON.parse((await p.ok(['metrics', 'show', '--json'])).stdout), { 'metrics.json': { loss: 0.5, 'acc.top1': 0.75 } });
  git(p, 'init', '-q');
  git(p, 'add', 'metrics.json');
  git(p, 'commit', '-qm', 'metrics');
  p.write('metrics.json', '{"loss": 0.25, "acc": {"top1": 0.75}}');
  const diff = (await p.ok(['metrics', 'diff'])).stdout;
  assert.match(diff, /metrics\.json\s+loss\s+0\.5\s+0\.25\s+-0\.25/);
  assert.doesNotMatch(diff, /top1/);
  const j = JSON.parse((await p.ok(['metrics', 'diff', 'HEAD', '--json'])).stdout);
  assert.deepEqual(j, { 'metrics.json': { loss: { old: 0.5, new: 0.25, change: -0.25 } } });
});

test('metrics show flattens lists of records by their id (or position) into one row per number', async () => {
  const p = project();
  await p.ok(['run']);
  p.write(
    'metrics.json',
    JSON.stringify({
      models: [
        { id: 'm0', loss: 5.2 },
        { id: 'm1', loss: 4.9, acc: { top1: 0.3 } },
      ],
      sizes: [1, 2],
      steps: [{ n: 1 }],
    }),
  );
  const j = JSON.parse((await p.ok(['metrics', 'show', '--json'])).stdout);
  assert.deepEqual(j['metrics.json'], {
    'models[m0].loss': 5.2,
    'models[m1].loss': 4.9,
    'models[m1].acc.top1': 0.3,
    sizes: [1, 2],
    'steps[0].n': 1,
  });
});

test('--help lists every command, each command has help, --version prints the version', async () => {
  const p = project();
  const help = (await p.ok(['--help'])).stdout;
  for (const c of ['run|repro', 'status', 'explain', 'dag', 'params', 'metrics', 'checkout', 'gc']) assert.ok(help.includes(c), c);
  assert.match(help, /Exit codes: 0 ok, 1 a stage failed, 2 usage/);
  const runHelp = (await p.ok(['run', '--help'])).stdout;
  for (const o of [
    '--force',
    '--downstream',
    '--single-item',
    '--dry',
    '--jobs',
    '--keep-going',
    '--no-run-cache',
    '--set',
    '--params',
    '--executor',
  ]) {
    assert.ok(runHelp.includes(o), o);
  }
  assert.match((await p.ok(['metrics', 'diff', '--help'])).stdout, /git revision/);
  assert.match((await p.ok(['--version'])).stdout, /^\d+\.\d+\.\d+/);
  const none = await p.ok(['status'], 0);
  assert.match(none.stdout, /stale/);
});

test('only the named command is loaded, yet aliases, global options before it and typos behave as with all of them', async () => {
  const p = project();
  assert.match((await p.ok(['repro', '--help'])).stdout, /--single-item/);
  assert.match((await p.ok(['--no-color', 'run', '--help'])).stdout, /--keep-going/);
  const typo = await p.ok(['stauts'], 2);
  assert.match(typo.stderr, /unknown command 'stauts'/);
  assert.match(typo.stderr, /Did you mean status\?/);
  const badOption = await p.ok(['run', '--no-such-option'], 2);
  assert.match(badOption.stderr, /unknown option '--no-such-option'/);
  assert.match((await p.ok(['push', '--help'])).stdout, /--to/);
  assert.match((await p.ok(['pull', '--help'])).stdout, /--from/);
});

test('outside a project: a clear error, exit 2', async () => {
  const p = project();
  p.remove('pipeline.yaml');
  const r = await p.ok(['status'], 2);
  assert.match(r.stderr, /no pipeline\.yaml in/);
});
