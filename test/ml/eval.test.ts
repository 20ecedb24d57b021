import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '../../src/ml/backend/tf.ts';
import { initBackend } from '../../src/ml/backend/index.ts';
import { gptConfig } from '../../src/ml/core/config.ts';
import { evaluateStream } from '../../src/ml/core/score.ts';
import { initWeights, toTensors } from '../../src/ml/core/model.ts';
import { referenceLoss } from './reference-gpt.ts';

test('evaluateStream scores non-overlapping windows in batches, matching a float64 reference', async () => {
  await initBackend('wasm', { quiet: true });
  const cfg = gptConfig({ vocabSize: 9, blockSize: 5, nLayer: 1, nHead: 2, nEmbd: 8 });
  const hw = initWeights(cfg, 2);
  for (const w of hw.values()) for (let i = 0; i < w.data.length; i++) w.data[i] *= 20;
  const tokens = Uint16Array.from({ length: 38 }, (_, i) => (i * i + 3 * i) % 9);
  const seq = 5;
  const windows = Math.floor((tokens.length - 1) / seq); // 7 windows; batch 3 leaves a short last batch
  const xs: number[][] = [];
  const ys: number[][] = [];
  for (let k = 0; k < windows; k++) {
    xs.push([...tokens.slice(k * seq, k * seq + seq)]);
    ys.push([...tokens.slice(k * seq + 1, k * seq + seq + 1)]);
  }
  const ref = referenceLoss(cfg, hw, xs, ys);
  let correct = 0;
  ys.flat().forEach((y, i) => {
    const row = ref.logits.subarray(i * 9, i * 9 + 9);
    if (row.indexOf(Math.max(...row)) === y) correct++;
  });
  const w = toTensors(hw);
  const r = await evaluateStream(cfg, w, tokens, { seq, batch: 3 }); // first call also caches the causal mask
  const before = tf.memory().numTensors;
  const again = await evaluateStream(cfg, w, tokens, { seq, batch: 2 });
  assert.equal(tf.memory().numTensors, before);
  tf.dispose(Object.values(w));
  assert.equal(r.tokens, windows * seq);
  assert.ok(Math.abs(r.loss - ref.loss) < 1e-5, `${r.loss} vs ${ref.loss}`);
  assert.ok(Math.abs(r.perplexity - Math.exp(ref.loss)) < 1e-4 * Math.exp(ref.loss));
  assert.equal(r.accuracy, correct / (windows * seq));
  assert.ok(r.accuracy > 0 && r.accuracy < 1);
  assert.ok(Math.abs(again.loss - r.loss) < 1e-6 * r.loss, 'batching does not change the result (beyond float32 rounding)');
  assert.equal(again.accuracy, r.accuracy);
  await assert.rejects(() => evaluateStream(cfg, toTensors(hw), tokens.slice(0, 4), { seq, batch: 2 }), /shorter than one window/);
});
