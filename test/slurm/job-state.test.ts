// Parsing `scontrol show job -o` lines and mapping final states, for the states a single-node test
// cluster cannot produce on demand (node failure, preemption, out of memory). Lines are real
// scontrol output (Slurm 22.05), shortened.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FINAL_STATES, parseJobLine, resultOf, timeLimitMinutes } from '../../src/pipeline/run/executors/slurm/job-state.ts';
import { resourceFlags, sbatchArgs } from '../../src/pipeline/run/executors/slurm/sbatch-args.ts';
import { batchScript, shellQuote } from '../../src/pipeline/run/executors/slurm/script.ts';
import { spawnSync } from 'node:child_process';

const line = (state: string, exit: string, extra = '') =>
  `JobId=42 JobName=grow:train_small@1 UserId=root(0) JobState=${state} Reason=None Dependency=(null) ExitCode=${exit} RunTime=00:00:03 TimeLimit=01:30:00 NodeList=gpu07 ${extra}`;

test('parses state, exit status/signal, time limit and nodes', () => {
  assert.deepEqual(parseJobLine(line('FAILED', '3:0')), {
    id: '42',
    name: 'grow:train_small@1',
    state: 'FAILED',
    exitStatus: 3,
    exitSignal: 0,
    timeLimit: '01:30:00',
    nodeList: 'gpu07',
  });
  assert.equal(parseJobLine('slurm_load_jobs error: Invalid job id specified'), undefined);
  assert.ok(!FINAL_STATES.has('COMPLETING'));
});

test('time limits in minutes', () => {
  assert.equal(timeLimitMinutes('00:01:00'), 1);
  assert.equal(timeLimitMinutes('1-02:00:00'), 1560);
  assert.equal(timeLimitMinutes('05:00'), 5);
  assert.equal(timeLimitMinutes('UNLIMITED'), undefined);
});

test('final states map to results with clear messages', () => {
  const r = (state: string, exit = '0:0') => resultOf(parseJobLine(line(state, exit))!);
  assert.deepEqual(r('COMPLETED'), { exitCode: 0, state: 'ok' });
  assert.deepEqual(r('FAILED', '2:0'), { exitCode: 2, state: 'failed', message: 'Slurm job 42 exited with code 2 on gpu07' });
  assert.equal(r('FAILED', '0:15').signal, 'SIGTERM');
  assert.equal(r('CANCELLED').state, 'cancelled');
  assert.match(r('TIMEOUT').message!, /exceeded its time limit of 90 min/);
  assert.equal(r('NODE_FAIL').state, 'lost');
  assert.match(r('NODE_FAIL').message!, /its node gpu07 failed \(NODE_FAIL\)/);
  assert.equal(r('PREEMPTED').state, 'lost');
  assert.equal(r('BOOT_FAIL').state, 'lost');
  assert.match(r('OUT_OF_MEMORY').message!, /resources\.mem/);
  assert.equal(r('DEADLINE').state, 'failed');
});

test('resources become sbatch flags; extra flags pass through after ours', () => {
  assert.deepEqual(resourceFlags({ cpus: 4, mem: '8G', gpus: 1, time: 60, sbatch: ['--partition=gpu', '--constraint=a100'] }), [
    '--cpus-per-task=4',
    '--mem=8G',
    '--gres=gpu:1',
    '--time=60',
    '--partition=gpu',
    '--constraint=a100',
  ]);
  assert.deepEqual(resourceFlags({ time: 0.5 }), ['--time=0:30']);
  assert.deepEqual(resourceFlags({ time: 2.25 }), ['--time=2:15']);
  const args = sbatchArgs({ stage: 's', cwd: '/p', logFile: '/p/.grow/logs/100%.log', script: '/p/.grow/slurm/s.sh' });
  assert.ok(args.includes('--output=/p/.grow/logs/100%%.log'));
  assert.equal(args.at(-1), '/p/.grow/slurm/s.sh');
});

test('the batch script quotes commands and env for bash, whatever they contain', () => {
  const nasty = `a'b"c$d\`e\\f\ng`;
  assert.equal(spawnSync('bash', ['-c', `printf %s ${shellQuote(nasty)}`], { encoding: 'utf8' }).stdout, nasty);
  const text = batchScript({ stage: 's', cwd: '/tmp', env: { V: nasty }, cmds: [`printf %s "$V"`, 'exit 4', 'echo never'] });
  const r = spawnSync('bash', ['-c', text], { encoding: 'utf8' });
  assert.equal(r.status, 4);
  assert.ok(r.stdout.includes(nasty));
  assert.ok(!r.stdout.includes('never\n'));
  assert.throws(() => batchScript({ stage: 's', cwd: '/tmp', env: { 'A B': 'x' }, cmds: [] }), /cannot be exported/);
});
