/**
 * The tokenize stage's output, artifacts/tokens, and its one reader:
 *
 *   artifacts/tokens/meta.json          vocab size, end-of-text id, dtype, per-source split files
 *   artifacts/tokens/<source>/<split>.bin   little-endian uint16 ids, sentences joined by eot_id
 *
 * Every stage reads the meta through `readTokensMeta` (validated) and the streams through
 * `readSplit` / `concatSplit`, so there is one rule for joining several sources' streams: the
 * end-of-text id between them, exactly as between sentences within one source.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export const TOKENS_DIR = 'artifacts/tokens';

/** Reads a Uint16 little-endian token file. */
export function readTokens(path: string): Uint16Array {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (e) {
    throw new TokensError(
      `${path}: cannot read token file (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); run the tokenize stage first`,
    );
  }
  if (buf.length % 2 !== 0)
    throw new TokensError(
      `${path}: ${buf.length} bytes is not a whole number of uint16 tokens; the file is truncated or not a token stream`,
    );
  const out = new Uint16Array(buf.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = buf.readUInt16LE(2 * i);
  return out;
}

export class TokensError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TokensError';
  }
}

export interface TokenFile {
  /** Relative to the tokens directory, e.g. "d1/train.bin". */
  file: string;
  tokens: number;
  sentences: number;
  sha256: string;
}

export interface TokenSourceMeta {
  name: string;
  /** Which models train on it ("small", "large"), as data.sources gives them. */
  roles: string[];
  splits: Record<string, TokenFile>;
}

/** artifacts/tokens/meta.json, as the tokenize stage writes it. */
export interface TokensMeta {
  schema: 1;
  vocab_size: number;
  dtype: 'uint16';
  eot_id: number;
  tokenizer: { file: 'tokenizer.json'; sha256: string };
  training: { sources: string[]; bytes: number; sentences: number; requested_vocab_size: number };
  /** In the data manifest's order, with the roles the download stage recorded. */
  sources: TokenSourceMeta[];
}

/** Reads and checks `<tokensDir>/meta.json`; a missing or malformed file names the fix. */
export function readTokensMeta(tokensDir: string): TokensMeta {
  const file = join(tokensDir, 'meta.json');
  let meta: TokensMeta;
  try {
    meta = JSON.parse(readFileSync(file, 'utf8')) as TokensMeta;
  } catch (e) {
    throw new TokensError(`${file}: cannot read the token meta (${(e as Error).message}); run the tokenize stage first`);
  }
  const ok =
    meta !== null &&
    typeof meta === 'object' &&
    meta.schema === 1 &&
    meta.dtype === 'uint16' &&
    Number.isInteger(meta.vocab_size) &&
    Number.isInteger(meta.eot_id) &&
    Array.isArray(meta.sources) &&
    meta.sources.every((s) => typeof s?.name === 'string' && Array.isArray(s.roles) && s.splits !== null && typeof s.splits === 'object');
  if (!ok)
    throw new TokensError(
      `${file}: not a schema-1 uint16 token meta (vocab_size, eot_id, sources with name, roles and splits); re-run the tokenize stage`,
    );
  return meta;
}

/** Sources whose `roles` include `role` ("small" or "large"), in data.sources order. */
export function sourcesFor(meta: TokensMeta, role: string): TokenSourceMeta[] {
  const out = meta.sources.filter((s) => s.roles.includes(role));
  if (out.length === 0) {
    throw new TokensError(
      `no dataset has role "${role}" in data.sources (roles found: ${[...new Set(meta.sources.flatMap((s) => s.roles))].join(', ')}); give at least one source roles: [${role}]`,
    );
  }
  return out;
}

/** One source's token stream of one split. */
export function readSplit(tokensDir: string, src: TokenSourceMeta, split: string): Uint16Array {
  const f = src.splits[split];
  if (!f)
    throw new TokensError(
      `${join(tokensDir, 'meta.json')}: source ${src.name} has no "${split}" split (has ${Object.keys(src.splits).join(', ')})`,
    );
  return readTokens(join(tokensDir, f.file));
}

/** The sources' streams of one split, joined by the end-of-text id (as sentences are). */
export function concatSplit(tokensDir: string, meta: TokensMeta, sources: TokenSourceMeta[], split: string): Uint16Array {
  const parts = sources.map((s) => readSplit(tokensDir, s, split));
  const out = new Uint16Array(parts.reduce((a, p) => a + p.length, 0) + parts.length - 1);
  let o = 0;
  parts.forEach((p, i) => {
    if (i > 0) out[o++] = meta.eot_id;
    out.set(p, o);
    o += p.length;
  });
  return out;
}
