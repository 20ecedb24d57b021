import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CurvePoint } from '../../src/experiment/curves.ts';
import { type StudyRun, endLossOf, selectHyper, summariseStudy } from '../../src/experiment/study.ts';

test('selection takes the lowest tuning-seed loss per method, the same rule for every method, ties to the lower lr', () => {
  const grid = [
    { method: 'm0', lr: 0.001, warmup: 20, final_val_loss: 5.3 },
    { method: 'm0', lr: 0.002, warmup: 20, final_val_loss: 5.2 },
    { method: 'm0', lr: 0.003, warmup: 20, final_val_loss: 5.2 },
    { method: 'merge', lr: 0.001, warmup: 100, final_val_loss: 5.0 },
    { method: 'merge', lr: 0.004, warmup: 20, final_val_loss: Number.NaN },
  ];
  const sel = selectHyper(grid, 101);
  assert.deepEqual(sel.selected, { m0: { lr: 0.002, warmup: 20, val_loss: 5.2 }, merge: { lr: 0.001, warmup: 100, val_loss: 5.0 } });
  assert.equal(sel.tune_seed, 101);
  assert.equal(sel.grid.length, 5);
  assert.throws(() => selectHyper([{ method: 'fpi', lr: 0.001, warmup: 20, final_val_loss: Number.NaN }], 1), /every grid point diverged/);
});

const curve = (pts: [number, number][]): CurvePoint[] => pts.map(([flops, val_loss], i) => ({ step: i, flops, wall_s: i, val_loss }));

test('the study summary pairs each method with M0 of the same seed and budget and charges its sources', () => {
  const run = (method: string, seed: number, end: number, charged: number): StudyRun => ({
    method,
    budget: 1,
    seed,
    curve: curve([
      [0, 7],
      [500, 5.5],
      [1000, end],
    ]),
    val_loss: null,
    flops: 1000,
    wall_s: 1,
    charged_flops: charged,
    charged_sources: charged > 0 ? ['artifacts/models/small/s1/1'] : [],
  });
  const runs = [run('m0', 1, 5.0, 0), run('m0', 2, 5.2, 0), run('fpi_sb', 1, 4.9, 200), run('fpi_sb', 2, 5.0, 200)];
  const cells = summariseStudy(runs);
  const fpi = cells.find((c) => c.method === 'fpi_sb')!;
  assert.deepEqual(fpi.seeds, [1, 2]);
  assert.equal(fpi.total_flops, 1200);
  // Paired differences: 4.9 − 5.0 and 5.0 − 5.2.
  assert.ok(Math.abs(fpi.delta_vs_m0.mean! - -0.15) < 1e-12);
  assert.ok(fpi.delta_vs_m0.ci95 !== null);
  // Both seeds reach M0's final loss; the charged 200 FLOPs count against the saving.
  assert.equal(fpi.reached, 2);
  assert.ok(fpi.saving_with_small.max! < 1 - 200 / 1000);
  assert.throws(() => summariseStudy([run('merge', 3, 5, 0)]), /no M0 run for budget 1, seed 3/);
});

test('final losses and differences use the whole validation split when every run was scored on it, never a mix', () => {
  const run = (method: string, seed: number, sampleEnd: number, full: number | null): StudyRun => ({
    method,
    budget: 1,
    seed,
    curve: curve([
      [0, 7],
      [1000, sampleEnd],
    ]),
    val_loss: full,
    flops: 1000,
    wall_s: 1,
    charged_flops: 0,
    charged_sources: [],
  });
  const full = summariseStudy([run('m0', 1, 5.0, 5.3), run('merge', 1, 4.9, 5.35)]);
  assert.equal(endLossOf([run('m0', 1, 5.0, 5.3)]).split, 'full');
  // On the sample merge looks 0.1 better; on the whole split it is 0.05 worse.
  assert.ok(Math.abs(full.find((c) => c.method === 'merge')!.delta_vs_m0.mean! - 0.05) < 1e-12);
  assert.equal(full.find((c) => c.method === 'm0')!.final_val_loss.mean, 5.3);
  // One run without the full-split score: every loss falls back to the sample.
  const mixed = [run('m0', 1, 5.0, 5.3), run('merge', 1, 4.9, null)];
  assert.equal(endLossOf(mixed).split, 'sample');
  assert.ok(Math.abs(summariseStudy(mixed).find((c) => c.method === 'merge')!.delta_vs_m0.mean! - -0.1) < 1e-12);
});

test('a tuning seed among the reporting seeds is refused in one line naming the file and the fix', () => {
  const dir = mkdtempSync(join(tmpdir(), 'growline-study-'));
  try {
    writeFileSync(
      join(dir, 'p.yaml'),
      'study: {methods: [m0], lrs: [0.001], warmups: [20], tune_seed: 3, seeds: [1, 2, 3], budgets: [1]}\n',
    );
    const r = spawnSync(
      process.execPath,
      ['--import', 'tsx', join(process.cwd(), 'stages/study.ts'), '--do', 'select', '--params', join(dir, 'p.yaml')],
      { encoding: 'utf8' },
    );
    assert.equal(r.status, 1);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /p\.yaml: study\.seeds \[1,2,3\] contains the tuning seed 3; .*pick another study\.tune_seed/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
