// The Slurm executor against a real single-node Slurm (scripts/slurm-up.sh): results, exit
// statuses, signals, cancellation, log streaming and concurrency. Jobs signal the test through
// files instead of sleeping.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { createSlurmExecutor } from '../../src/pipeline/run/executors/slurm.ts';
import type { ExecRequest, Stage } from '../../src/pipeline/types.ts';
import { jobIdsIn, jobState, queuedJobs, removeDir, REPO, slurmSkip, stage, tempDir, waitFor, waitForFile } from './cluster.ts';

const dirs: string[] = [];
after(() => dirs.forEach(removeDir));

function project() {
  const root = tempDir('grow-slurm-exec-');
  dirs.push(root);
  const executor = createSlurmExecutor({ root, pollMs: 200 });
  const lines: string[] = [];
  const request = (s: Stage, signal = new AbortController().signal): ExecRequest => ({
    stage: s,
    cwd: root,
    env: { GROW_STAGE: s.name, GROW_ROOT: root },
    logFile: join(root, '.grow', 'logs', `${s.name}.log`),
    onLine: (line) => lines.push(line),
    signal,
  });
  return { root, executor, lines, request, log: (name: string) => join(root, '.grow', 'logs', `${name}.log`) };
}

describe('slurm executor', { concurrency: true }, () => {
  test('runs the commands in order in the stage dir, with the env safely quoted, and records the job id', { skip: slurmSkip }, async () => {
    const p = project();
    const tricky = `it's "quoted" $HOME \`x\`\nsecond line`;
    const s = stage('write', ['echo one > out.txt', 'printf "%s" "$TRICKY" >> out.txt; echo "$GROW_STAGE" > who.txt']);
    const req = p.request(s);
    req.env.TRICKY = tricky;
    const result = await p.executor.run(req);
    assert.deepEqual(result, { exitCode: 0, state: 'ok' });
    assert.equal(readFileSync(join(p.root, 'out.txt'), 'utf8'), `one\n${tricky}`);
    assert.equal(readFileSync(join(p.root, 'who.txt'), 'utf8'), 'write\n');
    const ids = jobIdsIn(p.log('write'));
    assert.equal(ids.length, 1, readFileSync(p.log('write'), 'utf8'));
    assert.equal(jobState(ids[0]), 'COMPLETED');
    assert.match(readFileSync(p.log('write'), 'utf8'), /^\$ echo one > out.txt$/m);
  });

  test('a failing command fails the job with its exit status and stops the stage', { skip: slurmSkip }, async () => {
    const p = project();
    const result = await p.executor.run(p.request(stage('fails', ['echo before', 'exit 3', 'touch never.txt'])));
    assert.equal(result.state, 'failed');
    assert.equal(result.exitCode, 3);
    assert.match(result.message ?? '', /Slurm job \d+ exited with code 3/);
    assert.equal(existsSync(join(p.root, 'never.txt')), false);
    assert.match(readFileSync(p.log('fails'), 'utf8'), /^before$/m);
  });

  test('a command killed by a signal is reported with that signal', { skip: slurmSkip }, async () => {
    const p = project();
    const result = await p.executor.run(p.request(stage('killed', ['kill -KILL $$'])));
    assert.equal(result.state, 'failed');
    assert.equal(result.exitCode, null);
    assert.equal(result.signal, 'SIGKILL');
    assert.match(result.message ?? '', /killed by SIGKILL/);
  });

  test("a request Slurm rejects fails at submission with sbatch's message", { skip: slurmSkip }, async () => {
    const p = project();
    // The test cluster has no GPUs (no gres), and EnforcePartLimits rejects it at once.
    const result = await p.executor.run(p.request(stage('gpu', ['true'], { resources: { gpus: 1 } })));
    assert.equal(result.state, 'failed');
    assert.match(result.message ?? '', /Slurm rejected stage `gpu`: .*gres/i);
    assert.match(readFileSync(p.log('gpu'), 'utf8'), /--gres=gpu:1/);
  });

  test('scancel from outside → cancelled', { skip: slurmSkip }, async () => {
    const p = project();
    const running = p.executor.run(p.request(stage('victim', ['touch started; while :; do sleep 0.1; done'])));
    await waitForFile(join(p.root, 'started'));
    const [id] = jobIdsIn(p.log('victim'));
    assert.ok(id);
    assert.equal(spawnSync('scancel', [id]).status, 0);
    const result = await running;
    assert.equal(result.state, 'cancelled');
    assert.match(result.message ?? '', new RegExp(`Slurm job ${id} was cancelled`));
  });

  test('aborting the request scancels the job and waits for its end', { skip: slurmSkip }, async () => {
    const p = project();
    const ac = new AbortController();
    const running = p.executor.run(p.request(stage('aborted', ['touch started; while :; do sleep 0.1; done']), ac.signal));
    await waitForFile(join(p.root, 'started'));
    const [id] = jobIdsIn(p.log('aborted'));
    ac.abort();
    const result = await running;
    assert.equal(result.state, 'cancelled');
    assert.equal(jobState(id), 'CANCELLED');
    assert.ok(!queuedJobs().includes(id));
  });

  test('a job left running by a killed grow is cancelled before its stage is submitted again', { skip: slurmSkip }, async () => {
    const p = project();
    const program = `
      import { createSlurmExecutor } from ${JSON.stringify(join(REPO, 'src/pipeline/run/executors/slurm.ts'))};
      await createSlurmExecutor({ root: ${JSON.stringify(p.root)}, pollMs: 200 }).run({
        stage: { name: 'orphan', cmd: ['touch started; while :; do sleep 0.1; done'], wdir: '.', deps: [], params: [], outs: [], alwaysChanged: false, frozen: false, interruptible: false },
        cwd: ${JSON.stringify(p.root)}, env: {}, logFile: ${JSON.stringify(p.log('orphan'))},
        onLine() {}, signal: new AbortController().signal,
      });`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', program], { cwd: REPO, stdio: 'ignore' });
    const gone = new Promise((resolve) => child.on('close', resolve));
    await waitForFile(join(p.root, 'started'));
    const [old] = jobIdsIn(p.log('orphan'));
    child.kill('SIGKILL'); // grow dies without a chance to scancel
    await gone;
    assert.equal(jobState(old), 'RUNNING');
    const result = await p.executor.run(p.request(stage('orphan', ['echo new > new.txt'])));
    assert.equal(result.state, 'ok');
    assert.equal(jobState(old), 'CANCELLED');
    assert.match(
      readFileSync(p.log('orphan'), 'utf8'),
      new RegExp(`^::grow job ${old} of an earlier grow is still RUNNING: cancelling it`, 'm'),
    );
    assert.equal(readFileSync(join(p.root, 'new.txt'), 'utf8'), 'new\n');
  });

  test('log lines (::progress) reach onLine while the job is still running', { skip: slurmSkip }, async () => {
    const p = project();
    const release = join(p.root, 'release');
    const running = p.executor.run(
      p.request(
        stage('progress', [
          'echo "::progress current=1 total=2 loss=3.5"; while [ ! -e release ]; do sleep 0.05; done; echo "::progress current=2 total=2"',
        ]),
      ),
    );
    await waitFor('the first progress line', () => p.lines.includes('::progress current=1 total=2 loss=3.5'));
    assert.ok(!p.lines.includes('::progress current=2 total=2'));
    writeFileSync(release, '');
    assert.equal((await running).state, 'ok');
    assert.ok(p.lines.includes('::progress current=2 total=2'));
  });

  test('independent stages run as concurrent jobs (each waits for the other to start)', { skip: slurmSkip }, async () => {
    const p = project();
    // Each job announces itself, then waits for its peer's announcement: both can finish only if
    // both jobs were running at the same time. The 60 s bound turns a failure into exit 9, not a hang.
    const cmd = (me: string, peer: string) =>
      `echo "$SLURM_JOB_ID" > ${me}.started; i=0; while [ ! -e ${peer}.started ]; do i=$((i+1)); [ $i -gt 1200 ] && exit 9; sleep 0.05; done`;
    const [a, b] = await Promise.all([
      p.executor.run(p.request(stage('a', [cmd('a', 'b')]))),
      p.executor.run(p.request(stage('b', [cmd('b', 'a')]))),
    ]);
    assert.deepEqual([a.state, b.state], ['ok', 'ok']);
    const ids = ['a', 'b'].map((n) => readFileSync(join(p.root, `${n}.started`), 'utf8').trim());
    assert.notEqual(ids[0], ids[1]);
    assert.deepEqual(ids, [jobIdsIn(p.log('a'))[0], jobIdsIn(p.log('b'))[0]]);
  });
});
