import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cleanSentence, splitSentences } from '../../src/data/clean.ts';
import { digestFraction, sentenceDigest, splitOf } from '../../src/data/split.ts';

test('cleanSentence normalises Unicode (NFKC), strips controls and collapses whitespace', () => {
  assert.equal(cleanSentence('  ﬁne\u00a0\tday\n\n  today  '), 'fine day today');
  assert.equal(cleanSentence('a\u0000b\u0007c \u0085 d'), 'abc d');
  assert.equal(cleanSentence('Ｆｕｌｌｗｉｄｔｈ ①'), 'Fullwidth 1');
  assert.equal(cleanSentence('e\u0301'), '\u00e9'); // composed
  assert.equal(cleanSentence(' \t\u0001 '), '');
  assert.equal(cleanSentence('x\ud800y'), 'xy'); // a lone surrogate cannot be UTF-8
  assert.equal(cleanSentence('\ufeffFirst line'), 'First line'); // a file's byte order mark
  assert.equal(cleanSentence('日本語 😀 ok'), '日本語 😀 ok');
  assert.equal(cleanSentence('end.<|endoftext|>Once'), 'end. Once'); // a dump's separator is not text
});

test('splitSentences cuts running text at sentence boundaries', () => {
  assert.deepEqual(splitSentences('Once upon a time there was a cat.  It was happy!\nThe end?'), [
    'Once upon a time there was a cat.',
    'It was happy!',
    'The end?',
  ]);
  assert.deepEqual(splitSentences('   '), []);
});

test('the split is a pure function of the sentence, with the requested fractions', () => {
  const f = { val: 0.1, test: 0.05 };
  const sentences = Array.from({ length: 20_000 }, (_, i) => `sentence number ${i} about ${i % 97}`);
  const first = new Map(sentences.map((s) => [s, splitOf(sentenceDigest(s), f)]));
  // More sentences, another order: every existing sentence keeps its split.
  const more = [...sentences.map((_, i) => `another ${i}`), ...sentences].reverse();
  for (const s of more) if (first.has(s)) assert.equal(splitOf(sentenceDigest(s), f), first.get(s));
  const counts = { train: 0, val: 0, test: 0 };
  for (const v of first.values()) counts[v]++;
  assert.ok(Math.abs(counts.val / 20_000 - 0.1) < 0.01, JSON.stringify(counts));
  assert.ok(Math.abs(counts.test / 20_000 - 0.05) < 0.01, JSON.stringify(counts));
  const u = digestFraction(sentenceDigest('x'));
  assert.ok(u >= 0 && u < 1);
});
