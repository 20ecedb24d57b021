/**
 * The WebGPU path against the wasm backend, on whatever adapter this machine has: a real GPU, or
 * (CI, no GPU) Mesa's software rasterizer through OpenGL ES. Software rendering is slow, so the
 * model is tiny and the runs short.
 *
 * Tolerances, relative (to the value, or to the largest magnitude of the compared tensor); float32,
 * and the backends sum in different orders. Measured on Mesa llvmpipe in brackets.
 * - one forward and backward pass: 1e-4, the bound the wasm-vs-cpu test uses;
 * - the loss curve of a training run: 1e-5 per step [1e-7];
 * - its weights after STEPS AdamW steps: 1e-3 [2.2e-4, a bias]: AdamW divides each gradient by its
 *   own running RMS, so a near-zero gradient's rounding difference becomes a relative difference
 *   in its update (at most lr per step);
 * - the evaluation of the trained model: 1e-4; the ligo operator (Adam steps of its own): 1e-3.
 *
 * Skipped, with the reason, only where the libraries are missing (the npm package webgpu, or the
 * EGL/GLES and Mesa libraries behind a software adapter).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as tf from '../../src/ml/backend/tf.ts';
import { initBackend, backendLabel, activeBackend } from '../../src/ml/backend/index.ts';
import { FUSED, hasFusedKernels } from '../../src/ml/backend/fused-kernels.ts';
import { describeAdapter, isSoftwareAdapter, releaseWebgpu, startWebgpu } from '../../src/ml/backend/webgpu.ts';
import { gptConfig, weightShapes, type HostWeights } from '../../src/ml/core/config.ts';
import { initWeights, logits, loss, toTensors } from '../../src/ml/core/model.ts';
import { AdamW } from '../../src/ml/core/adamw.ts';
import { createStepper } from '../../src/ml/core/step.ts';
import { evaluateStream } from '../../src/ml/core/score.ts';
import { growLigo } from '../../src/ml/growth/ligo.ts';
import { Rng } from '../../src/ml/growth/random.ts';

const probe = await startWebgpu({ allowSoftware: true });
// Only missing libraries skip: an adapter that is found but fails to start tfjs's backend is a failure.
const skip =
  probe.ok || /did not initialise/.test(probe.why)
    ? false
    : `no WebGPU adapter here (${probe.why}); install the npm package webgpu and, without a GPU, libegl1 libgles2 libegl-mesa0 libgl1-mesa-dri`;
if (skip) process.stderr.write(`webgpu parity tests skipped: ${skip}\n`);
// Node would not exit while Dawn's instance is reachable.
process.on('beforeExit', () => releaseWebgpu());

const cfg = gptConfig({ vocabSize: 13, blockSize: 8, nLayer: 1, nHead: 2, nEmbd: 16 });
const names = weightShapes(cfg).map((s) => s.name);

function maxRelErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let scale = 0;
  let err = 0;
  for (let i = 0; i < b.length; i++) {
    scale = Math.max(scale, Math.abs(b[i]));
    err = Math.max(err, Math.abs(a[i] - b[i]));
  }
  return err / (scale || 1);
}

function closeWeights(what: string, got: HostWeights, ref: HostWeights, tol: number): void {
  for (const n of names) {
    const e = maxRelErr(got.get(n)!.data, ref.get(n)!.data);
    assert.ok(e <= tol, `${what}: ${n} differs by ${e} (relative) > ${tol}`);
  }
}

/** A deterministic token stream in which the next token depends on the previous one, so training has something to learn. */
function tokens(n: number, seed: number): Int32Array {
  const rng = new Rng(seed);
  const out = new Int32Array(n);
  for (let i = 1; i < n; i++) out[i] = rng.uniform() < 0.8 ? (out[i - 1] * 5 + 1) % 13 : Math.floor(rng.uniform() * 13);
  return out;
}

