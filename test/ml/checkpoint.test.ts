import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gptConfig, type HostWeights } from '../../src/ml/core/config.ts';
import { CheckpointError, loadModel, saveModel } from '../../src/ml/core/checkpoint.ts';
import { initWeights } from '../../src/ml/core/model.ts';
import { MAX_HEADER_BYTES, readSafetensors, SafetensorsError, writeSafetensors } from '../../src/ml/core/safetensors.ts';

const tmp = () => mkdtempSync(join(tmpdir(), 'growline-ckpt-'));
const cfg = gptConfig({ vocabSize: 10, blockSize: 4, nLayer: 1, nHead: 2, nEmbd: 8, headSize: 3 });

test('saveModel/loadModel round-trip every weight bit-exactly with an HF GPT-2 config.json', () => {
  const dir = tmp();
  const w = initWeights(cfg, 9);
  saveModel(dir, cfg, w, { note: 'x' });
  const back = loadModel(dir);
  assert.deepEqual(back.config, cfg);
  assert.equal(back.metadata.note, 'x');
  for (const [name, t] of w) {
    assert.deepEqual(back.weights.get(name)!.shape, t.shape);
    assert.deepEqual(back.weights.get(name)!.data, t.data, name);
  }
  const j = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
  assert.equal(j.model_type, 'gpt2');
  assert.equal(j.activation_function, 'gelu_new');
  assert.equal(j.tie_word_embeddings, true);
  assert.deepEqual(
    [j.vocab_size, j.n_positions, j.n_embd, j.n_layer, j.n_head, j.n_inner, j.layer_norm_epsilon],
    [10, 4, 8, 1, 2, 32, 1e-5],
  );
  assert.equal(j.growline.headSize, 3);
  // The file follows the spec: LE u64 header length, JSON header, 8-byte aligned data start.
  const buf = readFileSync(join(dir, 'model.safetensors'));
  const n = Number(buf.readBigUInt64LE(0));
  assert.equal((8 + n) % 8, 0);
  const header = JSON.parse(buf.subarray(8, 8 + n).toString());
  assert.deepEqual(header['transformer.wte.weight'], { dtype: 'F32', shape: [10, 8], data_offsets: [0, 320] });
  assert.equal(buf.readFloatLE(8 + n), w.get('transformer.wte.weight')!.data[0]);
});

test('F16, BF16 and F64 tensors from other writers are read as float32', () => {
  const header = {
    a: { dtype: 'F16', shape: [2], data_offsets: [0, 4] },
    b: { dtype: 'BF16', shape: [1], data_offsets: [4, 6] },
    c: { dtype: 'F64', shape: [1], data_offsets: [6, 14] },
  };
  const data = Buffer.alloc(14);
  data.writeUInt16LE(0x3c00, 0); // 1.0
  data.writeUInt16LE(0xc000, 2); // -2.0
  data.writeUInt16LE(0x4040, 4); // 3.0
  data.writeDoubleLE(0.5, 6);
  const f = join(tmp(), 'x.safetensors');
  writeFileSync(f, file(header, data));
  const t = readSafetensors(f).tensors;
  assert.deepEqual([...t.get('a')!.data, ...t.get('b')!.data, ...t.get('c')!.data], [1, -2, 3, 0.5]);
});

