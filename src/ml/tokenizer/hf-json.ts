/**
 * Hugging Face `tokenizer.json`, the format the `tokenizers` library (Rust, Python, and
 * tokenizers.js) reads. We write the same shape as GPT-2's file: a BPE model with `vocab` and
 * `merges` ("left right" strings), the ByteLevel pre-tokenizer, post-processor and decoder, and
 * <|endoftext|> as a special added token. Loading accepts any byte-level BPE file of that shape.
 */
import { readFileSync } from 'node:fs';
import { BpeTokenizer, TokenizerError, type Merge, type SpecialToken } from './bpe.ts';

interface AddedTokenJson {
  id: number;
  content: string;
  single_word: boolean;
  lstrip: boolean;
  rstrip: boolean;
  normalized: boolean;
  special: boolean;
}

export function toHuggingFaceJson(tok: BpeTokenizer): object {
  const byteLevel = { add_prefix_space: false, trim_offsets: true, use_regex: true };
  const vocab: Record<string, number> = {};
  tok.tokens.forEach((t, id) => {
    vocab[t] = id;
  });
  const addedTokens: AddedTokenJson[] = tok.specials.map((s) => ({
    id: s.id,
    content: s.content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  }));
  return {
    version: '1.0',
    truncation: null,
    padding: null,
    added_tokens: addedTokens,
    normalizer: null,
    pre_tokenizer: { type: 'ByteLevel', ...byteLevel },
    post_processor: { type: 'ByteLevel', ...byteLevel },
    decoder: { type: 'ByteLevel', ...byteLevel },
    model: {
      type: 'BPE',
      dropout: null,
      unk_token: null,
      continuing_subword_prefix: '',
      end_of_word_suffix: '',
      fuse_unk: false,
      byte_fallback: false,
      vocab,
      merges: tok.merges.map((m) => `${tok.tokens[m.left]} ${tok.tokens[m.right]}`),
    },
  };
}

/** The text of tokenizer.json: stable key order, so the same training gives the same bytes. */
export function serializeTokenizer(tok: BpeTokenizer): string {
  return JSON.stringify(toHuggingFaceJson(tok), null, 2) + '\n';
}

/** A tokenizer_config.json that makes Hugging Face loaders behave like our encode/decode. */
export function tokenizerConfigJson(tok: BpeTokenizer): object {
  const eot = tok.specials[0]?.content ?? null;
  return {
    tokenizer_class: 'GPT2Tokenizer',
    bos_token: eot,
    eos_token: eot,
    unk_token: eot,
    add_prefix_space: false,
    clean_up_tokenization_spaces: false,
    model_max_length: 1_000_000,
  };
}

function fail(where: string, what: string): never {
  throw new TokenizerError(`${where}: ${what}; write it with growline's tokenize stage or a Hugging Face byte-level BPE tokenizer`);
}

export function fromHuggingFaceJson(json: unknown, where = 'tokenizer.json'): BpeTokenizer {
  const j = json as {
    model?: { type?: string; vocab?: Record<string, number>; merges?: unknown[] };
    added_tokens?: { id: number; content: string; special?: boolean }[];
    pre_tokenizer?: { type?: string } | null;
  };
  if (!j || typeof j !== 'object' || !j.model) fail(where, 'no "model" section');
  if (j.model.type !== 'BPE') fail(where, `model.type is ${JSON.stringify(j.model.type)}, expected "BPE"`);
  if (j.pre_tokenizer?.type !== 'ByteLevel') fail(where, 'pre_tokenizer is not ByteLevel (only byte-level BPE is supported)');
  const vocab = j.model.vocab;
  if (!vocab || typeof vocab !== 'object') fail(where, 'model.vocab is missing');
  const added = Array.isArray(j.added_tokens) ? j.added_tokens : [];
  const size = Math.max(...Object.values(vocab), ...added.map((a) => a.id)) + 1;
  const tokens: string[] = new Array(size);
  for (const [t, id] of Object.entries(vocab)) {
    if (!Number.isInteger(id) || id < 0) fail(where, `model.vocab["${t}"] is not a valid id`);
    if (tokens[id] !== undefined) fail(where, `id ${id} is used by two tokens`);
    tokens[id] = t;
  }
  const specials: SpecialToken[] = [];
  for (const a of added) {
    if (tokens[a.id] !== undefined && tokens[a.id] !== a.content) fail(where, `added token ${a.content} reuses id ${a.id}`);
    tokens[a.id] = a.content;
    if (a.special !== false) specials.push({ id: a.id, content: a.content });
  }
  for (let i = 0; i < size; i++) if (tokens[i] === undefined) fail(where, `no token has id ${i} (ids must be contiguous)`);
  const ids = new Map(tokens.map((t, i) => [t, i]));
  const merges: Merge[] = (j.model.merges ?? []).map((m, r) => {
    const [a, b] = typeof m === 'string' ? m.split(' ') : (m as string[]);
    const left = ids.get(a);
    const right = ids.get(b);
    const merged = ids.get(a + b);
    if (left === undefined || right === undefined || merged === undefined) {
      fail(where, `merge ${r} (${JSON.stringify(m)}) names a token missing from model.vocab`);
    }
    return { left, right, merged };
  });
  return new BpeTokenizer(tokens, merges, specials);
}

export function loadTokenizer(file: string): BpeTokenizer {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new TokenizerError(`cannot read ${file}: ${(e as Error).message}; run the tokenize stage first`);
  }
  return fromHuggingFaceJson(json, file);
}
