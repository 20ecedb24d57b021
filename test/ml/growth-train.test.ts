/**
 * Growth under training, with real gradients of the tfjs model (src/ml/core/model.ts):
 * - symmetry breaking: exact variants whose copies diverge after one gradient step, while plain
 *   copies stay identical (the failure mode of fpi measured in the PyTorch reference);
 * - the AdamW-moment transform: the grown model's gradient at the grown point is exactly the
 *   small model's, copied and scaled by 1/k (so m' = m/k, v' = v/k² are the right moments).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '../../src/ml/backend/tf.ts';
import { gptConfig, type HostWeights, type ModelConfig } from '../../src/ml/core/config.ts';
import { loss, toHost, toTensors } from '../../src/ml/core/model.ts';
import { fpi } from '../../src/ml/growth/fpi.ts';
import { merge } from '../../src/ml/growth/merge.ts';
import { carryMergeMoments, carryWidthMoments } from '../../src/ml/growth/moments.ts';
import { maxAbsDiff, randomModel, randomTokens } from './growth-reference.ts';

await tf.setBackend('cpu');
tf.silenceCpuBanner();

const small = gptConfig({ vocabSize: 13, blockSize: 6, nLayer: 2, nHead: 2, nEmbd: 8, headSize: 4, nInner: 20 });
const big: ModelConfig = { ...small, nEmbd: 16, nHead: 4, nInner: 40 };
const seqs = randomTokens(small, 4, 6, 5);
const next = randomTokens(small, 4, 6, 6);

function gradients(cfg: ModelConfig, w: HostWeights): HostWeights {
  const names = [...w.keys()];
  const g = tf.tidy(() => {
    const ts = toTensors(w);
    const x = tf.tensor2d(seqs, undefined, 'int32');
    const y = tf.tensor2d(next, undefined, 'int32');
    const f = (...vals: tf.Tensor[]) => loss(cfg, Object.fromEntries(names.map((n, i) => [n, vals[i]])), x, y);
    return tf.grads(f)(names.map((n) => ts[n]));
  });
  const host = toHost(Object.fromEntries(names.map((n, i) => [n, g[i]])));
  tf.dispose(g);
  return host;
}

function sgdStep(w: HostWeights, g: HostWeights, lr: number): HostWeights {
  const out: HostWeights = new Map();
  for (const [k, t] of w) out.set(k, { shape: t.shape, data: t.data.map((v, i) => v - lr * g.get(k)!.data[i]) });
  return out;
}

/**
 * How differently MLP unit u and its copy u + 20 read the residual stream: their fan-in columns
 * summed over each residual copy group (rows i and i + 8 see the same input while the residual
 * copies agree), so exact zero-sum noise counts as no difference until training moves it.
 */
function copyGap(w: HostWeights): number {
  const W = w.get('transformer.h.0.mlp.c_fc.weight')!;
  const eff = (i: number, u: number) => W.data[i * 40 + u] + W.data[(i + 8) * 40 + u];
  let gap = 0;
  for (let i = 0; i < 8; i++) for (let u = 0; u < 20; u++) gap = Math.max(gap, Math.abs(eff(i, u) - eff(i, u + 20)));
  return gap;
}

/** The same, for the two copies of residual channel i in the token embedding. */
function residualCopyGap(w: HostWeights): number {
  const E = w.get('transformer.wte.weight')!;
  let gap = 0;
  for (let v = 0; v < 13; v++) for (let i = 0; i < 8; i++) gap = Math.max(gap, Math.abs(E.data[v * 16 + i] - E.data[v * 16 + i + 8]));
  return gap;
}

test('plain copies stay identical after a gradient step; split and noise variants diverge', (t) => {
  const src = randomModel(small, 21);
  const gaps: Record<string, number[]> = {};
  for (const symmetry of ['none', 'split', 'noise'] as const) {
    const g = fpi(small, src, big, { symmetry, seed: 2 });
    const stepped = sgdStep(g.weights, gradients(g.cfg, g.weights), 0.1);
    gaps[symmetry] = [copyGap(g.weights), copyGap(stepped), residualCopyGap(stepped)];
  }
  t.diagnostic(`copy gaps [mlp before, mlp after, residual after]: ${JSON.stringify(gaps)}`);
  assert.equal(gaps.none[1], 0, 'symmetric copies receive identical updates');
  assert.equal(gaps.none[2], 0);
  for (const s of ['split', 'noise']) {
    assert.ok(gaps[s][0] < 1e-6, `${s}: copies start functionally equal`);
    assert.ok(gaps[s][1] > 1e-5, `${s}: copies of MLP units diverge after one step`);
    assert.ok(gaps[s][2] > 1e-5, `${s}: copies of residual channels diverge after one step`);
  }
});

test("carried moments equal the grown model's own gradient moments (fpi, k = 2)", () => {
  const src = randomModel(small, 22);
  const g0 = gradients(small, src);
  const grown = fpi(small, src, big);
  const g1 = gradients(grown.cfg, grown.weights);
  const sq = (w: HostWeights): HostWeights => new Map([...w].map(([k, t]) => [k, { shape: t.shape, data: t.data.map((v) => v * v) }]));
  // One AdamW step from zero moments: m = (1−β1)·g, v = (1−β2)·g²; the factors cancel out.
  const carried = carryWidthMoments(small, big, { m: g0, v: sq(g0) });
  for (const [name, t] of g1) {
    const scale = Math.max(1e-3, ...t.data.map(Math.abs));
    assert.ok(maxAbsDiff(carried.m.get(name)!.data, t.data) / scale < 1e-4, `m ${name}: ${maxAbsDiff(carried.m.get(name)!.data, t.data)}`);
    const v1 = sq(g1).get(name)!.data;
    assert.ok(maxAbsDiff(carried.v.get(name)!.data, v1) / scale ** 2 < 1e-4, `v ${name}`);
  }
});

test("carried moments for merge of identical copies equal the merged model's gradient moments", () => {
  const src = randomModel(small, 23);
  const g0 = gradients(small, src);
  const m = merge(small, [src, src]);
  const g1 = gradients(m.cfg, m.weights);
  const carried = carryMergeMoments([
    { m: g0, v: g0 },
    { m: g0, v: g0 },
  ]);
  for (const [name, t] of g1) {
    const scale = Math.max(1e-3, ...t.data.map(Math.abs));
    // Off-diagonal blocks do get gradient in the merged model; carried moments leave them at 0.
    const c = carried.m.get(name)!.data;
    let worst = 0;
    c.forEach((v, i) => {
      if (v !== 0) worst = Math.max(worst, Math.abs(v - t.data[i]));
    });
    assert.ok(worst / scale < 1e-4, `m ${name}: ${worst}`);
    assert.deepEqual(carried.m.get(name)!.shape, t.shape);
  }
});
