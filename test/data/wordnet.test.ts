import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseGloss, wordnetSentences } from '../../src/data/wordnet.ts';

test('parseGloss separates the definition from quoted examples and drops attributions', () => {
  const g = parseGloss(
    'sparing in consumption; "the pleasures of the table"- John Galsworthy; "...was wont to complain"; "a spartan diet"',
  );
  assert.equal(g.definition, 'sparing in consumption');
  assert.deepEqual(g.examples, ['the pleasures of the table', 'was wont to complain', 'a spartan diet']);
  assert.deepEqual(parseGloss('an entity that has physical existence'), {
    definition: 'an entity that has physical existence',
    examples: [],
  });
  assert.deepEqual(parseGloss('canonist; e.g. "canonist communism"'), { definition: 'canonist', examples: ['canonist communism'] });
});

test('WordNet gives ~48k example sentences (D1) and ~117k definitions (D2) that read like text', () => {
  const examples = [...wordnetSentences('examples')];
  const definitions = [...wordnetSentences('definitions')];
  assert.ok(examples.length > 45_000 && examples.length < 52_000, `examples: ${examples.length}`);
  assert.ok(definitions.length > 110_000 && definitions.length < 120_000, `definitions: ${definitions.length}`);
  for (const s of [...examples, ...definitions]) {
    assert.ok(s.length > 0 && s === s.trim(), `untrimmed or empty: ${JSON.stringify(s)}`);
  }
  // No quotes, attributions or license text left over.
  assert.equal(examples.filter((s) => s.includes('"')).length, 0);
  assert.equal(definitions.filter((s) => s.includes('"')).length, 0);
  assert.equal([...examples, ...definitions].filter((s) => /LICENSEE|Copyright 2011|WARRANTIES|\|/.test(s)).length, 0);
  assert.equal(examples.filter((s) => /^-\s*[A-Z]/.test(s) || /"\s*-/.test(s)).length, 0);
  assert.equal(definitions.filter((s) => /[;:]$/.test(s)).length, 0);
  // Mostly words: the median example has a few words, almost all letters and spaces.
  const words = examples.map((s) => s.split(' ').length).sort((a, b) => a - b);
  const median = words[words.length >> 1];
  assert.ok(median >= 3 && median <= 12, `median words per example ${median}`);
  const letters = examples.join('').replace(/[^\p{L} ]/gu, '').length / examples.join('').length;
  assert.ok(letters > 0.9, `letter share ${letters}`);
  assert.ok(examples.includes('Exhale when you lift the weight'));
  assert.ok(definitions.includes('an entity that has physical existence'));
});
