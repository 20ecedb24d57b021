// `grow run` with the Slurm executor, black-box: the real CLI against a real single-node Slurm.
// Stages report through files (`record` appends the stage name to .calls; `started` files) and
// wait to be released instead of sleeping.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { record, REPO, TestProject } from '../helpers/grow-project.ts';
import { jobIdsIn, jobState, queuedJobs, removeDir, slurmSkip, tempDir, waitFor, waitForFile } from './cluster.ts';

const cleanup: (() => void)[] = [];
after(() => cleanup.forEach((f) => f()));

function project(files: Record<string, string>): TestProject {
  const p = new TestProject(files);
  cleanup.push(() => p.cleanup());
  return p;
}

const FAST = { GROW_SLURM_POLL_MS: '200' };

// Two independent stages that can only finish if both run at once (each waits for the other's
// `started` file; the bound turns a failure into exit 9 instead of a hang), and one after both.
const PAIR = `stages:
  a:
    cmd: ${record}; touch a.started; i=0; while [ ! -e b.started ]; do i=$((i+1)); [ $i -gt 1200 ] && exit 9; sleep 0.05; done; echo A > a.txt
    outs: [a.txt]
  b:
    cmd: ${record}; touch b.started; i=0; while [ ! -e a.started ]; do i=$((i+1)); [ $i -gt 1200 ] && exit 9; sleep 0.05; done; echo B > b.txt
    outs: [b.txt]
  both:
    cmd: ${record}; cat a.txt b.txt > both.txt
    deps: [a.txt, b.txt]
    outs: [both.txt]
    resources: {cpus: 1, mem: 100M, time: 5}
`;

