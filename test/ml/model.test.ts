import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '../../src/ml/backend/tf.ts';
import { gptConfig, paramCount, weightShapes, type HostWeights } from '../../src/ml/core/config.ts';
import { initWeights, logits, loss, toHost, toTensors } from '../../src/ml/core/model.ts';
import { Rng } from '../../src/ml/core/rng.ts';
import { referenceLoss } from './reference-gpt.ts';

await tf.setBackend('cpu');
tf.silenceCpuBanner();

// headSize·nHead (8) deliberately differs from nEmbd (12): growth relies on that.
const cfg = gptConfig({ vocabSize: 11, blockSize: 6, nLayer: 2, nHead: 2, nEmbd: 12, headSize: 4, nInner: 20 });

/** Larger-than-init random weights so every path (LN scale, biases, attention) matters. */
function randomWeights(seed: number): HostWeights {
  const rng = new Rng(seed);
  const hw: HostWeights = new Map();
  for (const { name, shape } of weightShapes(cfg)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) data[i] = (name.includes('ln_') && name.endsWith('weight') ? 1 : 0) + 0.3 * rng.normal();
    hw.set(name, { shape, data });
  }
  return hw;
}

const xs = [
  [1, 4, 2, 9, 0, 3],
  [7, 7, 10, 5, 1, 2],
];
const ys = [
  [4, 2, 9, 0, 3, 8],
  [7, 10, 5, 1, 2, 6],
];

test('initWeights is seeded, GPT-2 shaped and scaled', () => {
  const a = initWeights(cfg, 1);
  const b = initWeights(cfg, 1);
  const c = initWeights(cfg, 2);
  assert.equal(
    [...a.values()].reduce((n, w) => n + w.data.length, 0),
    paramCount(cfg),
  );
  for (const [name, w] of a) assert.deepEqual(w.data, b.get(name)!.data, name);
  assert.notDeepEqual(a.get('transformer.wte.weight')!.data, c.get('transformer.wte.weight')!.data);
  assert.ok(a.get('transformer.h.0.ln_1.weight')!.data.every((v) => v === 1));
  assert.ok(a.get('transformer.h.0.attn.c_attn.bias')!.data.every((v) => v === 0));
  const big = initWeights(gptConfig({ vocabSize: 512, blockSize: 8, nLayer: 8, nHead: 2, nEmbd: 64 }), 3);
  const std = (x: Float32Array) => Math.sqrt(x.reduce((s, v) => s + v * v, 0) / x.length);
  assert.ok(Math.abs(std(big.get('transformer.wte.weight')!.data) - 0.02) < 0.001);
  assert.ok(Math.abs(std(big.get('transformer.h.0.mlp.c_proj.weight')!.data) - 0.02 / 4) < 0.0005);
});

test('toTensors/toHost round-trip bit-exactly', () => {
  const hw = randomWeights(5);
  const ts = toTensors(hw);
  const back = toHost(ts);
  tf.dispose(Object.values(ts));
  for (const [name, w] of hw) {
    assert.deepEqual(back.get(name)!.shape, w.shape);
    assert.deepEqual(back.get(name)!.data, w.data);
  }
});

test('forward logits and loss match a naive float64 reference (abs tol 1e-4)', () => {
  const hw = randomWeights(7);
  const ref = referenceLoss(cfg, hw, xs, ys);
  const [z, l] = tf.tidy(() => {
    const w = toTensors(hw);
    const x = tf.tensor2d(xs, undefined, 'int32');
    const y = tf.tensor2d(ys, undefined, 'int32');
    const lg = logits(cfg, w, x);
    assert.deepEqual(lg.shape, [2, 6, 11]);
    return [lg.dataSync(), loss(cfg, w, x, y).dataSync()[0]];
  });
  let maxErr = 0;
  z.forEach((v, i) => (maxErr = Math.max(maxErr, Math.abs(v - ref.logits[i]))));
  assert.ok(maxErr < 1e-4, `logits differ by ${maxErr}`);
  assert.ok(Math.abs(l - ref.loss) < 1e-5, `loss ${l} vs reference ${ref.loss}`);
});

test('gradient of the loss matches central finite differences of the float64 reference', () => {
  // tfjs computes in float32 (relative error ~1e-6); the reference differences use h = 1e-4 in
  // float64 (truncation error ~h² ≈ 1e-8). Tolerance: |g − fd| ≤ 1e-4 + 1e-3·|fd|.
  const hw = randomWeights(11);
  const names = weightShapes(cfg).map((s) => s.name);
  const grads = tf.tidy(() => {
    const w = toTensors(hw);
    const x = tf.tensor2d(xs, undefined, 'int32');
    const y = tf.tensor2d(ys, undefined, 'int32');
    const f = (...ts: tf.Tensor[]) => loss(cfg, Object.fromEntries(names.map((n, i) => [n, ts[i]])), x, y);
    return tf
      .grads(f)(names.map((n) => w[n]))
      .map((g) => g.dataSync() as Float32Array);
  });
  const rng = new Rng(3);
  const h = 1e-4;
  let checked = 0;
  names.forEach((name, ni) => {
    const base = hw.get(name)!;
    for (let k = 0; k < 3; k++) {
      const idx = rng.int(base.data.length);
      const at = (delta: number) => {
        const data = Float64Array.from(base.data);
        data[idx] += delta;
        const m = new Map(hw) as unknown as Map<string, { shape: number[]; data: ArrayLike<number> }>;
        m.set(name, { shape: base.shape, data });
        return referenceLoss(cfg, m as unknown as HostWeights, xs, ys).loss;
      };
      const fd = (at(h) - at(-h)) / (2 * h);
      const g = grads[ni][idx];
      assert.ok(Math.abs(g - fd) <= 1e-4 + 1e-3 * Math.abs(fd), `${name}[${idx}]: autodiff ${g} vs finite difference ${fd}`);
      checked++;
    }
  });
  assert.equal(checked, 3 * names.length);
});

test('fused kernels (cpu/wasm fast path) and the composite tfjs formulation agree, value and gradient', () => {
  // The composite path is what backends without our kernels (e.g. native TensorFlow) run.
  const hw = randomWeights(13);
  const names = weightShapes(cfg).map((s) => s.name);
  const run = () =>
    tf.tidy(() => {
      const w = toTensors(hw);
      const x = tf.tensor2d(xs, undefined, 'int32');
      const y = tf.tensor2d(ys, undefined, 'int32');
      const r = tf.valueAndGrads((...ts: tf.Tensor[]) => loss(cfg, Object.fromEntries(names.map((n, i) => [n, ts[i]])), x, y))(
        names.map((n) => w[n]),
      );
      return [r.value.dataSync()[0], ...r.grads.flatMap((g) => Array.from(g.dataSync()))];
    });
  const fast = run();
  process.env.GROW_FUSED_KERNELS = '0';
  let slow: number[];
  try {
    slow = run();
  } finally {
    delete process.env.GROW_FUSED_KERNELS;
  }
  const scale = Math.max(...slow.map(Math.abs));
  fast.forEach((v, i) => assert.ok(Math.abs(v - slow[i]) <= 1e-5 * scale, `value ${i}: fused ${v} vs composite ${slow[i]}`));
});
