/**
 * ligo: at initialisation the learned operator materialises exactly the merge operator (with
 * stack_zero for new layers, and LEMON mean channels when the target is wider than n·d0); a few
 * Adam steps through the materialisation lower the large model's loss; FLOPs are counted.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '../../src/ml/backend/tf.ts';
import { gptConfig, type HostWeights, type ModelConfig } from '../../src/ml/core/config.ts';
import { logits, toTensors } from '../../src/ml/core/model.ts';
import { growHost } from '../../src/ml/growth/index.ts';
import { LigoOperator, growLigo, type TokenBatch } from '../../src/ml/growth/ligo.ts';
import { maxAbsDiff, randomModel, randomTokens } from './growth-reference.ts';

await tf.setBackend('cpu');
tf.silenceCpuBanner();

const small = gptConfig({ vocabSize: 13, blockSize: 6, nLayer: 2, nHead: 2, nEmbd: 8, headSize: 4, nInner: 20 });
const sources = [21, 22].map((s) => ({ cfg: small, weights: randomModel(small, s) }));
const tokens = randomTokens(small, 3, 6, 4);

function tfLogits(cfg: ModelConfig, w: HostWeights): Float32Array {
  return tf.tidy(() => logits(cfg, toTensors(w), tf.tensor2d(tokens, undefined, 'int32')).dataSync() as Float32Array);
}

test('ligo at initialisation equals merge+stack_zero weight for weight', async () => {
  const target: ModelConfig = { ...small, nEmbd: 16, nHead: 4, nInner: 40, nLayer: 3 };
  const op = new LigoOperator(sources, target);
  const w = await op.toHostWeights();
  op.dispose();
  const m = growHost('merge+stack_zero', sources, target);
  for (const [name, t] of m.weights) {
    assert.deepEqual(w.get(name)!.shape, t.shape, name);
    assert.ok(maxAbsDiff(w.get(name)!.data, t.data) < 1e-6, name);
  }
});

test('ligo at initialisation equals merge as a function when the target is wider than n·d0', async () => {
  const target: ModelConfig = { ...small, nEmbd: 20, nHead: 5, nInner: 44 };
  const op = new LigoOperator(sources, target);
  const w = await op.toHostWeights();
  op.dispose();
  const m = growHost('merge', sources, { ...small, nEmbd: 16, nHead: 4, nInner: 40 });
  assert.ok(Math.abs(op.cfg.lnEps - small.lnEps * (16 / 20)) < 1e-15);
  const gap = maxAbsDiff(tfLogits(op.cfg, w), tfLogits(m.cfg, m.weights));
  assert.ok(gap < 1e-5, `max |Δlogit| ${gap}`);
});

test('training the operator lowers the large model loss and counts its FLOPs', async () => {
  const target: ModelConfig = { ...small, nEmbd: 16, nHead: 4, nInner: 40, nLayer: 3 };
  const seqs = randomTokens(small, 4, 7, 9);
  const batch: TokenBatch = {
    x: Int32Array.from(seqs.flatMap((s) => s.slice(0, 6))),
    y: Int32Array.from(seqs.flatMap((s) => s.slice(1))),
    batch: 4,
    seq: 6,
  };
  const before = tf.memory().numTensors;
  const r = await growLigo(sources, target, { steps: 8, lr: 0.01, batchAt: () => batch });
  assert.equal(tf.memory().numTensors, before, 'no tensors leak');
  assert.equal(r.losses.length, 8);
  assert.ok(r.losses[7] < r.losses[0] - 1e-3, `loss ${r.losses[0]} → ${r.losses[7]}`);
  assert.ok(r.flops > 8 * 3 * 2 * 24 * (16 * 40 * 2) * 3, 'at least the MLP matmuls of 8 steps');
  assert.equal(r.weights.get('transformer.h.2.mlp.c_fc.weight')!.shape.join(), '16,40');
});