describe('grow run --executor slurm', { concurrency: true }, () => {
  test('independent stages run at once as separate jobs; outs are hashed and locked as for local runs', { skip: slurmSkip }, async () => {
    const p = project({ 'pipeline.yaml': PAIR });
    await p.ok(['run', '--executor', 'slurm', '-j', '4'], 0, FAST);
    assert.deepEqual(p.calls().sort(), ['a', 'b', 'both']);
    assert.equal(p.read('both.txt'), 'A\nB\n');
    const ids = ['a', 'b', 'both'].map((s) => jobIdsIn(p.path(`.grow/logs/${s}.log`)));
    assert.ok(
      ids.every((l) => l.length === 1),
      JSON.stringify(ids),
    );
    assert.equal(new Set(ids.flat()).size, 3);
    assert.ok(ids.flat().every((id) => jobState(id) === 'COMPLETED'));
    assert.deepEqual(Object.keys(p.lock().stages).sort(), ['a', 'b', 'both']);
    // The lock does not depend on where a stage ran: a local clone sees everything up to date.
    const status = await p.ok(['status', '--check']);
    assert.doesNotMatch(status.stdout, /changed|never run/);
  });

  test('a failing job fails its stage with its exit status and leaves pipeline.lock untouched', { skip: slurmSkip }, async () => {
    const p = project({
      'pipeline.yaml': `stages:
  good:
    cmd: echo ok > good.txt
    outs: [good.txt]
  bad:
    cmd: [echo partial > bad.txt, echo about to fail, exit 7]
    outs: [bad.txt]
    executor: slurm
`,
    });
    await p.ok(['run', 'good'], 0, FAST);
    const lockBefore = p.lockText();
    const r = await p.ok(['run', 'bad'], 1, FAST);
    assert.match(r.stdout + r.stderr, /Slurm job \d+ exited with code 7/);
    assert.match(r.stdout + r.stderr, /about to fail/); // the log tail
    assert.equal(p.lockText(), lockBefore);
    assert.equal(p.exists('bad.txt'), false); // partial outs never pass for results
  });

  test('Ctrl-C (SIGINT to grow) cancels the submitted jobs', { skip: slurmSkip }, async () => {
    const p = project({
      'pipeline.yaml': `stages:
  long:
    foreach: [1, 2]
    do:
      cmd: touch started-\${item}; while :; do sleep 0.1; done
      outs:
        - out-\${item}.txt
`,
    });
    const child = spawn(process.execPath, [join(REPO, 'bin', 'grow.js'), 'run', '--executor', 'slurm', '-j', '4'], {
      cwd: p.dir,
      env: { ...process.env, CI: '1', GROW_DEV: '', GROW_CACHE_DIR: '', ...FAST },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (c) => (output += c));
    child.stderr.on('data', (c) => (output += c));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    // If grow ends early (a bad pipeline, a rejected job), fail with its output instead of waiting.
    const early = exited.then((code) => {
      throw new Error(`grow exited ${code} before both jobs started:\n${output}`);
    });
    await Promise.race([Promise.all([waitForFile(p.path('started-1')), waitForFile(p.path('started-2'))]), early]);
    early.catch(() => {});
    const ids = ['long@1', 'long@2'].flatMap((s) => jobIdsIn(p.path(`.grow/logs/${s}.log`)));
    assert.equal(ids.length, 2);
    child.kill('SIGINT');
    assert.equal(await exited, 130, output);
    assert.deepEqual(ids.map(jobState), ['CANCELLED', 'CANCELLED']);
    assert.ok(ids.every((id) => !queuedJobs().includes(id)));
    assert.equal(p.lockText(), '');
  });

  test('a job cancelled outside grow (scancel) is reported as cancelled', { skip: slurmSkip }, async () => {
    const p = project({
      'pipeline.yaml': `stages:
  victim:
    cmd: touch started; while :; do sleep 0.1; done
    outs: [v.txt]
    executor: slurm
`,
    });
    const run = p.grow(['run'], FAST);
    await waitForFile(p.path('started'));
    const [id] = jobIdsIn(p.path('.grow/logs/victim.log'));
    assert.equal(spawnSync('scancel', [id]).status, 0);
    const r = await run;
    assert.equal(r.code, 130, r.stdout + r.stderr);
    assert.match(r.stdout, new RegExp(`victim: cancelled \\(Slurm job ${id} was cancelled`));
    assert.match(p.read('.grow/logs/victim.log'), new RegExp(`^::grow job ${id} CANCELLED`, 'm'));
    assert.equal(p.lockText(), '');
  });

  test("::progress lines from a running job reach grow's view while the job runs", { skip: slurmSkip }, async () => {
    const p = project({
      'pipeline.yaml': `stages:
  prog:
    cmd: echo "::progress current=1 total=4 loss=2.5"; while [ ! -e release ]; do sleep 0.05; done; echo done > p.txt
    outs: [p.txt]
    executor: slurm
`,
    });
    const child = spawn(process.execPath, [join(REPO, 'bin', 'grow.js'), 'run'], {
      cwd: p.dir,
      env: { ...process.env, CI: '1', GROW_DEV: '', GROW_CACHE_DIR: '', ...FAST },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (c) => (output += c));
    child.stderr.on('data', (c) => (output += c));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    // The job is still waiting for `release`: the line can only have come from the live log.
    await waitFor("the progress line in grow's output", () => /prog: \[.*\] 25% 1\/4.*loss=2\.5/.test(output));
    assert.equal(p.exists('p.txt'), false);
    p.write('release', '');
    assert.equal(await exited, 0, output);
    assert.equal(p.read('p.txt'), 'done\n');
  });

  test('a second clone on the same cache (GROW_CACHE_DIR) restores every output without running anything', {
    skip: slurmSkip,
  }, async () => {
    const shared = tempDir('grow-shared-cache-');
    cleanup.push(() => removeDir(shared));
    const pipeline = `stages:
  prep:
    cmd: ${record}; mkdir -p data && cp src.txt data/raw.txt && echo more > data/more.txt
    deps: [src.txt]
    outs: [data]
  train:
    foreach: [1, 2]
    do:
      cmd: ${record}; cat data/raw.txt > model-\${item}.txt; echo \${item} >> model-\${item}.txt
      deps: [data]
      outs:
        - model-\${item}.txt
      executor: slurm
`;
    const env = { ...FAST, GROW_CACHE_DIR: shared };
    // (Every stage has an input: as in DVC, a stage without deps or params is never restored.)
    const a = project({ 'pipeline.yaml': pipeline, 'src.txt': 'raw\n' });
    await a.ok(['run', '--executor', 'slurm'], 0, env);
    assert.deepEqual(a.calls().sort(), ['prep', 'train@1', 'train@2']);
    assert.ok(existsSync(join(shared, 'files', 'md5')));

    const b = project({ 'pipeline.yaml': pipeline, 'src.txt': 'raw\n', 'pipeline.lock': a.lockText() });
    await b.ok(['run', '--executor', 'slurm'], 0, env);
    assert.deepEqual(b.calls(), []);
    assert.equal(b.read('model-2.txt'), 'raw\n2\n');
    assert.equal(b.read('data/more.txt'), 'more\n');
    assert.equal(b.lockText(), a.lockText());
    assert.ok(!existsSync(b.path('.grow/logs/train@1.log')));
  });
  test('Slurm submissions are not bounded by the local job count: three stages run at once as jobs with `jobs: 1`', {
    skip: slurmSkip,
  }, async () => {
    // Each stage finishes only when all three have started, so they must be submitted together;
    // `jobs: 1` (the config's -j default) bounds local stages only. The bound turns a failure into
    // exit 9 instead of a hang.
    const wait = (me: string) =>
      `${record}; touch ${me}.started; i=0; while [ ! -e x.started ] || [ ! -e y.started ] || [ ! -e z.started ]; do i=$((i+1)); [ $i -gt 1200 ] && exit 9; sleep 0.05; done; echo ${me} > ${me}.txt`;
    const p = project({
      '.growrc.yaml': 'jobs: 1\nexecutor: slurm\n',
      'pipeline.yaml': `stages:\n${['x', 'y', 'z'].map((n) => `  ${n}:\n    cmd: ${wait(n)}\n    outs: [${n}.txt]\n`).join('')}`,
    });
    await p.ok(['run'], 0, FAST);
    assert.deepEqual(p.calls().sort(), ['x', 'y', 'z']);
  });
});
