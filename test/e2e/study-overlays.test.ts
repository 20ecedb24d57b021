/**
 * Every committed study overlay is a valid run of the real pipeline: laid over params/study.yaml as
 * its header says, `grow run study_report --dry` plans it from a fresh copy of the project, and the
 * plan holds the methods, grid and seeds the overlay names (nothing is trained).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);
const REPO = resolve(import.meta.dirname, '../..');

async function plan(cwd: string, overlays: string[]): Promise<string[]> {
  const params = ['study', ...overlays].flatMap((o) => ['--params', `params/${o}.yaml`]);
  const r = await run(process.execPath, [join(REPO, 'bin/grow.js'), 'run', 'study_report', '--dry', ...params], {
    cwd,
    env: { ...process.env, GROW_DEV: '1', CI: '1' },
    maxBuffer: 16 * 2 ** 20,
  });
  return [...r.stdout.matchAll(/^• (\S+): would run/gmu)].map((m) => m[1]);
}

test('the study overlays plan: n-sources arms and the scale arm, full and as run on 2 cores', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'grow-overlays-'));
  try {
    for (const p of ['pipeline.yaml', 'params', 'stages', 'src', 'asm', 'package.json', 'tsconfig.json'])
      cpSync(join(REPO, p), join(dir, p), { recursive: true });

    const study = await plan(dir, []);
    assert.ok(study.includes('study_run@fpi_copy-2-15'), 'the study runs every method at every budget');

    const n1 = await plan(dir, ['study-n1']);
    assert.ok(n1.includes('train_small@1-11') && !n1.includes('train_small@2-11'), 'n = 1: one small model per seed');
    assert.ok(!n1.some((s) => s.startsWith('study_run@merge')));

    const n4 = await plan(dir, ['study-n4']);
    assert.ok(n4.includes('train_small@4-11'), 'n = 4: four small models per seed');

    const scale = await plan(dir, ['study-scale']);
    assert.ok(scale.includes('study_run@fpi_copy-2-15'), 'the full scale arm keeps the whole study');

    const twoCore = await plan(dir, ['study-scale', 'study-scale-2core']);
    const tunes = twoCore.filter((s) => s.startsWith('study_tune@'));
    assert.equal(tunes.length, 4 * 4, 'four methods x four learning rates x one warmup');
    assert.ok(twoCore.includes('study_tune@m0-0.002-100') && twoCore.includes('study_tune@fpi_sb-0.016-100'));
    assert.deepEqual(
      twoCore.filter((s) => s.startsWith('study_run@')).sort(),
      ['m0', 'small_cont', 'merge', 'fpi_sb'].flatMap((m) => [11, 12, 13, 14, 15].map((s) => `study_run@${m}-1-${s}`)).sort(),
      'budget 1x only, the five reporting seeds, fpi_copy dropped',
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
