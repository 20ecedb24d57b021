// Micro-batches and gradient workers (src/ml/core/step.ts, src/ml/core/grad-pool.ts): real worker threads
// and real child processes; every comparison is of bytes or of numbers computed two ways.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { initBackend } from '../../src/ml/backend/index.ts';
import { gptConfig } from '../../src/ml/core/config.ts';
import { GradWorkers } from '../../src/ml/core/grad-pool.ts';
import { initWeights } from '../../src/ml/core/model.ts';
import { AdamW } from '../../src/ml/core/adamw.ts';
import { BatchSampler } from '../../src/ml/core/sampler.ts';
import { batchGradient, createStepper, paramTensors, sliceRows } from '../../src/ml/core/step.ts';
import * as tf from '../../src/ml/backend/tf.ts';
import { train, TrainOptionsError } from '../../src/ml/core/train.ts';
import { wordnetCorpus } from './fixtures/corpus.ts';
import { trainAndKill, trainInChild } from './fixtures/train-child.ts';

await initBackend('wasm', { quiet: true });
const corpus = wordnetCorpus(300);
const cfg = gptConfig({ vocabSize: corpus.vocabSize, blockSize: 16, nLayer: 2, nHead: 2, nEmbd: 16 });
const adamw = () => new AdamW(cfg, { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, clip: 1 }, initWeights(cfg, 5));

/** Weights and per-step losses after `steps` steps of batch 8 with the given step options. */
async function run(steps: number, microBatches: number, workers: number) {
  const opt = adamw();
  const stepper = await createStepper(cfg, opt, { microBatches, workers });
  const sampler = new BatchSampler(corpus.train, 8, 16, 9);
  const losses: number[] = [];
  try {
    for (let i = 0; i < steps; i++) losses.push(await stepper.step(sampler.next(), 2e-3));
  } finally {
    stepper.dispose();
  }
  return { params: Buffer.from(opt.params.buffer).toString('base64'), losses, threads: stepper.threads };
}

test('the mean of the micro-batch gradients is the full-batch gradient (to float rounding)', () => {
  const opt = adamw();
  const params = paramTensors(opt.slots, opt.params);
  const batch = new BatchSampler(corpus.train, 8, 16, 3).next();
  const full = new Float32Array(opt.params.length);
  const fullLoss = batchGradient(cfg, opt.slots, params, batch, full);
  const mean = new Float32Array(opt.params.length);
  const part = new Float32Array(opt.params.length);
  let meanLoss = 0;
  for (let i = 0; i < 4; i++) {
    meanLoss += batchGradient(cfg, opt.slots, params, sliceRows(batch, 2 * i, 2), part) / 4;
    for (let j = 0; j < part.length; j++) mean[j] += part[j] / 4;
  }
  tf.dispose(params);
  let maxDiff = 0;
  let maxAbs = 0;
  for (let j = 0; j < full.length; j++) {
    maxDiff = Math.max(maxDiff, Math.abs(full[j] - mean[j]));
    maxAbs = Math.max(maxAbs, Math.abs(full[j]));
  }
  assert.ok(maxAbs > 1e-3, 'the gradient is not trivially zero');
  assert.ok(maxDiff < 1e-6, `max |full − mean of micro-batches| = ${maxDiff}`);
  assert.ok(Math.abs(fullLoss - meanLoss) < 1e-5, `${fullLoss} vs ${meanLoss}`);
});

test('worker threads change no result bit: 2 micro-batches on 1 or 2 threads give identical weights', async () => {
  const oneThread = await run(4, 2, 1);
  const twoThreads = await run(4, 2, 2);
  assert.equal(oneThread.threads, 1);
  assert.equal(twoThreads.threads, 2);
  assert.deepEqual(twoThreads.losses, oneThread.losses);
  assert.equal(twoThreads.params, oneThread.params);
  // 4 micro-batches shared by 3 threads (uneven: the calling thread takes two).
  const threeThreads = await run(4, 4, 3);
  const fourOnOne = await run(4, 4, 1);
  assert.equal(threeThreads.threads, 3);
  assert.equal(threeThreads.params, fourOnOne.params);
  // The micro-batch count does change the numbers (slightly): it is part of the run's definition.
  const plain = await run(4, 1, 1);
  assert.notEqual(plain.params, oneThread.params);
  plain.losses.forEach((l, i) => assert.ok(Math.abs(l - oneThread.losses[i]) < 1e-3, `step ${i}: ${l} vs ${oneThread.losses[i]}`));
});

test('a failing worker rejects the step with its error instead of hanging', async () => {
  const opt = adamw();
  const pool = await GradWorkers.start(cfg, opt.slots, opt, 2, 1);
  assert.ok(pool);
  // Windows longer than the model's context make the model throw inside the worker.
  const tooLong = { x: new Int32Array(40), y: new Int32Array(40), batch: 1, seq: 40 };
  await assert.rejects(
    pool.run(() => ({ kind: 'gradients', slices: [{ index: 1, batch: tooLong }] })),
    /gradient worker 1: sequence length 40 exceeds the model's blockSize 16/,
  );
  // A failed pool stays failed: later jobs reject at once instead of waiting for an answer.
  await assert.rejects(
    pool.run(() => ({ kind: 'reduce', slots: [0] })),
    /gradient worker 1/,
  );
  pool.dispose();
});

test('train() rejects micro-batches that do not divide the batch, naming the option', async () => {
  const outDir = mkdtempSync(join(tmpdir(), 'growline-micro-'));
  await assert.rejects(
    train({
      config: cfg,
      train: corpus.train,
      val: corpus.val,
      steps: 2,
      batch: 8,
      seq: 16,
      lr: 1e-3,
      minLr: 1e-4,
      warmupSteps: 1,
      weightDecay: 0,
      beta1: 0.9,
      beta2: 0.95,
      clip: 1,
      seed: 1,
      dataSeed: 1,
      evalEvery: 1,
      evalBatches: 1,
      checkpointEvery: 0,
      outDir,
      microBatches: 3,
    }),
    (e: Error) => e instanceof TrainOptionsError && /microBatches must be a positive integer dividing batch 8, got 3/.test(e.message),
  );
});

test('a 2-thread run killed mid-way resumes on 1 thread to the same bytes as an uninterrupted run', async () => {
  const tmp = () => mkdtempSync(join(tmpdir(), 'growline-micro-'));
  const whole = tmp();
  const summary = trainInChild(whole, 30, { GROW_TEST_MICRO_BATCHES: '2', GROW_TEST_WORKERS: '2' });
  assert.equal(summary.micro_batches, 2);
  assert.equal(summary.workers, 2);
  const killed = tmp();
  await trainAndKill(killed, 30, 20, { GROW_TEST_MICRO_BATCHES: '2', GROW_TEST_WORKERS: '2' });
  const resumed = trainInChild(killed, 30, { GROW_TEST_MICRO_BATCHES: '2', GROW_TEST_WORKERS: '1' });
  assert.equal(resumed.resumed_from_step, 20);
  assert.equal(resumed.workers, 1);
  assert.ok(
    readFileSync(join(killed, 'model.safetensors')).equals(readFileSync(join(whole, 'model.safetensors'))),
    'resumed weights differ',
  );
});

test('on the cpu backend too, workers change no result bit', async () => {
  // Last in this file: it switches the process to the cpu backend.
  await initBackend('cpu', { quiet: true });
  const oneThread = await run(2, 2, 1);
  const twoThreads = await run(2, 2, 2);
  assert.equal(twoThreads.threads, 2);
  assert.equal(twoThreads.params, oneThread.params);
});