function batches(count: number, batch: number, seq: number) {
  const all = tokens(count * batch * (seq + 1) + 1, 3);
  return Array.from({ length: count }, (_, k) => {
    const x = new Int32Array(batch * seq);
    const y = new Int32Array(batch * seq);
    for (let r = 0; r < batch; r++) {
      const o = (k * batch + r) * (seq + 1);
      x.set(all.subarray(o, o + seq), r * seq);
      y.set(all.subarray(o + 1, o + seq + 1), r * seq);
    }
    return { x, y, batch, seq };
  });
}

test('webgpu: the fused kernels are absent and the model runs on composite ops, matching cpu forward and backward', { skip }, async () => {
  const hw = initWeights(cfg, 4);
  for (const w of hw.values()) for (let i = 0; i < w.data.length; i++) w.data[i] *= 4; // non-trivial activations
  const x = [
    [1, 2, 3, 4, 5, 6, 7, 8],
    [12, 0, 3, 3, 9, 1, 2, 11],
  ];
  const y = x.map((r) => r.map((v) => (v * 7 + 3) % 13));
  const run = async () => {
    const { lg, value, grads } = tf.tidy(() => {
      const w = toTensors(hw);
      const xt = tf.tensor2d(x, undefined, 'int32');
      const yt = tf.tensor2d(y, undefined, 'int32');
      const gs = tf.valueAndGrads((...ts: tf.Tensor[]) => loss(cfg, Object.fromEntries(names.map((n, i) => [n, ts[i]])), xt, yt))(
        names.map((n) => w[n]),
      );
      return { lg: logits(cfg, w, xt), value: gs.value, grads: gs.grads };
    });
    const out = { lg: await lg.data(), value: (await value.data())[0], grads: await Promise.all(grads.map((g) => g.data())) };
    tf.dispose([lg, value, ...grads]);
    return out;
  };
  await initBackend('cpu', { quiet: true });
  assert.equal(hasFusedKernels(), true, 'cpu runs the fused kernels (the reference)');
  const ref = await run();
  await initBackend('webgpu', { quiet: true });
  assert.equal(tf.getBackend(), 'webgpu');
  assert.equal(hasFusedKernels(), false, 'no fused kernel is registered for webgpu');
  // Called anyway, a fused kernel fails loudly rather than computing something else.
  assert.throws(
    () => tf.engine().runKernel(FUSED.layerNorm, { x: tf.zeros([2, 4]), w: tf.ones([4]), b: tf.zeros([4]) }, { eps: 1e-5 }),
    /not registered|kernel/i,
  );
  // The wasm kernel fixes are wasm-only: webgpu keeps its own kernels for the ops they replace.
  for (const k of ['UnsortedSegmentSum', 'OneHot', 'GatherV2', 'BatchMatMul'])
    assert.ok(tf.getKernel(k, 'webgpu'), `webgpu has its own ${k}`);
  const got = await run();
  assert.ok(ref.value > 1, 'loss is non-trivial');
  assert.ok(Math.abs(got.value - ref.value) <= 1e-4 * ref.value, `loss ${got.value} vs ${ref.value}`);
  assert.ok(maxRelErr(got.lg, ref.lg) <= 1e-4, `logits: ${maxRelErr(got.lg, ref.lg)}`);
  got.grads.forEach((g, i) => assert.ok(maxRelErr(g, ref.grads[i]) <= 1e-4, `grad ${names[i]}: ${maxRelErr(g, ref.grads[i])}`));
});

const STEPS = 6;

async function trainOn(backend: 'webgpu' | 'wasm') {
  await initBackend(backend, { quiet: true });
  const opt = new AdamW(cfg, { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, clip: 1 }, initWeights(cfg, 11));
  const stepper = await createStepper(cfg, opt);
  const losses: number[] = [];
  try {
    for (const b of batches(STEPS, 4, 8)) losses.push(await stepper.step(b, 3e-3));
    const evaluation = await evaluateStream(cfg, stepper.weights(), Uint16Array.from(tokens(200, 9)), { seq: 8, batch: 4 });
    const weights: HostWeights = new Map(
      opt.slots.map((s) => [s.name, { shape: s.shape, data: opt.params.slice(s.offset, s.offset + s.size) }]),
    );
    return { losses, weights, evaluation, label: backendLabel(activeBackend()) };
  } finally {
    stepper.dispose();
  }
}

