/**
 * The combine stage end to end: real checkpoints and token files in a temp dir, the real CLI as a
 * child process, then growth.json and the M1' checkpoint checked on disk.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { gptConfig } from '../../src/ml/core/config.ts';
import { loadModel, readModelMoments, saveModel, writeModelMoments } from '../../src/ml/core/checkpoint.ts';
import { Rng } from '../../src/ml/growth/random.ts';
import { randomModel } from './growth-reference.ts';

const small = gptConfig({ vocabSize: 17, blockSize: 8, nLayer: 1, nHead: 2, nEmbd: 8, headSize: 4, nInner: 32 });

function project(): string {
  const root = mkdtempSync(join(tmpdir(), 'growth-combine-'));
  for (const i of [1, 2]) {
    const dir = join(root, 'small', String(i));
    saveModel(dir, small, randomModel(small, 40 + i));
    // Stand-in AdamW moments, as src/ml/core/train.ts writes them beside the final weights.
    writeModelMoments(dir, { m: randomModel(small, 50 + i), v: randomModel(small, 60 + i) }, 30);
    // The training stage's record beside the weights: what charging a method for this source costs.
    if (i === 1) writeFileSync(join(dir, 'train.json'), JSON.stringify({ flops: 1000 + i, steps: 30 }));
    if (i === 2) writeFileSync(join(dir, 'train.json'), JSON.stringify({ flops: 2000, steps: 30 }));
  }
  const tokens = join(root, 'tokens');
  const rng = new Rng(5);
  const stream = (n: number) => Buffer.from(Uint16Array.from({ length: n }, () => Math.floor(rng.uniform() * 17)).buffer);
  const sources = ['d1', 'd2'].map((name, k) => {
    mkdirSync(join(tokens, name), { recursive: true });
    const splits: Record<string, { file: string }> = {};
    for (const split of ['train', 'val']) {
      writeFileSync(join(tokens, name, `${split}.bin`), stream(split === 'train' ? 600 : 300));
      splits[split] = { file: `${name}/${split}.bin` };
    }
    return { name, roles: k === 0 ? ['small', 'large'] : ['large'], splits };
  });
  writeFileSync(join(tokens, 'meta.json'), JSON.stringify({ schema: 1, vocab_size: 17, dtype: 'uint16', eot_id: 0, sources }));
  writeFileSync(
    join(root, 'params.yaml'),
    [
      'backend: wasm', // the experiment's backend; it caught a wasm-only bias-rank failure in ligo
      'model:',
      '  large: {n_layer: 2, n_head: 4, n_embd: 16}',
      'growth:',
      '  methods: [merge, fpi_noise, ligo]',
      '  variants:',
      '    fpi_noise: {method: fpi+stack_zero, symmetry: noise, epsilon: 0.2}',
      '    merge_carry: {method: merge+stack, carry_optimizer: true}',
      '  ligo: {steps: 3, lr: 0.001, batch_size: 4}',
      '  eval: {batch_size: 4, max_tokens: 96}',
    ].join('\n'),
  );
  return root;
}

function combine(root: string, method: string) {
  const out = join(root, 'm1p', method);
  const r = spawnSync(
    process.execPath,
    [
      '--import',
      'tsx',
      join(process.cwd(), 'stages/combine.ts'),
      '--method',
      method,
      '--sources',
      join(root, 'small'),
      '--out',
      out,
      '--tokens',
      join(root, 'tokens'),
      '--params',
      join(root, 'params.yaml'),
    ],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 0, r.stderr);
  return { out, stdout: r.stdout, json: JSON.parse(readFileSync(join(out, 'growth.json'), 'utf8')) };
}

const sha = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');

test("combine writes M1' and growth.json for merge, an exact fpi variant and ligo", () => {
  const root = project();

  const merge = combine(root, 'merge+stack_zero');
  const j = merge.json;
  assert.equal(j.method, 'merge+stack_zero');
  assert.equal(j.backend, 'wasm');
  assert.equal(j.operator_flops, 0);
  assert.deepEqual(
    j.sources.map((s: { path: string }) => s.path),
    [join(root, 'small', '1'), join(root, 'small', '2')],
  );
  assert.equal(j.sources[0].sha256, sha(join(root, 'small', '1', 'model.safetensors')));
  // merge uses both sources and is charged for both.
  assert.deepEqual(j.charged, {
    sources: [
      { index: 1, path: join(root, 'small', '1'), train_flops: 1001 },
      { index: 2, path: join(root, 'small', '2'), train_flops: 2000 },
    ],
    small_flops: 3001,
    operator_flops: 0,
  });
  for (const t of [j.val_loss, ...j.sources_val_loss, j.ensemble.val_loss]) {
    assert.deepEqual(Object.keys(t).sort(), ['combined', 'd1', 'd2']);
    for (const v of Object.values(t)) assert.ok(Number.isFinite(v as number) && (v as number) > 0);
  }
  assert.equal(j.sources_val_loss.length, 2);
  assert.ok(j.ensemble.mean_abs_logit_diff > 0);
  assert.match(merge.stdout, /^::progress /m);
  const m1p = loadModel(merge.out);
  assert.equal(m1p.config.nEmbd, 16);
  assert.equal(m1p.config.nLayer, 2);

  // fpi (+ exact zero-initialised stacking, exact noise) keeps source 1's loss to float precision.
  const f = combine(root, 'fpi_noise').json;
  assert.equal(f.operator, 'fpi+stack_zero');
  assert.equal(f.options.symmetry, 'noise');
  assert.ok(
    Math.abs(f.val_loss.combined - f.sources_val_loss[0].combined) < 1e-4,
    `${f.val_loss.combined} vs ${f.sources_val_loss[0].combined}`,
  );
  // fpi grows one source and is charged for that one only.
  assert.deepEqual(f.charged, {
    sources: [{ index: 1, path: join(root, 'small', '1'), train_flops: 1001 }],
    small_flops: 1001,
    operator_flops: 0,
  });

  const c = combine(root, 'merge_carry');
  assert.deepEqual(c.json.optimizer, { carried: true, step: 30, file: 'optimizer.safetensors' });
  const mom = readModelMoments(c.out);
  assert.equal(mom.step, 30);
  assert.deepEqual(mom.m.get('transformer.h.1.mlp.c_fc.weight')!.shape, [16, 64]);
  assert.equal(mom.v.size, m1p.weights.size);
  // merge scales a source's first moment by 1/n (here 2) in its own block.
  const src1 = readModelMoments(join(root, 'small', '1')).m.get('transformer.h.0.mlp.c_fc.bias')!.data;
  assert.ok(Math.abs(mom.m.get('transformer.h.0.mlp.c_fc.bias')!.data[3] - src1[3] / 2) < 1e-7);
  assert.equal(existsSync(join(merge.out, 'optimizer.safetensors')), false, 'no moments unless asked for');

  const l = combine(root, 'ligo').json;
  assert.ok(l.operator_flops > 0);
  assert.equal(l.charged.operator_flops, l.operator_flops);
  assert.equal(l.charged.small_flops, 3001);
  assert.equal(l.ligo.steps, 3);
  assert.equal(loadModel(join(root, 'm1p', 'ligo')).config.nLayer, 2);
});

test('combine names the fix for an unknown method', () => {
  const root = project();
  const r = spawnSync(
    process.execPath,
    [
      '--import',
      'tsx',
      join(process.cwd(), 'stages/combine.ts'),
      '--method',
      'magic',
      '--sources',
      join(root, 'small'),
      '--out',
      join(root, 'x'),
      '--tokens',
      join(root, 'tokens'),
      '--params',
      join(root, 'params.yaml'),
    ],
    { encoding: 'utf8' },
  );
  assert.equal(r.status, 2);
  assert.match(r.stderr, /unknown operator "magic".*merge\+stack/);
});
