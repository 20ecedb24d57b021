import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gptConfig } from '../../src/ml/core/config.ts';
import { initWeights } from '../../src/ml/core/model.ts';
import { AdamW } from '../../src/ml/core/adamw.ts';
import { lrAt } from '../../src/ml/core/schedule.ts';
import { BatchSampler, fixedBatches } from '../../src/ml/core/sampler.ts';
import { Rng } from '../../src/ml/core/rng.ts';

test('AdamW matches torch.optim.AdamW semantics step by step, with clipping and the decay rule', () => {
  const cfg = gptConfig({ vocabSize: 5, blockSize: 3, nLayer: 1, nHead: 1, nEmbd: 4 });
  const init = initWeights(cfg, 1);
  const o = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, clip: 0.5 };
  const opt = new AdamW(cfg, o, init);
  // A float64 re-statement of the update for every coordinate, 3 steps.
  const p = Float64Array.from(opt.params);
  const m = new Float64Array(p.length);
  const v = new Float64Array(p.length);
  const rng = new Rng(4);
  for (let t = 1; t <= 3; t++) {
    const grads = opt.slots.map((s) => Float32Array.from({ length: s.size }, () => rng.normal()));
    const lr = 0.01 * t;
    const norm = opt.update(grads, lr);
    let sq = 0;
    for (const g of grads) for (const x of g) sq += x * x;
    assert.ok(Math.abs(norm - Math.sqrt(sq)) < 1e-9 * norm);
    const scale = Math.min(1, o.clip / Math.sqrt(sq));
    opt.slots.forEach((s, k) => {
      for (let i = 0; i < s.size; i++) {
        const j = s.offset + i;
        const g = grads[k][i] * scale;
        m[j] = Math.fround(o.beta1 * m[j] + (1 - o.beta1) * g);
        v[j] = Math.fround(o.beta2 * v[j] + (1 - o.beta2) * g * g);
        const mh = m[j] / (1 - o.beta1 ** t);
        const vh = v[j] / (1 - o.beta2 ** t);
        p[j] = Math.fround(p[j] * (s.decay ? 1 - lr * o.weightDecay : 1) - (lr * mh) / (Math.sqrt(vh) + o.eps));
      }
    });
  }
  let maxErr = 0;
  p.forEach((x, j) => (maxErr = Math.max(maxErr, Math.abs(x - opt.params[j]))));
  assert.ok(maxErr < 1e-6, `max deviation ${maxErr}`);
  assert.equal(opt.step, 3);
  const decayed = opt.slots.filter((s) => s.decay).map((s) => s.name);
  assert.ok(
    decayed.includes('transformer.wte.weight') &&
      decayed.includes('transformer.wpe.weight') &&
      decayed.includes('transformer.h.0.attn.c_attn.weight'),
  );
  assert.ok(!decayed.some((n) => n.endsWith('.bias') || n.includes('ln_')), 'no decay on biases and LayerNorm');
});

test('schedule: linear warmup, cosine decay to minLr', () => {
  const s = { lr: 1e-3, minLr: 1e-4, warmupSteps: 10, totalSteps: 110 };
  assert.equal(lrAt(s, 0), 1e-4);
  assert.equal(lrAt(s, 9), 1e-3);
  assert.ok(Math.abs(lrAt(s, 10) - 1e-3) < 1e-15);
  assert.ok(Math.abs(lrAt(s, 60) - 5.5e-4) < 1e-12, 'half way down the cosine');
  assert.ok(Math.abs(lrAt(s, 110) - 1e-4) < 1e-15);
  assert.ok(Math.abs(lrAt(s, 500) - 1e-4) < 1e-15, 'stays at minLr after the end');
  assert.ok(lrAt(s, 30) > lrAt(s, 31));
});

test('sampler: windows of seq+1 from the stream, determined by the seed and resumable from its state', () => {
  const tokens = Uint16Array.from({ length: 100 }, (_, i) => i);
  const a = new BatchSampler(tokens, 4, 8, 7);
  const b = new BatchSampler(tokens, 4, 8, 7);
  const first = a.next();
  assert.deepEqual(first, b.next());
  for (let r = 0; r < 4; r++) {
    const o = first.x[r * 8];
    for (let t = 0; t < 8; t++) {
      assert.equal(first.x[r * 8 + t], o + t);
      assert.equal(first.y[r * 8 + t], o + t + 1);
    }
    assert.ok(o + 8 <= 99);
  }
  const resumed = new BatchSampler(tokens, 4, 8, a.state());
  assert.deepEqual(resumed.next(), a.next());
  assert.notDeepEqual(new BatchSampler(tokens, 4, 8, 8).next(), first);
  const fixed = fixedBatches(tokens, 2, 3, 8);
  assert.deepEqual(fixed, fixedBatches(tokens, 2, 3, 8));
  assert.equal(fixed[0].x[0], 0);
  assert.equal(fixed[1].y[3 * 8 - 1], 99, 'the last window ends at the last token');
  assert.throws(() => new BatchSampler(tokens.slice(0, 8), 1, 8, 1), /8 tokens is shorter than one window of seq\+1 = 9/);
});
