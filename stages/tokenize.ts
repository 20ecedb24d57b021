/**
 * Stage `tokenize`: train a byte-level BPE tokenizer on the datasets' training splits and write
 * every source's splits as token streams.
 *
 *   artifacts/tokens/tokenizer.json          Hugging Face format (+ tokenizer_config.json)
 *   artifacts/tokens/<source>/<split>.bin    uint16 little-endian ids, sentences joined by id 0
 *   artifacts/tokens/meta.json               vocab size, eot id, dtype, per-file counts and sha256
 *
 * Reads artifacts/data (the download stage's out). Params keys read: tokenizer.vocab_size,
 * tokenizer.sources (optional; default every source), tokenizer.max_train_bytes (optional;
 * default no limit). See docs/data.md.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { writeDirAtomic } from '../src/util/atomic-write.ts';
import { datasetPath, readManifest } from '../src/data/dataset.ts';
import { DataError } from '../src/data/errors.ts';
import { SPLITS, type SplitName } from '../src/data/split.ts';
import {
  countTrainingWords,
  encodeLinesToFile,
  serializeTokenizer,
  tokenizerConfigJson,
  trainBpeFromCounts,
} from '../src/ml/tokenizer/index.ts';
import { loadParams, parseArgs, type Params } from './lib/params.ts';
import { runMain } from './lib/main.ts';
import { reportProgress } from './lib/progress.ts';
import { TOKENS_DIR, type TokenFile, type TokensMeta } from '../src/experiment/artifacts/tokens.ts';

/** The download stage's out (kept literal here so this stage does not depend on that program). */
export const DATA_DIR = 'artifacts/data';

async function runTokenize(params: Params, root: string, log: (line: string) => void = console.error): Promise<TokensMeta> {
  const dataDir = join(root, DATA_DIR);
  const manifest = readManifest(dataDir);
  const all = manifest.sources.map((s) => s.name);
  const vocabSize = params.num('tokenizer.vocab_size');
  if (!Number.isInteger(vocabSize) || vocabSize < 257 || vocabSize > 65_536) {
    throw new DataError(
      `${params.file}: tokenizer.vocab_size must be an integer in [257, 65536] (eot + 256 bytes; uint16 ids), got ${vocabSize}`,
    );
  }
  const chosen = params.opt<string[]>('tokenizer.sources', all);
  if (!Array.isArray(chosen) || chosen.length === 0) {
    throw new DataError(`${params.file}: tokenizer.sources must be a non-empty list of source names (${all.join(', ')})`);
  }
  for (const s of chosen) {
    if (!all.includes(s))
      throw new DataError(`${params.file}: tokenizer.sources names "${s}", which is not among data.sources (${all.join(', ')})`);
  }
  const maxBytes = params.opt<unknown>('tokenizer.max_train_bytes', Number.MAX_SAFE_INTEGER);
  if (typeof maxBytes !== 'number' || !(maxBytes > 0)) {
    throw new DataError(`${params.file}: tokenizer.max_train_bytes must be a positive number of bytes, got ${JSON.stringify(maxBytes)}`);
  }

  const train = await countTrainingWords(
    chosen.map((name) => datasetPath(dataDir, name, 'train')),
    maxBytes,
  );
  const tok = trainBpeFromCounts(train.counts, {
    vocabSize,
    onProgress: (done, total) => reportProgress(done, total, { stage: 'merges' }),
  });
  if (tok.vocabSize < vocabSize) log(`tokenize: the training text only supports ${tok.vocabSize} tokens (asked for ${vocabSize})`);
  const eot = tok.specialId();
  const json = serializeTokenizer(tok);

  return writeDirAtomic(join(root, TOKENS_DIR), async (tmp) => {
    writeFileSync(join(tmp, 'tokenizer.json'), json);
    writeFileSync(join(tmp, 'tokenizer_config.json'), JSON.stringify(tokenizerConfigJson(tok), null, 2) + '\n');
    const meta: TokensMeta = {
      schema: 1,
      vocab_size: tok.vocabSize,
      dtype: 'uint16',
      eot_id: eot,
      tokenizer: { file: 'tokenizer.json', sha256: createHash('sha256').update(json).digest('hex') },
      training: { sources: chosen, bytes: train.bytes, sentences: train.sentences, requested_vocab_size: vocabSize },
      sources: [],
    };
    const total = manifest.sources.length * SPLITS.length;
    let done = 0;
    for (const src of manifest.sources) {
      mkdirSync(join(tmp, src.name));
      const splits = {} as Record<SplitName, TokenFile>;
      for (const split of SPLITS) {
        const file = `${src.name}/${split}.bin`;
        splits[split] = { file, ...(await encodeLinesToFile(tok, datasetPath(dataDir, src.name, split), join(tmp, file))) };
        reportProgress(++done, total, { stage: 'encode' });
      }
      meta.sources.push({ name: src.name, roles: src.roles, splits });
    }
    writeFileSync(join(tmp, 'meta.json'), JSON.stringify(meta, null, 2) + '\n');
    for (const s of meta.sources) {
      log(`${s.name}: ${SPLITS.map((x) => `${x} ${s.splits[x].tokens} tokens`).join(', ')}`);
    }
    return meta;
  });
}

async function main(): Promise<void> {
  const args = parseArgs();
  const params = loadParams(args.params);
  await runTokenize(params, resolve(args.root ?? process.env.GROW_ROOT ?? '.'));
}

runMain(import.meta, 'tokenize', main);
