/**
 * Exactness of the host-side growth operators (fpi, lemon, merge, stack) against the float64
 * reference forward and the tfjs model (src/ml/core/model.ts). Tolerance 1e-5 on logits of O(1–10).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '../../src/ml/backend/tf.ts';
import { gptConfig, type HostWeights, type ModelConfig, weightShapes } from '../../src/ml/core/config.ts';
import { logits, toTensors } from '../../src/ml/core/model.ts';
import { growHost, parseMethod, GrowthError } from '../../src/ml/growth/index.ts';
import { fpi } from '../../src/ml/growth/fpi.ts';
import { lemon } from '../../src/ml/growth/lemon.ts';
import { merge } from '../../src/ml/growth/merge.ts';
import { stack } from '../../src/ml/growth/stack.ts';
import { maxAbsDiff, randomModel, randomTokens, referenceLogits } from './growth-reference.ts';

await tf.setBackend('cpu');
tf.silenceCpuBanner();

const small = gptConfig({ vocabSize: 13, blockSize: 6, nLayer: 2, nHead: 2, nEmbd: 8, headSize: 4, nInner: 20 });
const wide = (nEmbd: number, nHead: number, nInner: number, nLayer = small.nLayer): ModelConfig => ({
  ...small,
  nEmbd,
  nHead,
  nInner,
  nLayer,
});
const TOL = 1e-5;
const batch = randomTokens(small, 3, 6, 99);

function refAll(cfg: ModelConfig, w: HostWeights): number[] {
  return batch.flatMap((seq) => [...referenceLogits(cfg, w, seq)]);
}

function tfAll(cfg: ModelConfig, w: HostWeights): Float32Array {
  return tf.tidy(() => logits(cfg, toTensors(w), tf.tensor2d(batch, undefined, 'int32')).dataSync() as Float32Array);
}

/** Asserts grown ≡ source on the batch, in float64 and through the tfjs model. */
function assertSameFunction(srcCfg: ModelConfig, src: HostWeights, cfg: ModelConfig, w: HostWeights, what: string) {
  const expected = refAll(srcCfg, src);
  const ref = maxAbsDiff(refAll(cfg, w), expected);
  const tfd = maxAbsDiff(tfAll(cfg, w), tfAll(srcCfg, src));
  assert.ok(ref < TOL, `${what}: float64 reference max |Δlogit| ${ref}`);
  assert.ok(tfd < TOL, `${what}: tfjs model max |Δlogit| ${tfd}`);
}

function assertShapes(cfg: ModelConfig, w: HostWeights) {
  for (const { name, shape } of weightShapes(cfg)) assert.deepEqual(w.get(name)?.shape, shape, name);
  assert.equal(w.size, weightShapes(cfg).length);
}

test('fpi doubles and triples width exactly, with and without exact symmetry breaking', () => {
  const src = randomModel(small, 1);
  for (const [d, h, f] of [
    [16, 4, 40],
    [24, 6, 60],
    [16, 3, 33],
  ] as const) {
    for (const symmetry of ['none', 'split', 'noise'] as const) {
      for (const newUnits of ['copy', 'fresh'] as const) {
        const g = fpi(small, src, wide(d, h, f), { symmetry, newUnits, seed: 3 });
        assertShapes(g.cfg, g.weights);
        assert.equal(g.cfg.lnEps, small.lnEps);
        assertSameFunction(small, src, g.cfg, g.weights, `fpi d${d} h${h} f${f} ${symmetry} ${newUnits}`);
      }
    }
  }
});

test('fpi refuses a width that is not a multiple, naming lemon', () => {
  assert.throws(
    () => fpi(small, randomModel(small, 1), wide(12, 3, 30)),
    (e: Error) => e instanceof GrowthError && /lemon/.test(e.message),
  );
});

test('split and noise symmetry breaking make copies differ (while staying exact)', () => {
  const src = randomModel(small, 2);
  const none = fpi(small, src, wide(16, 4, 40));
  const noisy = fpi(small, src, wide(16, 4, 40), { symmetry: 'noise', epsilon: 0.2 });
  const W0 = none.weights.get('transformer.h.0.mlp.c_fc.weight')!;
  const W1 = noisy.weights.get('transformer.h.0.mlp.c_fc.weight')!;
  // Rows i and i+8 are the two copies of residual channel i: identical without symmetry breaking.
  const row = (t: typeof W0, i: number) => t.data.slice(i * 40, (i + 1) * 40);
  assert.deepEqual(row(W0, 0), row(W0, 8));
  assert.ok(maxAbsDiff(row(W1, 0), row(W1, 8)) > 0.01);
});

test('lemon grows to widths that are not multiples (8→12, 8→13, 8→21) exactly, eps rescaled', () => {
  const src = randomModel(small, 4);
  for (const [d, h, f] of [
    [12, 3, 30],
    [13, 3, 31],
    [21, 5, 50],
    [16, 4, 40],
  ] as const) {
    for (const symmetry of ['none', 'noise'] as const) {
      const g = lemon(small, src, wide(d, h, f), { symmetry, seed: 5 });
      assertShapes(g.cfg, g.weights);
      const q = Math.floor(d / 8);
      assert.ok(Math.abs(g.cfg.lnEps - (small.lnEps * q * 8) / d) < 1e-15);
      assertSameFunction(small, src, g.cfg, g.weights, `lemon d${d} ${symmetry}`);
    }
  }
});

