// scripts/slurm-up.sh's contract with the tests and CI: idempotent while the cluster is up, and a
// clear `slurm unavailable: <reason>` last line when it cannot help; and the executor's message
// on a machine without Slurm's client commands.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { REPO, removeDir, slurmSkip, tempDir } from './cluster.ts';

const dirs: string[] = [];
after(() => dirs.forEach(removeDir));
const UP = join(REPO, 'scripts', 'slurm-up.sh');
const CTLD_PID = join(process.env.GROW_SLURM_DIR ?? '/tmp/grow-slurm', 'slurmctld.pid');

test('slurm-up.sh leaves a running cluster alone', { skip: slurmSkip }, () => {
  const pid = readFileSync(CTLD_PID, 'utf8').trim();
  const r = spawnSync('bash', [UP], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /already up/);
  assert.equal(readFileSync(CTLD_PID, 'utf8').trim(), pid);
});

test('slurm-up.sh says why Slurm is unavailable on its last line (here: not root)', {
  skip: process.getuid?.() !== 0 && 'needs root to switch to an unprivileged user',
}, () => {
  const r = spawnSync('runuser', ['-u', 'nobody', '--', 'bash', UP], { encoding: 'utf8' });
  assert.notEqual(r.status, 0);
  const last = r.stderr.trim().split('\n').pop();
  assert.match(last ?? '', /^slurm unavailable: .*must run as root/);
});

test('without sbatch on PATH a Slurm stage fails with a message saying what to do', () => {
  const root = tempDir('grow-no-slurm-');
  dirs.push(root);
  const program = `
    import { createSlurmExecutor } from ${JSON.stringify(join(REPO, 'src/pipeline/run/executors/slurm.ts'))};
    const r = await createSlurmExecutor({ root: ${JSON.stringify(root)} }).run({
      stage: { name: 's', cmd: ['true'], wdir: '.', deps: [], params: [], outs: [], alwaysChanged: false, frozen: false, interruptible: false },
      cwd: ${JSON.stringify(root)}, env: {}, logFile: ${JSON.stringify(join(root, 's.log'))},
      onLine() {}, signal: new AbortController().signal,
    });
    console.log(JSON.stringify(r));`;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', program], {
    cwd: REPO,
    encoding: 'utf8',
    env: { ...process.env, PATH: '/nonexistent' },
  });
  assert.equal(r.status, 0, r.stderr);
  const result = JSON.parse(r.stdout.trim().split('\n').pop()!);
  assert.equal(result.state, 'failed');
  assert.match(result.message, /sbatch is not available here \(ENOENT\).*--executor local/);
  assert.match(readFileSync(join(root, 's.log'), 'utf8'), /sbatch is not available/);
});