test(`webgpu: a tiny GPT trained ${STEPS} steps matches wasm (loss curve, weights, evaluation)`, { skip }, async () => {
  const ref = await trainOn('wasm');
  const got = await trainOn('webgpu');
  assert.match(got.label!, /^webgpu \((vulkan|opengles): /, 'the adapter is part of the recorded backend');
  assert.ok(ref.losses.at(-1)! < ref.losses[0], `training lowers the loss: ${ref.losses}`);
  got.losses.forEach((l, i) =>
    assert.ok(Math.abs(l - ref.losses[i]) <= 1e-5 * ref.losses[i], `step ${i + 1}: loss ${l} vs ${ref.losses[i]}`),
  );
  closeWeights('trained weights', got.weights, ref.weights, 1e-3);
  for (const k of ['loss', 'accuracy'] as const) {
    assert.ok(
      Math.abs(got.evaluation[k] - ref.evaluation[k]) <= 1e-4 * ref.evaluation[k],
      `evaluation ${k}: ${got.evaluation[k]} vs ${ref.evaluation[k]}`,
    );
  }
  assert.equal(got.evaluation.tokens, ref.evaluation.tokens);
});

test('webgpu: the ligo growth operator (trained through tfjs) matches wasm', { skip }, async () => {
  const small = gptConfig({ vocabSize: 13, blockSize: 8, nLayer: 1, nHead: 2, nEmbd: 8, headSize: 4, nInner: 16 });
  const target = gptConfig({ vocabSize: 13, blockSize: 8, nLayer: 2, nHead: 4, nEmbd: 16, headSize: 4, nInner: 32 });
  const sources = [1, 2].map((seed) => ({ cfg: small, weights: initWeights(small, seed) }));
  const [b] = batches(1, 4, 8);
  const grow = async (backend: 'webgpu' | 'wasm') => {
    await initBackend(backend, { quiet: true });
    return growLigo(sources, target, { steps: 3, lr: 0.01, batchAt: () => b });
  };
  const ref = await grow('wasm');
  const got = await grow('webgpu');
  got.losses.forEach((l, i) =>
    assert.ok(Math.abs(l - ref.losses[i]) <= 1e-3 * ref.losses[i], `ligo step ${i + 1}: ${l} vs ${ref.losses[i]}`),
  );
  closeWeights('grown weights', got.weights, ref.weights, 1e-3);
});

test('software renderers are recognised by the names their drivers report', () => {
  assert.equal(
    isSoftwareAdapter({ device: 'llvmpipe-llvm-15-0-6-256-bits-', description: 'OpenGL version OpenGL ES 3.2 Mesa 22.3.6' }),
    true,
  );
  assert.equal(isSoftwareAdapter({ vendor: 'mesa', description: 'lavapipe' }), true);
  assert.equal(isSoftwareAdapter({ vendor: 'google', device: 'SwiftShader Device (Subzero)' }), true);
  assert.equal(isSoftwareAdapter({ isFallbackAdapter: true }), true);
  assert.equal(isSoftwareAdapter({ vendor: 'nvidia', architecture: 'hopper', description: 'NVIDIA H100 80GB HBM3' }), false);
  const nvidia = {
    api: 'vulkan' as const,
    vendor: 'nvidia',
    architecture: 'hopper',
    device: '',
    description: 'NVIDIA H100 80GB HBM3',
    software: false,
  };
  assert.equal(describeAdapter(nvidia), 'vulkan: NVIDIA H100 80GB HBM3 (nvidia)');
});

test('a program that trained on webgpu names the adapter on its backend line and exits on its own', { skip }, () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'test/ml/fixtures/webgpu-step.ts'], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.signal, null, 'the child exited by itself (a live Dawn instance would keep Node running)');
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.equal(out.name, 'webgpu');
  assert.ok(Number.isFinite(out.loss) && out.evaluation.tokens === 16, r.stdout);
  assert.match(r.stderr, /^backend: webgpu \(@tensorflow\/tfjs-backend-webgpu\) — requested; adapter (vulkan|opengles): /m);
});