test("lemon at the experiment's scale: 64→96 and 64→100 with head size 32", () => {
  const cfg64 = gptConfig({ vocabSize: 13, blockSize: 6, nLayer: 1, nHead: 2, nEmbd: 64, headSize: 32, nInner: 256 });
  const src = randomModel(cfg64, 15);
  for (const [d, h, f] of [
    [96, 3, 384],
    [100, 3, 400],
  ] as const) {
    const g = lemon(cfg64, src, { ...cfg64, nEmbd: d, nHead: h, nInner: f }, { symmetry: 'noise', seed: 1 });
    assertSameFunction(cfg64, src, g.cfg, g.weights, `lemon 64→${d}`);
  }
});

test('stack_zero doubles depth exactly; G_stack copies layer i mod L0', () => {
  const src = randomModel(small, 6);
  const z = stack(small, src, 5, { zero: true });
  assertShapes(z.cfg, z.weights);
  assertSameFunction(small, src, z.cfg, z.weights, 'stack_zero 2→5');
  const g = stack(small, src, 4);
  assert.deepEqual(g.weights.get('transformer.h.3.mlp.c_fc.weight')!.data, src.get('transformer.h.1.mlp.c_fc.weight')!.data);
  assert.ok(maxAbsDiff(refAll(g.cfg, g.weights), refAll(small, src)) > 1e-3, 'plain G_stack changes the function');
});

test('merge of n identical copies is exact and equals fpi', () => {
  const src = randomModel(small, 7);
  for (const n of [2, 3]) {
    const m = merge(
      small,
      Array.from({ length: n }, () => src),
    );
    const f = fpi(small, src, m.cfg);
    assertSameFunction(small, src, m.cfg, m.weights, `merge of ${n} copies`);
    assert.ok(maxAbsDiff(refAll(m.cfg, m.weights), refAll(f.cfg, f.weights)) < TOL);
  }
});

test('merge of different models ≈ the average of their logits; the pooled-LayerNorm gap is measured', (t) => {
  const models = [randomModel(small, 8), randomModel(small, 9), randomModel(small, 10)];
  const m = merge(small, models);
  const merged = refAll(m.cfg, m.weights);
  const each = models.map((w) => refAll(small, w));
  const avg = merged.map((_, i) => each.reduce((s, l) => s + l[i], 0) / models.length);
  const gap = maxAbsDiff(merged, avg);
  const toModel = each.map((l) => maxAbsDiff(merged, l));
  const meanAbs = (xs: number[]) => xs.reduce((s, x) => s + Math.abs(x), 0) / xs.length;
  t.diagnostic(
    `pooled-LN gap: max |merge − average| = ${gap.toFixed(4)}, mean = ${meanAbs(merged.map((v, i) => v - avg[i])).toFixed(4)}; ` +
      `mean |average| = ${meanAbs(avg).toFixed(4)}; max |merge − model_i| = ${toModel.map((x) => x.toFixed(3)).join(', ')}`,
  );
  assert.ok(gap > 1e-6, 'different models do not merge exactly (pooled LayerNorm statistics)');
  for (const d of toModel) assert.ok(gap < d, 'the merge is closer to the ensemble average than to any one model');
});

test('merge with off-diagonal noise fills the off-diagonal blocks', () => {
  const models = [randomModel(small, 11), randomModel(small, 12)];
  const z = merge(small, models).weights.get('transformer.h.0.mlp.c_fc.weight')!;
  const n = merge(small, models, { offDiagonal: 0.1, seed: 1 }).weights.get('transformer.h.0.mlp.c_fc.weight')!;
  // Row 0 belongs to model 1; columns 20..39 are model 2's MLP units.
  assert.ok(z.data.slice(20, 40).every((v) => v === 0));
  assert.ok(n.data.slice(20, 40).some((v) => v !== 0));
});

test('growHost composes width then depth and checks the target', () => {
  const models = [randomModel(small, 13), randomModel(small, 14)];
  const sources = models.map((weights) => ({ cfg: small, weights }));
  const target = wide(16, 4, 40, 4);
  const g = growHost('merge+stack_zero', sources, target);
  assert.equal(g.steps.length, 2);
  assertShapes(g.cfg, g.weights);
  const m = merge(small, models);
  assert.ok(maxAbsDiff(refAll(g.cfg, g.weights), refAll(m.cfg, m.weights)) < TOL);
  // merge (2·8 = 16) then lemon to 20 wide, then G_stack.
  const g2 = growHost('merge+stack', sources, wide(20, 5, 50, 3));
  assert.match(g2.steps.join(' | '), /merge.*lemon.*stack/);
  assertShapes(g2.cfg, g2.weights);
  const f = growHost('fpi+stack_zero', sources, target, { symmetry: 'noise' });
  assertSameFunction(small, models[0], f.cfg, f.weights, 'fpi+stack_zero');
  assert.throws(() => growHost('merge', sources, target), /stack/);
  assert.throws(() => growHost('stack', sources, target), /width/);
  assert.throws(() => parseMethod('stack+merge'), /width then depth/);
  assert.throws(() => parseMethod('magic'), /unknown operator "magic"/);
});
