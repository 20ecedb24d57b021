import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '../../src/ml/backend/tf.ts';
import { initBackend } from '../../src/ml/backend/index.ts';
import { gptConfig, type ModelConfig } from '../../src/ml/core/config.ts';
import { stepFlops } from '../../src/ml/core/flops.ts';
import { initWeights } from '../../src/ml/core/model.ts';
import { AdamW } from '../../src/ml/core/adamw.ts';
import { createStepper } from '../../src/ml/core/step.ts';

/** Runs `f` with every BatchMatMul/_FusedMatMul kernel call on the active backend counted as 2·batch·M·N·K. */
async function countMatMulFlops(f: () => Promise<unknown>): Promise<{ flops: number; calls: number }> {
  const backend = tf.getBackend();
  let flops = 0;
  let calls = 0;
  const originals = ['BatchMatMul', '_FusedMatMul'].map((name) => tf.getKernel(name, backend)!);
  for (const k of originals) {
    tf.unregisterKernel(k.kernelName, backend);
    tf.registerKernel({
      ...k,
      kernelFunc: (args) => {
        const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
        const { transposeA, transposeB } = args.attrs as unknown as tf.BatchMatMulAttrs;
        const ra = a.shape.length;
        const rb = b.shape.length;
        const M = transposeA ? a.shape[ra - 1] : a.shape[ra - 2];
        const K = transposeA ? a.shape[ra - 2] : a.shape[ra - 1];
        const N = transposeB ? b.shape[rb - 2] : b.shape[rb - 1];
        const batch = Math.max(
          a.shape.slice(0, -2).reduce((x, y) => x * y, 1),
          b.shape.slice(0, -2).reduce((x, y) => x * y, 1),
        );
        flops += 2 * batch * M * N * K;
        calls++;
        return k.kernelFunc(args);
      },
    });
  }
  try {
    await f();
  } finally {
    for (const k of originals) {
      tf.unregisterKernel(k.kernelName, backend);
      tf.registerKernel(k);
    }
  }
  return { flops, calls };
}

async function measure(cfg: ModelConfig, batch: number, seq: number) {
  const opt = new AdamW(cfg, { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0, clip: 0 }, initWeights(cfg, 1));
  const stepper = await createStepper(cfg, opt);
  const x = Int32Array.from({ length: batch * seq }, (_, i) => (i * 7) % cfg.vocabSize);
  const y = Int32Array.from({ length: batch * seq }, (_, i) => (i * 3) % cfg.vocabSize);
  const counted = await countMatMulFlops(() => stepper.step({ x, y, batch, seq }, 1e-3));
  stepper.dispose();
  return counted;
}

for (const backend of ['cpu', 'wasm'] as const) {
  test(`analytic training FLOPs equal the matMul FLOPs a real step executes (${backend})`, async () => {
    await initBackend(backend, { quiet: true });
    const cases: [ModelConfig, number, number][] = [
      [gptConfig({ vocabSize: 17, blockSize: 8, nLayer: 2, nHead: 2, nEmbd: 8 }), 3, 8],
      [gptConfig({ vocabSize: 11, blockSize: 8, nLayer: 1, nHead: 3, nEmbd: 12, headSize: 5, nInner: 20 }), 2, 6],
    ];
    for (const [cfg, batch, seq] of cases) {
      const { flops, calls } = await measure(cfg, batch, seq);
      const f = stepFlops(cfg, batch, seq);
      // 6 products per layer + logits, forward and two gradients each.
      assert.equal(calls, 3 * (6 * cfg.nLayer + 1));
      assert.equal(flops, f.training, `counted ${flops} vs formula ${f.training}`);
      assert.equal(f.training, 3 * f.forward.total);
    }
  });
}

test('FLOPs formula for the benchmark configs (documented in docs/flops.md)', () => {
  const small = gptConfig({ vocabSize: 2048, blockSize: 64, nLayer: 2, nHead: 2, nEmbd: 64 });
  const large = gptConfig({ vocabSize: 2048, blockSize: 64, nLayer: 4, nHead: 4, nEmbd: 128 });
  // 6·(12·L·d² + V·d)·tokens + 12·L·T·d·tokens (the closed form for GPT-2 shapes)
  const closed = (c: ModelConfig, B: number, T: number) =>
    6 * (12 * c.nLayer * c.nEmbd ** 2 + c.vocabSize * c.nEmbd) * B * T + 12 * c.nLayer * T * c.nEmbd * B * T;
  assert.equal(stepFlops(small, 16, 64).training, closed(small, 16, 64));
  assert.equal(stepFlops(large, 16, 64).training, closed(large, 16, 64));
});
