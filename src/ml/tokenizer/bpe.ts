/**
 * A byte-level BPE tokenizer (GPT-2's scheme): text → UTF-8 bytes → pre-tokenized words →
 * merges applied in rank order inside each word → ids. Any valid string round-trips, because
 * every byte has a token and decode concatenates token bytes.
 *
 * The vocabulary is general (ids as given by a tokenizer.json), so a file trained elsewhere
 * loads too; our trainer lays it out as: 0 = <|endoftext|>, 1..256 = the bytes 0..255,
 * 257.. = merges in the order they were learned.
 */
import { BYTE_TO_CHAR, tokenToBytes } from './bytes.ts';
import { preTokenize } from './pretokenize.ts';

export const EOT = '<|endoftext|>';

export class TokenizerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TokenizerError';
  }
}

export interface SpecialToken {
  id: number;
  content: string;
}

/** A merge of two token ids into a third; its index in the list is its rank (lower first). */
export interface Merge {
  left: number;
  right: number;
  merged: number;
}

// Pair keys pack two ids below 2^21 into one number (exact in a double, fast as a Map key).
const ID_LIMIT = 1 << 21;
export function pairKey(a: number, b: number): number {
  return a * ID_LIMIT + b;
}

const CACHE_LIMIT = 500_000;
// Pieces longer than this many bytes take the heap path (quadratic rescans cost more there).
const LONG_WORD = 64;

/** Min-heap on (rank, position) over parallel arrays. */
class MinHeap {
  private r: number[] = [];
  private p: number[] = [];

  get size(): number {
    return this.r.length;
  }

  private less(i: number, j: number): boolean {
    return this.r[i] < this.r[j] || (this.r[i] === this.r[j] && this.p[i] < this.p[j]);
  }

  private swap(i: number, j: number): void {
    [this.r[i], this.r[j]] = [this.r[j], this.r[i]];
    [this.p[i], this.p[j]] = [this.p[j], this.p[i]];
  }

  push(rank: number, pos: number): void {
    this.r.push(rank);
    this.p.push(pos);
    for (let i = this.r.length - 1; i > 0; ) {
      const up = (i - 1) >> 1;
      if (!this.less(i, up)) break;
      this.swap(i, up);
      i = up;
    }
  }

  pop(): { rank: number; pos: number } {
    const top = { rank: this.r[0], pos: this.p[0] };
    const lr = this.r.pop()!;
    const lp = this.p.pop()!;
    if (this.r.length > 0) {
      this.r[0] = lr;
      this.p[0] = lp;
      for (let i = 0; ; ) {
        const l = 2 * i + 1;
        let m = i;
        if (l < this.r.length && this.less(l, m)) m = l;
        if (l + 1 < this.r.length && this.less(l + 1, m)) m = l + 1;
        if (m === i) break;
        this.swap(i, m);
        i = m;
      }
    }
    return top;
  }
}

export class BpeTokenizer {
  /** id → token as tokenizer.json spells it (byte-level characters, or a special token's text). */
  readonly tokens: string[];
  readonly merges: Merge[];
  readonly specials: SpecialToken[];
  private readonly byteIds: Int32Array;
  private readonly idBytes: (Uint8Array | undefined)[];
  private readonly rank = new Map<number, number>();
  private readonly cache = new Map<string, number[]>();
  private readonly specialIds = new Map<string, number>();
  private readonly specialSplit: RegExp | undefined;
  private readonly encoder = new TextEncoder();
  private readonly decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

  constructor(tokens: string[], merges: Merge[], specials: SpecialToken[]) {
    this.tokens = tokens;
    this.merges = merges;
    this.specials = specials;
    if (tokens.length >= ID_LIMIT) throw new TokenizerError(`vocabulary of ${tokens.length} tokens is too large`);
    const ids = new Map(tokens.map((t, i) => [t, i]));
    this.byteIds = new Int32Array(256);
    for (let b = 0; b < 256; b++) {
      const id = ids.get(BYTE_TO_CHAR[b]);
      if (id === undefined)
        throw new TokenizerError(`the vocabulary has no token for byte ${b} ("${BYTE_TO_CHAR[b]}"); a byte-level BPE needs all 256`);
      this.byteIds[b] = id;
    }
    for (const s of specials) this.specialIds.set(s.content, s.id);
    this.idBytes = tokens.map((t, id) => (this.specialIds.get(t) === id ? this.encoder.encode(t) : tokenToBytes(t)));
    merges.forEach((m, r) => {
      const key = pairKey(m.left, m.right);
      if (!this.rank.has(key)) this.rank.set(key, r);
    });
    if (specials.length > 0) {
      // Longest first, so one special token that prefixes another cannot shadow it.
      const alts = specials.map((s) => s.content).sort((a, b) => b.length - a.length);
      this.specialSplit = new RegExp(`(${alts.map((a) => a.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')})`, 'u');
    }
  }

