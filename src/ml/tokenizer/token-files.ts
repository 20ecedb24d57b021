/**
 * Token streams on disk, read and written as streams so a corpus larger than a JS string (a
 * multi-GB url source) still works: word counts for training, and uint16 token files.
 */
import { createHash } from 'node:crypto';
import { closeSync, createReadStream, openSync, writeSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { TokenizerError, type BpeTokenizer } from './bpe.ts';
import { countWords } from './train.ts';

/** The lines of a dataset file, read as a stream (a url corpus can be larger than a JS string). */
function lines(file: string): AsyncIterableIterator<string> {
  return createInterface({ input: createReadStream(file), crlfDelay: Infinity })[Symbol.asyncIterator]();
}

/**
 * Training text: one line from each file in turn (so a byte budget samples every source rather
 * than only the first) until maxBytes, counted into pre-tokenized words on the fly so the text
 * itself is never held in memory.
 */
export async function countTrainingWords(
  files: string[],
  maxBytes: number = Number.MAX_SAFE_INTEGER,
): Promise<{ counts: Map<string, number>; bytes: number; sentences: number }> {
  const readers = files.map((f) => lines(f));
  const counts = new Map<string, number>();
  let bytes = 0;
  let sentences = 0;
  let open = readers.length;
  const done = new Array<boolean>(readers.length).fill(false);
  outer: while (open > 0) {
    for (let i = 0; i < readers.length; i++) {
      if (done[i]) continue;
      const r = await readers[i].next();
      if (r.done) {
        done[i] = true;
        open--;
        continue;
      }
      const n = Buffer.byteLength(r.value) + 1;
      if (bytes + n > maxBytes) break outer;
      countWords([r.value], counts);
      bytes += n;
      sentences++;
    }
  }
  for (const r of readers) await r.return?.();
  return { counts, bytes, sentences };
}

export interface TokenFileStats {
  tokens: number;
  sentences: number;
  sha256: string;
}

/**
 * A file of sentences (one per line) → a token file: uint16 little-endian ids, with the
 * <|endoftext|> id between consecutive sentences (none before the first or after the last).
 */
export async function encodeLinesToFile(tok: BpeTokenizer, src: string, dest: string): Promise<TokenFileStats> {
  if (tok.vocabSize > 65_536) throw new TokenizerError(`a vocabulary of ${tok.vocabSize} does not fit uint16 token files`);
  const eot = tok.specialId();
  const fd = openSync(dest, 'w');
  const hash = createHash('sha256');
  let buf = Buffer.alloc(1 << 20);
  let used = 0;
  let tokens = 0;
  let sentences = 0;
  const flush = () => {
    hash.update(buf.subarray(0, used));
    for (let off = 0; off < used; ) off += writeSync(fd, buf, off, used - off);
    used = 0;
  };
  try {
    for await (const sentence of lines(src)) {
      const ids = tok.encode(sentence);
      const need = 2 * (ids.length + 1);
      if (used + need > buf.length) {
        flush();
        if (need > buf.length) buf = Buffer.alloc(need);
      }
      if (sentences > 0) {
        buf.writeUInt16LE(eot, used);
        used += 2;
        tokens++;
      }
      for (const id of ids) {
        buf.writeUInt16LE(id, used);
        used += 2;
      }
      tokens += ids.length;
      sentences++;
    }
    flush();
  } finally {
    closeSync(fd);
  }
  return { tokens, sentences, sha256: hash.digest('hex') };
}
