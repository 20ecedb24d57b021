// Machine-dependent figures are split off into artifacts/timings/… mirrors (declared
// `verify: false`) and merged back by the readers: real files in a temp project.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readMetrics } from '../../src/experiment/curves.ts';
import { readTrainSummary } from '../../src/experiment/run-files.ts';
import {
  mergeTimings,
  readJsonWithTimings,
  splitJsonFile,
  splitJsonlFile,
  splitTimings,
  timingsPath,
} from '../../src/experiment/timings.ts';

test('splitTimings removes timing keys at any depth and mergeTimings puts them back exactly', () => {
  const profile = {
    backend: 'wasm',
    kernels: { small: [{ name: 'MatMul', ms: 1.5 }] },
    stages: [
      { id: 'm0', flops: 10, wall_s: 2.5, tflops_per_s: 4e-12, peak_rss_mb: 300 },
      { id: 'x', flops: 3 },
    ],
    best: { model: 'm1', saving_refine_only: 0.5, saving_wall_refine_only: 0.4, m0_wall_s: 9 },
  };
  const { kept, timings } = splitTimings(profile);
  assert.deepEqual(kept, {
    backend: 'wasm',
    stages: [
      { id: 'm0', flops: 10 },
      { id: 'x', flops: 3 },
    ],
    best: { model: 'm1', saving_refine_only: 0.5 },
  });
  assert.deepEqual(timings, {
    kernels: { small: [{ name: 'MatMul', ms: 1.5 }] },
    stages: [{ wall_s: 2.5, tflops_per_s: 4e-12, peak_rss_mb: 300 }, null],
    best: { saving_wall_refine_only: 0.4, m0_wall_s: 9 },
  });
  assert.deepEqual(mergeTimings(kept, timings), profile);
  assert.deepEqual(splitTimings({ a: 1 }).timings, undefined);
});

test('a run directory split on disk reads back whole; the out itself keeps no timing', (t) => {
  const root = mkdtempSync(join(tmpdir(), 'growline-timings-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const dir = join(root, 'artifacts/models/s1/m0');
  mkdirSync(dir, { recursive: true });
  const train = {
    backend: 'wasm',
    params: 100,
    flops_per_step: 5,
    steps: 2,
    flops: 10,
    wall_s: 1.25,
    ms_per_step: 625,
    peak_rss_mb: 2,
    final_val_loss: 3.5,
  };
  writeFileSync(join(dir, 'train.json'), JSON.stringify(train));
  writeFileSync(
    join(dir, 'metrics.jsonl'),
    '{"step":0,"flops":0,"wall_s":0,"val_loss":6}\n{"step":2,"flops":10,"wall_s":1.25,"val_loss":3.5}\n',
  );
  splitJsonFile(join(dir, 'train.json'), root);
  splitJsonlFile(join(dir, 'metrics.jsonl'), root);
  assert.equal(timingsPath(join(dir, 'train.json'), root), join(root, 'artifacts/timings/models/s1/m0/train.json'));
  assert.doesNotMatch(readFileSync(join(dir, 'train.json'), 'utf8'), /wall_s|ms_per_step|peak_rss/);
  assert.doesNotMatch(readFileSync(join(dir, 'metrics.jsonl'), 'utf8'), /wall_s/);
  assert.deepEqual(JSON.parse(readFileSync(join(root, 'artifacts/timings/models/s1/m0/train.json'), 'utf8')), {
    wall_s: 1.25,
    ms_per_step: 625,
    peak_rss_mb: 2,
  });
  assert.deepEqual(readJsonWithTimings(join(dir, 'train.json'), root), train);
  const saved = process.env.GROW_ROOT;
  process.env.GROW_ROOT = root;
  try {
    assert.equal(readTrainSummary(dir).wall_s, 1.25);
    assert.equal(readTrainSummary(dir).peak_rss_bytes, 2 * 2 ** 20);
    assert.deepEqual(
      readMetrics(join(dir, 'metrics.jsonl')).map((r) => r.wall_s),
      [0, 1.25],
    );
  } finally {
    if (saved === undefined) delete process.env.GROW_ROOT;
    else process.env.GROW_ROOT = saved;
  }
});

test('a file outside artifacts/ (a stage run by hand elsewhere) is left whole', (t) => {
  const root = mkdtempSync(join(tmpdir(), 'growline-timings-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  writeFileSync(join(root, 'train.json'), '{"flops":1,"wall_s":2}');
  splitJsonFile(join(root, 'train.json'), root);
  assert.deepEqual(JSON.parse(readFileSync(join(root, 'train.json'), 'utf8')), { flops: 1, wall_s: 2 });
});
