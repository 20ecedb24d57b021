/**
 * The tokenize stage's outputs as the training and evaluation stages use them: which sources a
 * model role trains on (their `roles` in data.sources), and their token streams.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { readTokens } from '../../src/ml/core/sampler.ts';

export const TOKENS_DIR = 'artifacts/tokens';

export interface TokenSourceMeta {
  name: string;
  roles: string[];
  splits: Record<string, { file: string; tokens: number }>;
}

export interface TokensMeta {
  vocab_size: number;
  eot_id: number;
  sources: TokenSourceMeta[];
}

export function readTokensMeta(root: string): TokensMeta {
  const file = join(root, TOKENS_DIR, 'meta.json');
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as TokensMeta;
  } catch (e) {
    throw new Error(`${file}: cannot read the token meta (${(e as Error).message}); run the tokenize stage first`);
  }
}

/** Sources whose `roles` include `role` ("small" or "large"), in data.sources order. */
export function sourcesFor(meta: TokensMeta, role: 'small' | 'large'): TokenSourceMeta[] {
  const out = meta.sources.filter((s) => s.roles.includes(role));
  if (out.length === 0) {
    throw new Error(`no dataset has role "${role}" in data.sources (roles found: ${[...new Set(meta.sources.flatMap((s) => s.roles))].join(', ')}); give at least one source roles: [${role}]`);
  }
  return out;
}

export function readSplit(root: string, src: TokenSourceMeta, split: string): Uint16Array {
  const f = src.splits[split];
  if (!f) throw new Error(`${TOKENS_DIR}/meta.json: source ${src.name} has no "${split}" split (has ${Object.keys(src.splits).join(', ')})`);
  return readTokens(join(root, TOKENS_DIR, f.file));
}

/** The sources' streams of one split, joined by the end-of-text id (as sentences are). */
export function concatSplit(root: string, sources: TokenSourceMeta[], split: string, eot: number): Uint16Array {
  const parts = sources.map((s) => readSplit(root, s, split));
  const out = new Uint16Array(parts.reduce((a, p) => a + p.length, 0) + parts.length - 1);
  let o = 0;
  parts.forEach((p, i) => {
    if (i > 0) out[o++] = eot;
    out.set(p, o);
    o += p.length;
  });
  return out;
}
