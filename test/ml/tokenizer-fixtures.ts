// Shared inputs for the tokenizer tests: real sentences (WordNet) and random Unicode strings.
import { wordnetSentences } from '../../src/data/wordnet.ts';

export function wordnet(part: 'examples' | 'definitions', n: number, skip = 0): string[] {
  const out: string[] = [];
  let i = 0;
  for (const s of wordnetSentences(part)) {
    if (i++ < skip) continue;
    out.push(s);
    if (out.length >= n) break;
  }
  return out;
}

/** A seeded generator (mulberry32), so a failing random case can be replayed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Code point ranges that stress byte-level BPE: ASCII, Latin-1, combining marks, Greek and
// Cyrillic, CJK, Hangul, emoji (4-byte UTF-8), ZWJ/variation selectors, odd whitespace, the
// contraction apostrophes of the pre-tokenizer, digits of other scripts.
const RANGES: [number, number][] = [
  [0x20, 0x7e],
  [0x20, 0x7e],
  [0x20, 0x7e],
  [0x0a, 0x0d],
  [0xa0, 0xff],
  [0x300, 0x36f],
  [0x370, 0x3ff],
  [0x400, 0x4ff],
  [0x4e00, 0x4fff],
  [0xac00, 0xac40],
  [0x1f600, 0x1f64f],
  [0x1f300, 0x1f3ff],
  [0x200b, 0x200d],
  [0xfe0f, 0xfe0f],
  [0x2000, 0x200a],
  [0x660, 0x669],
  [0x27, 0x27],
  [0xfffd, 0xfffd],
];

/** A random valid string (no lone surrogates), sometimes with <|endoftext|> inside. */
export function randomText(next: () => number, maxLen = 40): string {
  const len = Math.floor(next() * maxLen) + 1;
  let s = '';
  for (let i = 0; i < len; i++) {
    if (next() < 0.02) s += '<|endoftext|>';
    else if (next() < 0.05) s += ["'s", "'ll", "'re", ' the', '  ', '\n\n'][Math.floor(next() * 6)];
    else {
      const [lo, hi] = RANGES[Math.floor(next() * RANGES.length)];
      s += String.fromCodePoint(lo + Math.floor(next() * (hi - lo + 1)));
    }
  }
  return s;
}
