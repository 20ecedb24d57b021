import { test } from 'node:test';
import assert from 'node:assert/strict';
import { type CurvePoint, evalCurve, lossAt, reachAt } from '../../src/experiment/curves.ts';
import { computeSaving, spread, summariseByMethod } from '../../src/experiment/savings.ts';

/** A hand-made curve: (flops, val_loss) pairs, wall time = flops / 1e9 s. */
function curve(pairs: [number, number][]): CurvePoint[] {
  return pairs.map(([flops, val_loss], step) => ({ step: step * 100, flops, wall_s: flops / 1e9, val_loss }));
}

test('reachAt interpolates linearly between the evaluations around the target', () => {
  const c = curve([
    [0, 6],
    [100, 4],
    [200, 3],
    [300, 2.5],
  ]);
  assert.equal(reachAt(c, 3.5), 150); // halfway from 4 (at 100) to 3 (at 200)
  assert.equal(reachAt(c, 3), 200); // exactly on an evaluation
  assert.equal(reachAt(c, 7), 0); // the first point already meets it
  assert.equal(reachAt(c, 3.5, 'wall_s'), 150 / 1e9);
});

test('reachAt takes the first crossing and returns null when the curve never gets there', () => {
  const bumpy = curve([
    [0, 5],
    [100, 3],
    [200, 3.6],
    [300, 2.9],
  ]);
  assert.equal(reachAt(bumpy, 3.2), 100 * ((5 - 3.2) / (5 - 3)));
  assert.equal(reachAt(bumpy, 2.5), null);
  assert.equal(reachAt([], 1), null);
});

test('lossAt interpolates inside the curve and refuses to extrapolate', () => {
  const c = curve([
    [0, 6],
    [100, 4],
    [200, 3],
  ]);
  assert.equal(lossAt(c, 50), 5);
  assert.equal(lossAt(c, 200), 3);
  assert.equal(lossAt(c, 201), null);
  assert.equal(lossAt(c, -1), null);
});

test('evalCurve keeps only rows with a finite validation loss, in step order', () => {
  const rows = [
    { step: 20, tokens: 0, flops: 20, wall_s: 2, val_loss: 3 },
    { step: 10, tokens: 0, flops: 10, wall_s: 1, train_loss: 4 },
    { step: 0, tokens: 0, flops: 0, wall_s: 0, val_loss: 5 },
    { step: 30, tokens: 0, flops: 30, wall_s: 3, val_loss: null },
  ];
  assert.deepEqual(
    evalCurve(rows).map((p) => p.step),
    [0, 20],
  );
});

test('computeSaving: refine-only and overhead-charged savings from the interpolated reach point', () => {
  const m0 = {
    name: 'm0',
    curve: curve([
      [0, 6],
      [500, 4],
      [1000, 3],
    ]),
    flops: 1000,
    wall_s: 1e-6,
  };
  const m1 = {
    name: 'm1-merge',
    method: 'merge',
    curve: curve([
      [0, 4],
      [200, 3.4],
      [400, 2.8],
      [600, 2.7],
    ]),
    flops: 600,
    wall_s: 6e-7,
    small_flops: 150,
    small_wall_s: 0,
    operator_flops: 50,
  };
  const s = computeSaving(m0, m1);
  assert.equal(s.target_val_loss, 3);
  assert.equal(s.reached, true);
  assert.ok(Math.abs(s.refine_flops_to_target! - (200 + 200 * (0.4 / 0.6))) < 1e-9);
  assert.ok(Math.abs(s.saving_refine_only! - (1 - s.refine_flops_to_target! / 1000)) < 1e-12);
  assert.ok(Math.abs(s.saving_with_small! - (1 - (s.refine_flops_to_target! + 200) / 1000)) < 1e-12);
  assert.ok(Math.abs(s.final_gap - (2.7 - 3)) < 1e-12);
  // equal FLOPs: at M1's refine budget (600) M0 is at 4 - 0.2 = 3.8 by interpolation.
  assert.ok(Math.abs(s.at_refine_budget.m0_val_loss! - 3.8) < 1e-12);
  assert.ok(Math.abs(s.at_total_budget.m0_val_loss! - (4 - 300 / 500)) < 1e-12);
});

test('computeSaving: a model that never reaches the target gets no saving, only its gap', () => {
  const m0 = {
    name: 'm0',
    curve: curve([
      [0, 6],
      [1000, 3],
    ]),
    flops: 1000,
    wall_s: 1,
  };
  const m1 = {
    name: 'm1-fpi',
    method: 'fpi',
    curve: curve([
      [0, 4],
      [1000, 3.2],
    ]),
    flops: 1000,
    wall_s: 1,
    small_flops: 0,
    small_wall_s: 0,
    operator_flops: 0,
  };
  const s = computeSaving(m0, m1);
  assert.equal(s.reached, false);
  assert.equal(s.saving_refine_only, null);
  assert.equal(s.saving_with_small, null);
  assert.ok(Math.abs(s.final_gap - 0.2) < 1e-12);
});

test('summariseByMethod gives the spread over seeds and counts the seeds that reached M0', () => {
  const two = spread([0.1, 0.3, null]);
  assert.deepEqual({ ...two, ci95: null }, { n: 2, mean: 0.2, std: Math.sqrt(0.02), min: 0.1, max: 0.3, ci95: null });
  // 95 % t-interval: mean ± t(0.975, 1) · s / √2 with t = 12.706.
  assert.ok(Math.abs(two.ci95![0] - (0.2 - (12.706 * Math.sqrt(0.02)) / Math.SQRT2)) < 1e-12);
  // Five seeds: t(0.975, 4) = 2.776 (the study's minimum).
  const five = spread([1, 2, 3, 4, 5]);
  assert.ok(Math.abs(five.ci95![1] - (3 + (2.776 * Math.sqrt(2.5)) / Math.sqrt(5))) < 1e-12);
  assert.equal(spread([0.4]).ci95, null);
  const m0 = {
    name: 'm0',
    curve: curve([
      [0, 6],
      [1000, 3],
    ]),
    flops: 1000,
    wall_s: 1,
  };
  const mk = (end: number) =>
    computeSaving(m0, {
      name: 'x',
      method: 'merge',
      curve: curve([
        [0, 4],
        [1000, end],
      ]),
      flops: 1000,
      wall_s: 1,
      small_flops: 0,
      small_wall_s: 0,
      operator_flops: 0,
    });
  const [sum] = summariseByMethod([mk(2), mk(3.5), mk(2.5)]);
  assert.equal(sum.seeds, 3);
  assert.equal(sum.reached, 2);
  assert.equal(sum.saving_refine_only.n, 2);
});