function file(header: unknown, data: Buffer, lengthOverride?: bigint): Buffer {
  const json = Buffer.from(typeof header === 'string' ? header : JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(lengthOverride ?? BigInt(json.length));
  return Buffer.concat([len, json, data]);
}

const good = { t: { dtype: 'F32', shape: [2, 2], data_offsets: [0, 16] } };
const malformed: [string, Buffer, RegExp][] = [
  ['too short', Buffer.from([1, 2, 3]), /too short for the 8-byte header length/],
  ['header length over the bound', file(good, Buffer.alloc(16), BigInt(MAX_HEADER_BYTES + 1)), /exceeds the 104857600-byte limit/],
  ['header length past end of file', file(good, Buffer.alloc(16), 5000n), /runs past the end of the/],
  ['header not JSON', file('{"t": [', Buffer.alloc(0)), /header is not valid JSON/],
  ['header not an object', file('[1,2]', Buffer.alloc(0)), /header is not a JSON object/],
  ['unknown dtype', file({ t: { dtype: 'Q4', shape: [2], data_offsets: [0, 2] } }, Buffer.alloc(2)), /tensor "t": unsupported dtype "Q4"/],
  [
    'bad shape',
    file({ t: { dtype: 'F32', shape: [2, -1], data_offsets: [0, 8] } }, Buffer.alloc(8)),
    /tensor "t": shape \[2,-1\] is not a list of non-negative integers/,
  ],
  [
    'bad offsets',
    file({ t: { dtype: 'F32', shape: [2], data_offsets: [8, 0] } }, Buffer.alloc(8)),
    /data_offsets \[8,0\] must be \[begin, end\]/,
  ],
  [
    'size mismatch',
    file({ t: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, Buffer.alloc(8)),
    /shape \[3\] of F32 needs 12 bytes but data_offsets span 8/,
  ],
  [
    'offsets past the file',
    file({ t: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, Buffer.alloc(8)),
    /data_offsets end 16 is past the 8 bytes of data/,
  ],
  [
    'overlap',
    file(
      { a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } },
      Buffer.alloc(12),
    ),
    /overlap the previous tensor/,
  ],
  [
    'hole',
    file(
      { a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] }, b: { dtype: 'F32', shape: [1], data_offsets: [8, 12] } },
      Buffer.alloc(12),
    ),
    /leaving a hole after byte 4/,
  ],
  ['trailing bytes', file(good, Buffer.alloc(20)), /data ends at byte 16 but the file has 20 data bytes/],
  ['metadata not strings', file({ __metadata__: { a: 1 }, ...good }, Buffer.alloc(16)), /__metadata__\.a must be a string/],
];

for (const [what, bytes, message] of malformed) {
  test(`malformed safetensors rejected: ${what}`, () => {
    const f = join(tmp(), 'bad.safetensors');
    writeFileSync(f, bytes);
    assert.throws(
      () => readSafetensors(f),
      (e: Error) => e instanceof SafetensorsError && e.message.startsWith(f + ': ') && message.test(e.message),
    );
  });
}

test('a model file that does not match its config is rejected naming the tensor', () => {
  const dir = tmp();
  const w = initWeights(cfg, 1);
  saveModel(dir, cfg, w);
  const f = join(dir, 'model.safetensors');
  const without = new Map(w) as HostWeights;
  without.delete('transformer.h.0.mlp.c_fc.bias');
  writeSafetensors(f, without);
  assert.throws(
    () => loadModel(dir),
    (e: Error) => e instanceof CheckpointError && /model\.safetensors: missing tensor "transformer\.h\.0\.mlp\.c_fc\.bias"/.test(e.message),
  );
  const wrong = new Map(w) as HostWeights;
  wrong.set('transformer.wpe.weight', { shape: [8, 4], data: new Float32Array(32) });
  writeSafetensors(f, wrong);
  assert.throws(() => loadModel(dir), /"transformer\.wpe\.weight" has shape \[8,4\] but the config needs \[4,8\]/);
  const extra = new Map(w) as HostWeights;
  extra.set('lm_head.weight', { shape: [1], data: new Float32Array(1) });
  writeSafetensors(f, extra);
  assert.throws(() => loadModel(dir), /unexpected tensor "lm_head\.weight"/);
  writeFileSync(join(dir, 'config.json'), '{not json');
  assert.throws(
    () => loadModel(dir),
    (e: Error) => e instanceof CheckpointError && /config\.json: not valid JSON/.test(e.message),
  );
  assert.throws(() => loadModel(join(dir, 'nope')), /config\.json: cannot read \(ENOENT\)/);
});
