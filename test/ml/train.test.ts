import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '../../src/ml/backend/tf.ts';
import { initBackend } from '../../src/ml/backend/index.ts';
import { gptConfig } from '../../src/ml/core/config.ts';
import { initWeights } from '../../src/ml/core/model.ts';
import { AdamW } from '../../src/ml/core/adamw.ts';
import { BatchSampler } from '../../src/ml/core/sampler.ts';
import { createStepper } from '../../src/ml/core/step.ts';
import { train, TrainOptionsError, type MetricsLine } from '../../src/ml/core/train.ts';
import { wordnetCorpus } from './fixtures/corpus.ts';
import { trainAndKill, trainInChild } from './fixtures/train-child.ts';

await initBackend('wasm', { quiet: true });
const tmp = () => mkdtempSync(join(tmpdir(), 'growline-train-'));

const metrics = (dir: string) =>
  readFileSync(join(dir, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as MetricsLine);

test('loss falls well below the unigram entropy of a real corpus within 300 steps', async () => {
  const corpus = wordnetCorpus();
  const outDir = tmp();
  const cfg = gptConfig({ vocabSize: corpus.vocabSize, blockSize: 16, nLayer: 2, nHead: 2, nEmbd: 32 });
  const s = await train({
    config: cfg,
    train: corpus.train,
    val: corpus.val,
    steps: 300,
    batch: 64,
    seq: 16,
    lr: 3e-3,
    minLr: 3e-4,
    warmupSteps: 20,
    weightDecay: 0.1,
    beta1: 0.9,
    beta2: 0.95,
    clip: 1,
    seed: 3,
    dataSeed: 4,
    evalEvery: 100,
    evalBatches: 4,
    checkpointEvery: 0,
    outDir,
  });
  // A character model this small and this short reaches ~2.35 nats here (unigram: 2.96); 0.5 nats
  // below the unigram entropy means it learned context, not just character frequencies.
  assert.ok(s.final_val_loss < corpus.unigramEntropy - 0.5, `val loss ${s.final_val_loss} vs unigram entropy ${corpus.unigramEntropy}`);
  const m = metrics(outDir);
  assert.deepEqual(
    m.map((l) => l.step),
    [0, 100, 200, 300],
  );
  assert.equal(m[0].train_loss, null);
  assert.ok(Math.abs(m[0].val_loss - Math.log(corpus.vocabSize)) < 0.1, 'untrained model predicts ~uniformly');
  for (const l of m)
    assert.deepEqual(Object.keys(l).sort(), ['backend', 'flops', 'lr', 'step', 'tokens', 'train_loss', 'val_loss', 'wall_s']);
  assert.ok(
    m.every((l) => l.backend === 'wasm'),
    'every metrics line names the backend',
  );
  assert.equal(m[3].tokens, 300 * 64 * 16);
  assert.equal(m[3].flops, 300 * s.flops_per_step);
  assert.ok(m[3].wall_s > m[1].wall_s);
  const summary = JSON.parse(readFileSync(join(outDir, 'train.json'), 'utf8'));
  assert.equal(summary.backend, 'wasm');
  assert.equal(summary.steps, 300);
  assert.equal(summary.final_val_loss, m[3].val_loss);
  assert.ok(summary.peak_rss_mb > 0);
  assert.deepEqual(readdirSync(outDir).sort(), [
    'config.json',
    'metrics.jsonl',
    'model.safetensors',
    'optimizer.safetensors',
    'train.json',
  ]);
});

for (const microBatches of [1, 2]) {
  test(`tf.memory().numTensors is flat across training steps (${microBatches} micro-batch${microBatches > 1 ? 'es' : ''})`, async () => {
    const corpus = wordnetCorpus(300);
    const cfg = gptConfig({ vocabSize: corpus.vocabSize, blockSize: 16, nLayer: 1, nHead: 2, nEmbd: 8 });
    const opt = new AdamW(cfg, { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, clip: 1 }, initWeights(cfg, 1));
    const stepper = await createStepper(cfg, opt, { microBatches });
    const sampler = new BatchSampler(corpus.train, 4, 16, 1);
    await stepper.step(sampler.next(), 1e-3);
    const counts: number[] = [];
    for (let i = 0; i < 5; i++) {
      await stepper.step(sampler.next(), 1e-3);
      counts.push(tf.memory().numTensors);
    }
    stepper.dispose();
    assert.deepEqual(counts, new Array(5).fill(counts[0]));
  });
}

test('same options give byte-identical weights; a run killed mid-way resumes to the same bytes', async () => {
  const a = tmp();
  const b = tmp();
  trainInChild(a, 40);
  // Run b: hang right after the step-20 checkpoint, get killed, then run again to completion.
  await trainAndKill(b, 40, 20);
  assert.ok(existsSync(join(b, 'resume', 'latest.json')), 'a resume checkpoint exists after the kill');
  assert.ok(!existsSync(join(b, 'model.safetensors')), 'the killed run had not finished');
  const resumed = trainInChild(b, 40);
  assert.equal(resumed.resumed_from_step, 20);
  assert.ok(readFileSync(join(a, 'model.safetensors')).equals(readFileSync(join(b, 'model.safetensors'))), 'weights differ after resume');
  assert.ok(
    readFileSync(join(a, 'optimizer.safetensors')).equals(readFileSync(join(b, 'optimizer.safetensors'))),
    'moments differ after resume',
  );
  const strip = (d: string) => metrics(d).map(({ wall_s: _wall, ...rest }) => rest);
  assert.deepEqual(strip(b), strip(a));
  assert.ok(!existsSync(join(b, 'resume')), 'resume dir removed after completion');
  // A third, uninterrupted run in a fresh directory reproduces the bytes too.
  const c = tmp();
  trainInChild(c, 40);
  assert.ok(readFileSync(join(a, 'model.safetensors')).equals(readFileSync(join(c, 'model.safetensors'))));
});

test('bad options are rejected with a message naming the option', async () => {
  const corpus = wordnetCorpus(100);
  const cfg = gptConfig({ vocabSize: corpus.vocabSize, blockSize: 8, nLayer: 1, nHead: 1, nEmbd: 8 });
  const base = {
    config: cfg,
    train: corpus.train,
    val: corpus.val,
    steps: 1,
    batch: 2,
    seq: 8,
    lr: 1e-3,
    minLr: 0,
    warmupSteps: 0,
    weightDecay: 0,
    beta1: 0.9,
    beta2: 0.95,
    clip: 1,
    seed: 1,
    dataSeed: 1,
    evalEvery: 1,
    evalBatches: 1,
    checkpointEvery: 0,
    outDir: tmp(),
  };
  await assert.rejects(
    train({ ...base, seq: 16 }),
    (e: Error) => e instanceof TrainOptionsError && /seq 16 exceeds the model's blockSize 8/.test(e.message),
  );
  await assert.rejects(train({ ...base, steps: 0 }), /steps must be a positive integer/);
});

test('refine: starts from given weights and carried moments, with a re-warmup', async () => {
  const corpus = wordnetCorpus(300);
  const cfg = gptConfig({ vocabSize: corpus.vocabSize, blockSize: 16, nLayer: 1, nHead: 2, nEmbd: 8 });
  const base = {
    config: cfg,
    train: corpus.train,
    val: corpus.val,
    batch: 4,
    seq: 16,
    lr: 3e-3,
    minLr: 3e-4,
    warmupSteps: 5,
    weightDecay: 0.1,
    beta1: 0.9,
    beta2: 0.95,
    clip: 1,
    seed: 1,
    dataSeed: 1,
    evalEvery: 10,
    evalBatches: 2,
    checkpointEvery: 0,
  };
  const first = tmp();
  const a = await train({ ...base, steps: 20, outDir: first });
  const { loadModel } = await import('../../src/ml/core/checkpoint.ts');
  const { readSafetensors } = await import('../../src/ml/core/safetensors.ts');
  const model = loadModel(first);
  const opt = readSafetensors(join(first, 'optimizer.safetensors'));
  const strip = (p: string) => new Map([...opt.tensors].filter(([k]) => k.startsWith(p)).map(([k, t]) => [k.slice(2), t]));
  const second = tmp();
  await train({
    ...base,
    steps: 10,
    outDir: second,
    initialWeights: model.weights,
    initialMoments: { m: strip('m.'), v: strip('v.'), step: Number(opt.metadata.step) },
    rewarmupSteps: 2,
  });
  const m = metrics(second);
  assert.equal(Number(opt.metadata.step), 20);
  assert.equal(m[0].val_loss, a.final_val_loss, 'step-0 evaluation of the loaded weights equals the first run’s final one');
  assert.ok(m[1].lr < base.lr, 'lr decays after the 2-step re-warmup');
  const wrong = new Map(model.weights);
  wrong.set('transformer.wpe.weight', { shape: [8, 16], data: new Float32Array(128) });
  await assert.rejects(
    train({ ...base, steps: 1, outDir: tmp(), initialWeights: wrong }),
    /initial weights: tensor "transformer\.wpe\.weight" has shape \[8,16\] but the config needs \[16,8\]/,
  );
});

test('prints ::progress lines for the runner, ending at current=total', () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'test/ml/fixtures/train-run.ts', tmp(), '12'], {
    encoding: 'utf8',
    env: { ...process.env, GROW_BACKEND: 'wasm', GROW_TEST_PROGRESS: '1' },
  });
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout
    .trim()
    .split('\n')
    .filter((l) => l.startsWith('::progress'));
  assert.ok(lines.length >= 1);
  for (const l of lines) assert.match(l, /^::progress current=\d+ total=12 loss=\d+\.\d+ val=\d+\.\d+$/);
  assert.match(lines.at(-1)!, /^::progress current=12 total=12 /);
});
