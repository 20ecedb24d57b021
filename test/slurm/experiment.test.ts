// The experiment's small models trained as Slurm jobs (`--set small.executor=slurm`), against the
// same stages run locally: the real `grow` CLI, the project's own pipeline.yaml, params and stage
// programs in fresh temp directories, and a real single-node Slurm.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { jobIdsIn, REPO, slurmSkip } from './cluster.ts';

const run = promisify(execFile);

function project(): string {
  const dir = mkdtempSync(join(tmpdir(), 'growline-slurm-exp-'));
  for (const p of ['pipeline.yaml', 'params', 'stages', 'src', 'asm', 'package.json', 'tsconfig.json'])
    cpSync(join(REPO, p), join(dir, p), { recursive: true });
  symlinkSync(join(REPO, 'node_modules'), join(dir, 'node_modules'), 'dir');
  return dir;
}

async function grow(cwd: string, ...args: string[]): Promise<string> {
  const r = await run(process.execPath, [join(REPO, 'bin/grow.js'), ...args], {
    cwd,
    env: { ...process.env, GROW_DEV: '1', CI: '1', GROW_BACKEND: 'wasm', GROW_SLURM_POLL_MS: '200' },
    maxBuffer: 64 * 2 ** 20,
  }).catch((e: { stdout?: string; stderr?: string; message: string }) => {
    throw new Error(`grow ${args.join(' ')} failed: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
  });
  return r.stdout;
}

const SMALL = ['train_small@1-1', 'train_small@2-1'];
const modelFile = (dir: string, i: number) => join(dir, 'artifacts/models/small/s1', String(i), 'model.safetensors');

test('the small models trained as Slurm jobs are byte-identical to the same stages run locally', {
  skip: slurmSkip,
  timeout: 10 * 60_000,
}, async (t) => {
  const local = project();
  const slurm = project();
  t.after(() => [local, slurm].forEach((d) => rmSync(d, { recursive: true, force: true })));
  const smoke = ['--params', 'params/smoke.yaml'];

  await grow(local, 'run', ...smoke, ...SMALL);
  const out = await grow(slurm, 'run', ...smoke, '--set', 'small.executor=slurm', ...SMALL);
  for (const stage of SMALL) assert.match(out, new RegExp(`✔ ${stage.replace(/[@]/g, '\\$&')}: done`), out);

  // Each small model ran as its own Slurm job (the job writes its id into the stage's log) ...
  const ids = SMALL.flatMap((s) => jobIdsIn(join(slurm, '.grow/logs', `${s}.log`)));
  assert.equal(new Set(ids).size, 2, `two Slurm jobs, got ${ids.join(', ')}`);
  // ... and trained exactly what the local run trained.
  for (const i of [1, 2])
    assert.ok(
      readFileSync(modelFile(slurm, i)).equals(readFileSync(modelFile(local, i))),
      `small model ${i} differs between Slurm and local`,
    );
  const summary = JSON.parse(readFileSync(join(slurm, 'artifacts/models/small/s1/1/train.json'), 'utf8'));
  assert.equal(summary.backend, 'wasm');
  assert.deepEqual(readdirSync(join(slurm, 'artifacts/models/small/s1/1')).sort(), [
    'config.json',
    'metrics.jsonl',
    'model.safetensors',
    'optimizer.safetensors',
    'train.json',
  ]);

  // The executor is not part of a stage's fingerprint: the same stages are now up to date.
  const again = await grow(slurm, 'run', ...smoke, '--set', 'small.executor=slurm', ...SMALL);
  for (const stage of SMALL) assert.match(again, new RegExp(`${stage.replace(/[@]/g, '\\$&')}: up to date`), again);
});
