/**
 * Smaller frictions met when comparing runs: metrics show filters and rounds; --dry tells a
 * run-cache restore from a run; status and run word a missing dep alike; --no-color and TERM=dumb;
 * waiting stages look different from running ones on a terminal.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ensureBuilt, record, TestProject } from '../helpers/grow-project.ts';
import { GROW_BIN, waitFor, writeFile } from '../reliability/rig.ts';

const projects: TestProject[] = [];
after(() => projects.forEach((p) => p.cleanup()));

function track(p: TestProject): TestProject {
  projects.push(p);
  return p;
}

test('metrics show: targets, key globs, numbers only unless --all, --precision', async () => {
  const p = track(
    new TestProject({
      'eval.src': '{"loss": 3.14159265, "acc": {"top1": 0.123456789}, "backend": "wasm", "sizes": [1, 2]}\n',
      'profile.src': '{"tflops": 12.3456789, "machine": "x"}\n',
      'pipeline.yaml': `stages:
  evaluate:
    cmd: cp eval.src eval.json
    deps: [eval.src]
    metrics: [eval.json]
  profile:
    cmd: cp profile.src profile.json
    deps: [profile.src]
    metrics: [profile.json]
`,
    }),
  );
  await p.ok(['run']);
  const all = (await p.ok(['metrics', 'show'])).stdout;
  assert.match(all, /^eval\.json\s+loss\s+3\.1416$/m);
  assert.match(all, /^eval\.json\s+acc\.top1\s+0\.12346$/m);
  assert.match(all, /^profile\.json\s+tflops\s+12\.346$/m);
  assert.doesNotMatch(all, /backend|machine/, 'strings only with --all');
  assert.match((await p.ok(['metrics', 'show', '--all'])).stdout, /^eval\.json\s+backend\s+wasm$/m);

  const byStage = JSON.parse((await p.ok(['metrics', 'show', 'profile', '--json'])).stdout);
  assert.deepEqual(byStage, { 'profile.json': { tflops: 12.3456789 } });
  const byFile = JSON.parse(
    (await p.ok(['metrics', 'show', 'eval.json', '-k', 'acc.*', '-k', 'loss', '--json', '--precision', '3'])).stdout,
  );
  assert.deepEqual(byFile, { 'eval.json': { loss: 3.14, 'acc.top1': 0.123 } });
  const bad = await p.ok(['metrics', 'show', 'nope'], 2);
  assert.match(
    bad.stderr,
    /^grow: `nope` is neither a metrics file nor a stage\nhint: name a file declared under `metrics:` \(eval\.json, profile\.json\) or a stage\n$/,
  );
});

test('run --dry says "would restore" where the run-cache would restore', async () => {
  const p = track(
    new TestProject({
      'params.yaml': 'lr: 1\n',
      'pipeline.yaml': `stages:
  train:
    cmd: ${record} && echo "lr=\${lr}" > model.txt
    params: [lr]
    outs: [model.txt]
  report:
    cmd: cat model.txt > report.txt
    deps: [model.txt]
    outs: [report.txt]
`,
    }),
  );
  await p.ok(['run']);
  await p.ok(['run', '--set', 'lr=2']);
  const dry = (await p.ok(['run', '--dry'])).stdout;
  assert.match(dry, /^• train: would restore from the run-cache \(cmd changed, param params\.yaml:lr changed: 2 → 1\)$/m);
  assert.match(dry, /^• report: would run \(upstream train will re-run\)$/m);
  assert.match((await p.ok(['run', '--dry', '--set', 'lr=3'])).stdout, /^• train: would run \(/m);
  assert.match((await p.ok(['run', '--dry', '--no-run-cache'])).stdout, /^• train: would run \(/m);
  p.calls();
  assert.match((await p.ok(['run'])).stdout, /train: restored from run-cache/);
  assert.deepEqual(p.calls(), []);
});

test('a dep that exists nowhere is worded the same by status and run', async () => {
  const p = track(
    new TestProject({
      'pipeline.yaml': 'stages:\n  train:\n    cmd: cat data.csv > model.txt\n    deps: [data.csv]\n    outs: [model.txt]\n',
      'data.csv': '1\n',
    }),
  );
  await p.ok(['run']);
  p.remove('data.csv');
  const status = (await p.ok(['status'])).stdout;
  assert.match(status, /^ {4}dep data\.csv does not exist and no stage produces it$/m);
  const run = (await p.ok(['run'], 2)).stderr;
  assert.match(run, /^grow: stage `train`: dep `data\.csv` does not exist and no stage produces it$/m);
});

const hasScript = spawnSync('script', ['--version']).status === 0;
const skip = hasScript ? false : 'util-linux `script` (a pseudo-terminal) is not installed';

/** Runs grow under a pseudo-terminal and collects everything it drew. */
function onTerminal(dir: string, args: string, env: Record<string, string>) {
  const e: NodeJS.ProcessEnv = { ...process.env, GROW_DEV: '', GROW_CACHE_DIR: '', ...env };
  delete e.CI;
  delete e.NO_COLOR;
  delete e.FORCE_COLOR;
  const child = spawn('script', ['-qfec', `stty rows 40 cols 120; exec "${process.execPath}" "${GROW_BIN}" ${args}`, '/dev/null'], {
    cwd: dir,
    env: e,
  });
  let out = '';
  child.stdout.on('data', (c) => (out += c));
  child.stderr.on('data', (c) => (out += c));
  const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  return { out: () => out, exited };
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: it matches terminal colour escapes
const SGR_COLOR = /\x1b\[(3\d|9\d)(;\d+)*m/;

test('on a terminal: colors unless --no-color; TERM=dumb gets plain lines; waiting stages are marked', { skip }, async () => {
  ensureBuilt();
  const p = track(
    new TestProject({
      'pipeline.yaml': `stages:
  a:
    cmd: touch started-$GROW_STAGE; while [ ! -e release ]; do sleep 0.05; done; echo a > a.out
    outs: [a.out]
  b:
    cmd: touch started-$GROW_STAGE; while [ ! -e release ]; do sleep 0.05; done; echo b > b.out
    outs: [b.out]
`,
    }),
  );
  // One job slot: one stage runs, the other waits, and the view says which.
  const live = onTerminal(p.dir, 'run -j 1', { TERM: 'xterm' });
  await waitFor(`a stage to start:\n${live.out()}`, () => existsSync(join(p.dir, 'started-a')) || existsSync(join(p.dir, 'started-b')));
  await waitFor(`the waiting stage marked:\n${live.out()}`, () => /[ab] · waiting/.test(live.out()));
  writeFile(p.dir, 'release', '');
  assert.equal(await live.exited, 0, live.out());
  assert.match(live.out(), SGR_COLOR, 'the live view is colored');

  const noColor = onTerminal(p.dir, 'run -f --no-color', { TERM: 'xterm' });
  assert.equal(await noColor.exited, 0, noColor.out());
  assert.doesNotMatch(noColor.out(), SGR_COLOR);

  const dumb = onTerminal(p.dir, 'run -f', { TERM: 'dumb' });
  assert.equal(await dumb.exited, 0, dumb.out());
  assert.match(dumb.out(), /^▶ a: running \(forced\)\r?$/m);
  // biome-ignore lint/suspicious/noControlCharactersInRegex: it matches terminal escapes
  assert.doesNotMatch(dumb.out(), /\x1b\[/, 'no escape sequences at all');
});

test('grow run ends by naming the outs a stage marks `show: true`', async () => {
  const p = track(
    new TestProject({
      'pipeline.yaml': `stages:
  train:
    cmd: echo w > model.bin
    outs: [model.bin]
  report:
    cmd: cat model.bin > report.html && echo '{}' > m.json
    deps: [model.bin]
    outs:
      - report.html: {show: true}
    metrics: [m.json]
`,
    }),
  );
  const first = await p.ok(['run']);
  assert.match(first.stdout, /^2 stages: 2 done\nresult: report\.html\n/m);
  assert.match((await p.ok(['run'])).stdout, /^result: report\.html$/m, 'also when up to date: it is in place');
  assert.doesNotMatch((await p.ok(['run', 'train'])).stdout, /result:/, 'only for stages of this run');
  assert.doesNotMatch((await p.ok(['run', '-q'])).stdout, /result:/);
  assert.doesNotMatch((await p.ok(['run', '--dry', '-f'])).stdout, /result:/);
});
