// Interop: our tokenizer.json, loaded by Hugging Face's tokenizers.js (a library we did not
// write), must give the same ids and the same decoded text as our own encoder.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Tokenizer } from '@huggingface/tokenizers';
import { serializeTokenizer, tokenizerConfigJson, trainBpe } from '../../src/ml/tokenizer/index.ts';
import { randomText, rng, wordnet } from './tokenizer-fixtures.ts';

test('Hugging Face tokenizers.js loads our tokenizer.json and agrees on ids and decode', () => {
  const ours = trainBpe(wordnet('examples', 20_000), { vocabSize: 1024 });
  const hf = new Tokenizer(JSON.parse(serializeTokenizer(ours)), tokenizerConfigJson(ours));
  const sentences = [...wordnet('definitions', 3000, 50_000), ...wordnet('examples', 1000, 30_000)];
  const next = rng(7);
  for (let i = 0; i < 500; i++) sentences.push(randomText(next, 50));
  // Long pieces (no spaces: one pre-token of thousands of bytes) take the encoder's heap path.
  const glued = wordnet('examples', 400, 40_000).join('').replace(/\s+/g, '');
  sentences.push(glued, glued.slice(0, 100), 'a'.repeat(5000), ' '.repeat(3000) + 'x', 'ab'.repeat(2000) + 'a');
  for (let i = 0; i < 20; i++) sentences.push(Array.from({ length: 30 }, () => randomText(next, 10).replace(/\s/g, '')).join(''));
  let tokens = 0;
  for (const s of sentences) {
    const ids = ours.encode(s);
    tokens += ids.length;
    assert.deepEqual(hf.encode(s).ids, ids, JSON.stringify(s));
    if (ids.length > 0) assert.equal(hf.decode(ids), s, JSON.stringify(s));
  }
  assert.ok(tokens > 50_000);
  assert.equal(hf.token_to_id('<|endoftext|>'), 0);
  assert.equal(hf.encode('<|endoftext|>').ids[0], 0);
});
