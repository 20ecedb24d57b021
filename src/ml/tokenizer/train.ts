/**
 * Learning BPE merges, the way Hugging Face's trainer does it (and for the same reason: speed).
 *
 * 1. Pre-tokenize the corpus once and count each distinct word: merges never cross a word, so a
 *    word that occurs 10,000 times is processed once with weight 10,000.
 * 2. Count adjacent symbol pairs over the distinct words, weighted by frequency, and remember
 *    which words hold each pair.
 * 3. Repeatedly take the most frequent pair from a max-heap, merge it only in the words that
 *    hold it, and adjust the counts of the neighbouring pairs incrementally. Heap entries are
 *    checked lazily: an entry whose count went stale is pushed back with the current count.
 *
 * Ties break towards the smaller (left, right) id pair, so training is deterministic.
 * Hand-written because no maintained JS library trains byte-level BPE (tokenizers.js only loads).
 */
import { BYTE_TO_CHAR } from './bytes.ts';
import { BpeTokenizer, EOT, pairKey, TokenizerError, type Merge } from './bpe.ts';
import { preTokenize } from './pretokenize.ts';

export interface TrainOptions {
  /** Total vocabulary including special tokens and the 256 bytes. */
  vocabSize: number;
  /** Default [<|endoftext|>], which gets id 0. */
  specialTokens?: string[];
  /** Called after each merge with (merges done, merges wanted). */
  onProgress?: (done: number, total: number) => void;
}

/** Distinct pre-tokenized words of the texts with their counts. */
export function countWords(texts: Iterable<string>, counts: Map<string, number> = new Map()): Map<string, number> {
  for (const text of texts) {
    for (const w of preTokenize(text)) counts.set(w, (counts.get(w) ?? 0) + 1);
  }
  return counts;
}

export function trainBpe(texts: Iterable<string>, opts: TrainOptions): BpeTokenizer {
  return trainBpeFromCounts(countWords(texts), opts);
}

export function trainBpeFromCounts(wordCounts: Map<string, number>, opts: TrainOptions): BpeTokenizer {
  const specials = opts.specialTokens ?? [EOT];
  const base = specials.length + 256;
  if (!Number.isInteger(opts.vocabSize) || opts.vocabSize < base || opts.vocabSize > 65_536) {
    throw new TokenizerError(`vocab_size must be an integer in [${base}, 65536] (uint16 token files), got ${opts.vocabSize}`);
  }
  const tokens: string[] = [...specials, ...BYTE_TO_CHAR];
  const merges: Merge[] = [];

  // Words as arrays of symbol ids; byte b is id specials.length + b.
  const encoder = new TextEncoder();
  const words: number[][] = [];
  const freqs: number[] = [];
  for (const [w, n] of wordCounts) {
    const bytes = encoder.encode(w);
    if (bytes.length < 2) continue; // nothing to merge, whatever the vocabulary
    words.push(Array.from(bytes, (b) => specials.length + b));
    freqs.push(n);
  }

  const counts = new Map<number, number>();
  const where = new Map<number, Set<number>>();
  const add = (key: number, n: number, word: number) => {
    counts.set(key, (counts.get(key) ?? 0) + n);
    let s = where.get(key);
    if (!s) where.set(key, (s = new Set()));
    s.add(word);
  };
  for (let w = 0; w < words.length; w++) {
    const sym = words[w];
    for (let i = 0; i + 1 < sym.length; i++) add(pairKey(sym[i], sym[i + 1]), freqs[w], w);
  }

  const heap = new PairHeap();
  for (const [key, n] of counts) heap.push(n, key);

  const wanted = opts.vocabSize - base;
  while (merges.length < wanted && heap.size > 0) {
    const top = heap.pop();
    const current = counts.get(top.key) ?? 0;
    if (current !== top.count) {
      if (current > 0) heap.push(current, top.key);
      continue;
    }
    if (current <= 0) continue;
    const left = Math.floor(top.key / (1 << 21));
    const right = top.key - left * (1 << 21);
    const merged = tokens.length;
    tokens.push(tokens[left] + tokens[right]);
    merges.push({ left, right, merged });

    const touched = new Set<number>();
    for (const w of where.get(top.key) ?? []) {
      const sym = words[w];
      const n = freqs[w];
      let i = 0;
      while (i + 1 < sym.length) {
        if (sym[i] !== left || sym[i + 1] !== right) {
          i++;
          continue;
        }
        // Neighbour pairs lose this occurrence and gain one with the merged symbol.
        if (i > 0) {
          decrement(counts, pairKey(sym[i - 1], left), n);
          const k = pairKey(sym[i - 1], merged);
          add(k, n, w);
          touched.add(k);
        }
        if (i + 2 < sym.length) {
          decrement(counts, pairKey(right, sym[i + 2]), n);
          const k = pairKey(merged, sym[i + 2]);
          add(k, n, w);
          touched.add(k);
        }
        sym.splice(i, 2, merged);
        i++;
      }
    }
    counts.delete(top.key);
    where.delete(top.key);
    for (const k of touched) {
      const c = counts.get(k) ?? 0;
      if (c > 0) heap.push(c, k);
    }
    opts.onProgress?.(merges.length, wanted);
  }
  // `where` may still list words that lost a pair; harmless: the merge loop re-checks symbols.
  return new BpeTokenizer(
    tokens,
    merges,
    specials.map((content, id) => ({ id, content })),
  );
}

function decrement(counts: Map<number, number>, key: number, n: number): void {
  const c = (counts.get(key) ?? 0) - n;
  if (c > 0) counts.set(key, c);
  else counts.delete(key);
}

/** Max-heap on count, then min on pair key (deterministic ties), over parallel arrays. */
class PairHeap {
  private c: number[] = [];
  private k: number[] = [];

  get size(): number {
    return this.c.length;
  }

  private before(i: number, j: number): boolean {
    return this.c[i] > this.c[j] || (this.c[i] === this.c[j] && this.k[i] < this.k[j]);
  }

  private swap(i: number, j: number): void {
    [this.c[i], this.c[j]] = [this.c[j], this.c[i]];
    [this.k[i], this.k[j]] = [this.k[j], this.k[i]];
  }

  push(count: number, key: number): void {
    this.c.push(count);
    this.k.push(key);
    let i = this.c.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!this.before(i, p)) break;
      this.swap(i, p);
      i = p;
    }
  }

  pop(): { count: number; key: number } {
    const top = { count: this.c[0], key: this.k[0] };
    const lastC = this.c.pop()!;
    const lastK = this.k.pop()!;
    if (this.c.length > 0) {
      this.c[0] = lastC;
      this.k[0] = lastK;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < this.c.length && this.before(l, m)) m = l;
        if (r < this.c.length && this.before(r, m)) m = r;
        if (m === i) break;
        this.swap(i, m);
        i = m;
      }
    }
    return top;
  }
}
