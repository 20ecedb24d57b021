import { test } from 'node:test';
import assert from 'node:assert/strict';
import { combineScores } from '../../src/experiment/eval-metrics.ts';
import { rankKernels } from '../../src/experiment/kernels.ts';

test('rankKernels sums time per kernel name, skips op wrappers, ranks by time', () => {
  const ranked = rankKernels(
    [
      { name: 'BatchMatMul', kernelTimeMs: 2 },
      { name: 'Add', kernelTimeMs: 1.5 },
      { name: 'BatchMatMul', kernelTimeMs: 3 },
      { name: 'fusedMatMul__op', kernelTimeMs: 9 },
      { name: 'Exp', kernelTimeMs: { error: 'timer unavailable' } },
    ],
    2,
  );
  assert.deepEqual(ranked, [
    { name: 'BatchMatMul', ms: 5, count: 2 },
    { name: 'Add', ms: 1.5, count: 1 },
  ]);
});

test('combineScores weights each dataset by its tokens, and ppl is exp(loss)', () => {
  const c = combineScores([
    { loss: 2, ppl: Math.exp(2), accuracy: 0.5, tokens: 100 },
    { loss: 4, ppl: Math.exp(4), accuracy: 0.2, tokens: 300 },
  ]);
  assert.equal(c.tokens, 400);
  assert.equal(c.loss, 3.5);
  assert.ok(Math.abs(c.accuracy - 0.275) < 1e-12);
  assert.equal(c.ppl, Math.exp(3.5));
});
