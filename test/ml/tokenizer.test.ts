import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { BYTE_TO_CHAR, CHAR_TO_BYTE } from '../../src/ml/tokenizer/bytes.ts';
import {
  EOT,
  fromHuggingFaceJson,
  loadTokenizer,
  preTokenize,
  serializeTokenizer,
  TokenizerError,
  trainBpe,
} from '../../src/ml/tokenizer/index.ts';
import { randomText, rng, wordnet } from './tokenizer-fixtures.ts';

const corpus = wordnet('examples', 6000);
const tok = trainBpe(corpus, { vocabSize: 600 });

test("the byte table is GPT-2's: a bijection, printable ASCII unchanged, space is Ġ", () => {
  assert.equal(new Set(BYTE_TO_CHAR).size, 256);
  assert.equal(BYTE_TO_CHAR[0x20], 'Ġ');
  assert.equal(BYTE_TO_CHAR[0x0a], 'Ċ');
  assert.equal(BYTE_TO_CHAR[0x41], 'A');
  for (let b = 0; b < 256; b++) assert.equal(CHAR_TO_BYTE.get(BYTE_TO_CHAR[b]), b);
});

test('pre-tokenization covers the text exactly and keeps leading spaces on words', () => {
  assert.deepEqual(preTokenize("He's here  now, 42 times!"), ['He', "'s", ' here', ' ', ' now', ',', ' 42', ' times', '!']);
  const next = rng(1);
  for (let i = 0; i < 200; i++) {
    const s = randomText(next);
    assert.equal(preTokenize(s).join(''), s);
  }
});

test('training gives the requested vocabulary: eot = 0, the 256 bytes, then merges of frequent pairs', () => {
  assert.equal(tok.vocabSize, 600);
  assert.equal(tok.tokens[0], EOT);
  assert.equal(tok.specialId(), 0);
  assert.deepEqual(tok.tokens.slice(1, 257), BYTE_TO_CHAR);
  assert.equal(tok.merges.length, 600 - 257);
  for (const m of tok.merges) assert.equal(tok.tokens[m.merged], tok.tokens[m.left] + tok.tokens[m.right]);
  // The most frequent English pieces are learned first.
  const early = tok.tokens.slice(257, 300);
  assert.ok(early.includes('Ġthe') || early.includes('he'), early.join(' '));
  // Compression: far fewer tokens than bytes on held-out text.
  const held = wordnet('examples', 500, 20_000).join('\n');
  const ratio = Buffer.byteLength(held) / tok.encode(held).length;
  assert.ok(ratio > 2, `bytes per token ${ratio}`);
});

test('training is deterministic and independent of the order of the corpus', () => {
  const again = trainBpe(corpus, { vocabSize: 600 });
  assert.equal(serializeTokenizer(again), serializeTokenizer(tok));
  const shuffled = [...corpus].reverse();
  assert.equal(serializeTokenizer(trainBpe(shuffled, { vocabSize: 600 })), serializeTokenizer(tok));
});

test('encode/decode round-trips any valid text: real sentences, emoji, CJK, combining marks, random strings', () => {
  const samples = [
    '',
    ' ',
    'Hello, world!',
    "I'm sure they'll say it's fine; we've done 'it' (twice).",
    '😀👍🏽 family: 👨‍👩‍👧‍👦 flag: 🇫🇷',
    '日本語のテキスト 中文 한국어',
    'e\u0301 a\u0308 \u0301 alone',
    '\t\ttabs\r\nand\u00a0nbsp\u2028line sep\ufeffbom',
    'x<|endoftext|>y<|endoftext|><|endoftext|>',
    '\u0000\u0001\u007f control',
  ];
  const next = rng(42);
  for (let i = 0; i < 500; i++) samples.push(randomText(next, 60));
  samples.push(...wordnet('definitions', 300));
  for (const s of samples) {
    const ids = tok.encode(s);
    for (const id of ids) assert.ok(Number.isInteger(id) && id >= 0 && id < tok.vocabSize);
    assert.equal(tok.decode(ids), s, JSON.stringify(s));
  }
});

test('<|endoftext|> in text encodes as id 0 and decodes back to its text', () => {
  const ids = tok.encode('a cat<|endoftext|>a dog');
  assert.deepEqual(ids.filter((i) => i === 0).length, 1);
  assert.deepEqual(ids, [...tok.encode('a cat'), 0, ...tok.encode('a dog')]);
  assert.equal(tok.decode([0]), EOT);
  assert.throws(() => tok.decode([tok.vocabSize]), TokenizerError);
});

test('save and load as tokenizer.json gives the same tokenizer', () => {
  const dir = mkdtempSync(join(tmpdir(), 'growline-tok-'));
  try {
    const file = join(dir, 'tokenizer.json');
    writeFileSync(file, serializeTokenizer(tok));
    const loaded = loadTokenizer(file);
    assert.equal(serializeTokenizer(loaded), readFileSync(file, 'utf8'));
    const text = wordnet('definitions', 200).join(' ');
    assert.deepEqual(loaded.encode(text), tok.encode(text));
    const json = JSON.parse(readFileSync(file, 'utf8'));
    assert.equal(json.model.type, 'BPE');
    assert.equal(json.pre_tokenizer.type, 'ByteLevel');
    assert.deepEqual(
      json.added_tokens.map((a: { id: number; content: string }) => [a.id, a.content]),
      [[0, EOT]],
    );
    // Malformed files are rejected with a message naming the file and the problem.
    const broken = structuredClone(json);
    broken.model.merges.push('Ġthe nonexistent');
    assert.throws(() => fromHuggingFaceJson(broken, 'x.json'), /x\.json: merge \d+ .* missing from model\.vocab/);
    assert.throws(() => fromHuggingFaceJson({ model: { type: 'WordPiece' } }, 'y.json'), /y\.json: model\.type/);
    assert.throws(() => loadTokenizer(join(dir, 'missing.json')), /run the tokenize stage/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('vocabulary sizes outside [257, 65536] are refused', () => {
  assert.throws(() => trainBpe(['abc'], { vocabSize: 100 }), /vocab_size must be an integer in \[257/);
  assert.throws(() => trainBpe(['abc'], { vocabSize: 70_000 }), /65536/);
  // A corpus too small for the vocabulary stops when no pair is left.
  assert.equal(trainBpe(['abab'], { vocabSize: 1000 }).vocabSize, 257 + 2); // ab, abab
});
