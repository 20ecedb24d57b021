// Tokenizer speed: train a 2,048-token byte-level BPE on 10 MB of WordNet text, then encode it.
// Prints one JSON line per measurement. Run: node --import tsx bench/tokenizer.bench.ts [MB] [vocab]
import { cpus } from 'node:os';
import { wordnetSentences } from '../src/data/wordnet.ts';
import { countWords, trainBpeFromCounts } from '../src/ml/tokenizer/index.ts';

const targetBytes = Number(process.argv[2] ?? 10) * 1e6;
const vocabSize = Number(process.argv[3] ?? 2048);

// D1 + D2 give ~8.8 MB; the rest comes from varied copies (capitalised, reversed word order), so
// the word distribution is real English and not an exact repeat.
const base = [...wordnetSentences('examples'), ...wordnetSentences('definitions')];
const text: string[] = [];
let bytes = 0;
for (let round = 0; bytes < targetBytes; round++) {
  for (const s of base) {
    const v = round === 0 ? s : round % 2 === 1 ? s.charAt(0).toUpperCase() + s.slice(1) + '.' : s.split(' ').reverse().join(' ');
    text.push(v);
    bytes += Buffer.byteLength(v) + 1;
    if (bytes >= targetBytes) break;
  }
}

const machine = { cpu: cpus()[0]?.model ?? 'unknown', cores: cpus().length, node: process.version };
let t = performance.now();
const counts = countWords(text);
const countMs = performance.now() - t;
t = performance.now();
const tok = trainBpeFromCounts(counts, { vocabSize });
const mergeMs = performance.now() - t;
console.log(
  JSON.stringify({
    bench: 'tokenizer.train',
    bytes,
    sentences: text.length,
    distinct_words: counts.size,
    vocab_size: tok.vocabSize,
    count_words_s: +(countMs / 1000).toFixed(2),
    merges_s: +(mergeMs / 1000).toFixed(2),
    total_s: +((countMs + mergeMs) / 1000).toFixed(2),
    ...machine,
  }),
);
t = performance.now();
let tokens = 0;
for (const s of text) tokens += tok.encode(s).length;
const encMs = performance.now() - t;
console.log(
  JSON.stringify({
    bench: 'tokenizer.encode',
    bytes,
    tokens,
    bytes_per_token: +(bytes / tokens).toFixed(2),
    encode_s: +(encMs / 1000).toFixed(2),
    mb_per_s: +(bytes / 1e6 / (encMs / 1000)).toFixed(1),
    ...machine,
  }),
);
