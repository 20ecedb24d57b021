// `grow watch` on a terminal (a pseudo-terminal from util-linux `script`): one live listr2 view for
// the whole session — a `grow watch` parent task carrying the iteration summaries, with the current
// iteration's stages under it — instead of a fresh task list per iteration.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ensureBuilt } from '../helpers/grow-project.ts';
import { GROW_BIN, removeProject, tempProject, waitFor, writeFile } from '../reliability/rig.ts';

const hasScript = spawnSync('script', ['--version']).status === 0;
const skip = hasScript ? false : 'util-linux `script` (a pseudo-terminal) is not installed';

const dirs: string[] = [];
after(() => dirs.forEach(removeProject));

/** Runs grow under a sized pseudo-terminal (with 0 rows the live renderer would clip every frame). */
function onTerminal(dir: string, args: string) {
  const env: NodeJS.ProcessEnv = { ...process.env, TERM: 'xterm', GROW_DEV: '', GROW_CACHE_DIR: '' };
  delete env.CI;
  const child = spawn('script', ['-qfec', `stty rows 60 cols 160; exec "${process.execPath}" "${GROW_BIN}" ${args}`, '/dev/null'], {
    cwd: dir,
    env,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (c) => (out += c));
  child.stderr.on('data', (c) => (out += c));
  const exited = new Promise<number | null>((r) => child.on('close', (code) => r(code)));
  return { child, out: () => out, exited };
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: it strips terminal escapes
const plain = (s: string) => s.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\r/g, '');

test('on a terminal, watch keeps one view: summaries of every iteration above the current stages', { skip }, async () => {
  ensureBuilt();
  const dir = tempProject({
    'pipeline.yaml':
      'stages:\n  a:\n    cmd: cat a.in > a.out\n    deps: [a.in]\n    outs: [a.out]\n  b:\n    cmd: cat a.out > b.out\n    deps: [a.out]\n    outs: [b.out]\n',
    'a.in': '1\n',
  });
  dirs.push(dir);
  const { child, out: raw, exited } = onTerminal(dir, 'watch --debounce 100');
  try {
    await waitFor(`the first iteration in:\n${plain(raw())}`, () => /watching 2 paths/.test(plain(raw())));
    writeFile(dir, 'a.in', '2\n');
    await waitFor(`the second iteration in:\n${plain(raw())}`, () => /\[#2\] 2 done[\s\S]*watching 2 paths/.test(plain(raw())));
  } finally {
    child.stdin.write('\x03'); // Ctrl-C through the terminal
  }
  assert.equal(await exited, 130, plain(raw()));
  // The last frame: the session task, every summary line so far, then this iteration's stages.
  const frames = plain(raw()).split(/^\S+ grow watch$/m);
  const last = frames[frames.length - 1]
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);
  assert.ok(frames.length > 2, 'the session task is drawn and redrawn');
  const at = (re: RegExp) => last.findIndex((l) => re.test(l));
  assert.ok(at(/\[#1\] start/) >= 0 && at(/\[#1\] start/) < at(/\[#2\] changed: a\.in/), last.join('\n'));
  assert.ok(at(/\[#2\] 2 done/) >= 0 && at(/\[#2\] 2 done/) < at(/✔ a: done/), last.join('\n'));
  assert.ok(at(/✔ a: done/) < at(/✔ b: done/), last.join('\n'));
  assert.equal(
    last.filter((l) => /a: (done|up to date)/.test(l)).length,
    1,
    `one list of stages, not one per iteration:\n${last.join('\n')}`,
  );
});

test('Ctrl-C on a terminal during `grow run`: stages stopped, exit 130 (listr2 does not exit first with 127)', { skip }, async () => {
  ensureBuilt();
  const dir = tempProject({
    'pipeline.yaml':
      'stages:\n  slow:\n    cmd: touch started; while [ ! -e release ]; do sleep 0.05; done; echo x > x.out\n    outs: [x.out]\n',
  });
  dirs.push(dir);
  const { child, out, exited } = onTerminal(dir, 'run');
  await waitFor('the stage to start', () => existsSync(join(dir, 'started')));
  child.stdin.write('\x03');
  assert.equal(await exited, 130, plain(out()));
  assert.match(plain(out()), /stopping running stages/);
  assert.equal(existsSync(join(dir, 'x.out')), false);
});