  get vocabSize(): number {
    return this.tokens.length;
  }

  /** The id of a special token such as <|endoftext|>. */
  specialId(content: string = EOT): number {
    const id = this.specialIds.get(content);
    if (id === undefined) throw new TokenizerError(`the tokenizer has no special token ${content}`);
    return id;
  }

  /** Text → ids. Special tokens written literally in the text become their id (as in Hugging Face). */
  encode(text: string): number[] {
    const out: number[] = [];
    if (!this.specialSplit) {
      this.encodeOrdinary(text, out);
      return out;
    }
    // split() with a capturing group alternates ordinary text and special tokens.
    const parts = text.split(this.specialSplit);
    for (let i = 0; i < parts.length; i++) {
      if (i % 2 === 1) out.push(this.specialIds.get(parts[i])!);
      else if (parts[i] !== '') this.encodeOrdinary(parts[i], out);
    }
    return out;
  }

  private encodeOrdinary(text: string, out: number[]): void {
    for (const word of preTokenize(text)) {
      let ids = this.cache.get(word);
      if (ids === undefined) {
        ids = this.bpe(this.encoder.encode(word));
        if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
        this.cache.set(word, ids);
      }
      for (const id of ids) out.push(id);
    }
  }

  /** Merge the word's byte tokens, always the lowest-ranked adjacent pair first (leftmost on ties). */
  private bpe(bytes: Uint8Array): number[] {
    const sym: number[] = Array.from(bytes, (b) => this.byteIds[b]);
    if (sym.length > LONG_WORD) return this.bpeLong(sym);
    while (sym.length > 1) {
      let best = -1;
      let bestRank = Infinity;
      for (let i = 0; i + 1 < sym.length; i++) {
        const r = this.rank.get(pairKey(sym[i], sym[i + 1]));
        if (r !== undefined && r < bestRank) {
          bestRank = r;
          best = i;
        }
      }
      if (best < 0) break;
      sym.splice(best, 2, this.merges[bestRank].merged);
    }
    return sym;
  }

  /**
   * The same merges for long pieces (a URL, a base64 blob, a run of spaces), where rescanning
   * the word per merge would be quadratic: a linked list of symbols and a min-heap of
   * (rank, position) candidates, checked lazily when popped. Position order keeps "leftmost on
   * ties", so the result equals the short-word loop above.
   */
  private bpeLong(sym: number[]): number[] {
    const n = sym.length;
    const next = Int32Array.from({ length: n }, (_, i) => (i + 1 < n ? i + 1 : -1));
    const prev = Int32Array.from({ length: n }, (_, i) => i - 1);
    const heap = new MinHeap();
    const consider = (i: number, j: number) => {
      const r = this.rank.get(pairKey(sym[i], sym[j]));
      if (r !== undefined) heap.push(r, i);
    };
    for (let i = 0; i + 1 < n; i++) consider(i, i + 1);
    while (heap.size > 0) {
      const { rank, pos: i } = heap.pop();
      const j = next[i];
      if (sym[i] < 0 || j < 0 || this.rank.get(pairKey(sym[i], sym[j])) !== rank) continue; // stale
      sym[i] = this.merges[rank].merged;
      sym[j] = -1;
      next[i] = next[j];
      if (next[j] >= 0) prev[next[j]] = i;
      if (prev[i] >= 0) consider(prev[i], i);
      if (next[i] >= 0) consider(i, next[i]);
    }
    return sym.filter((id) => id >= 0);
  }

  /** Ids → text. Bytes that do not form valid UTF-8 (only possible for a cut id sequence) become U+FFFD. */
  decode(ids: ArrayLike<number>): string {
    return this.decoder.decode(this.decodeBytes(ids));
  }

  decodeBytes(ids: ArrayLike<number>): Uint8Array {
    const parts: Uint8Array[] = [];
    let n = 0;
    for (let i = 0; i < ids.length; i++) {
      const b = this.idBytes[ids[i]];
      if (b === undefined) throw new TokenizerError(`token id ${ids[i]} is outside the vocabulary (size ${this.vocabSize})`);
      parts.push(b);
      n += b.length;
    }
    const out = new Uint8Array(n);
    let off = 0;
    for (const p of parts) {
      out.set(p, off);
      off += p.length;
    }
    return out;
  }
}
