/**
 * Sources → cleaned, de-duplicated, split datasets on disk:
 *
 *   <outDir>/<source>/{train,val,test}.txt   one sentence per line (UTF-8, '\n' after each)
 *   <outDir>/manifest.json                   counts, bytes and SHA-256 per source and split
 *
 * De-duplication is exact (after cleaning) within and across sources: a sentence belongs to
 * the first source, in params order, that has it, so listing D1 before D2 keeps D1 whole.
 * The whole directory is built beside <outDir> and renamed into place, so a crash never leaves
 * a half-written dataset where the next stage would read it.
 */
import { createHash, type Hash } from 'node:crypto';
import { closeSync, mkdirSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import { writeDirAtomic } from '../util/atomic-write.ts';
import { DataError } from './errors.ts';
import { isAbsolute, join, relative, sep } from 'node:path';
import { cleanSentence } from './clean.ts';
import { prepareSource, rawSentences, type ReadContext, type SourceInput, type SourceSpec } from './sources.ts';
import { checkFractions, sentenceDigest, splitOf, SPLITS, type SplitFractions, type SplitName } from './split.ts';

export interface BuildOptions extends ReadContext {
  sources: SourceSpec[];
  fractions: SplitFractions;
  /** Absolute output directory (normally <root>/artifacts/data). */
  outDir: string;
  /** Recorded verbatim in the manifest: the params the stage was run with. */
  params?: unknown;
  /** Called now and then with the number of raw sentences read so far. */
  onProgress?: (source: string, sentencesRead: number) => void;
}

export interface SplitStats {
  sentences: number;
  bytes: number;
  sha256: string;
}

export interface SourceManifest {
  name: string;
  type: SourceSpec['type'];
  roles: string[];
  input: SourceInput;
  /** Raw sentences read, and how many were dropped as empty or as duplicates. */
  read: number;
  dropped: { empty: number; duplicate: number; overLimit: number };
  splits: Record<SplitName, SplitStats>;
}

export interface DataManifest {
  schema: 1;
  fractions: SplitFractions;
  params?: unknown;
  sources: SourceManifest[];
}

export async function buildDatasets(opts: BuildOptions): Promise<DataManifest> {
  checkFractions(opts.fractions, 'data split');
  return writeDirAtomic(opts.outDir, async (tmp) => {
    const seen = new Set<string>();
    const manifest: DataManifest = { schema: 1, fractions: opts.fractions, sources: [] };
    if (opts.params !== undefined) manifest.params = opts.params;
    for (const spec of opts.sources) {
      const input = await prepareSource(spec, opts);
      const m = await writeSource(spec, input, seen, join(tmp, spec.name), opts);
      // Project-relative, so the manifest (an out) is the same bytes in any checkout.
      if (input.file) m.input = { ...input, file: portablePath(opts.root, input.file) };
      manifest.sources.push(m);
    }
    writeFileSync(join(tmp, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
    return manifest;
  });
}

async function writeSource(
  spec: SourceSpec,
  input: SourceInput,
  seen: Set<string>,
  dir: string,
  opts: BuildOptions,
): Promise<SourceManifest> {
  mkdirSync(dir, { recursive: true });
  const sinks = Object.fromEntries(SPLITS.map((s) => [s, new LineSink(join(dir, `${s}.txt`))])) as Record<SplitName, LineSink>;
  const m: SourceManifest = {
    name: spec.name,
    type: spec.type,
    roles: spec.roles,
    input,
    read: 0,
    dropped: { empty: 0, duplicate: 0, overLimit: 0 },
    splits: {} as Record<SplitName, SplitStats>,
  };
  let kept = 0;
  try {
    for await (const raw of rawSentences(spec, input)) {
      m.read++;
      if (opts.onProgress && m.read % 10_000 === 0) opts.onProgress(spec.name, m.read);
      const s = cleanSentence(raw);
      if (s === '') {
        m.dropped.empty++;
        continue;
      }
      const digest = sentenceDigest(s);
      // 16 digest bytes stand in for the sentence: far less memory than the text for big corpora.
      const key = digest.toString('latin1', 0, 16);
      if (seen.has(key)) {
        m.dropped.duplicate++;
        continue;
      }
      if (spec.maxSentences !== undefined && kept >= spec.maxSentences) {
        m.dropped.overLimit++;
        continue;
      }
      seen.add(key);
      kept++;
      sinks[splitOf(digest, opts.fractions)].write(s);
    }
  } finally {
    for (const s of SPLITS) m.splits[s] = sinks[s].close();
  }
  return m;
}

/** Appends lines to a file in large writes, hashing and counting what it wrote. */
class LineSink {
  private fd: number;
  private buf: string[] = [];
  private pending = 0;
  private hash: Hash = createHash('sha256');
  private stats = { sentences: 0, bytes: 0 };

  constructor(path: string) {
    this.fd = openSync(path, 'w');
  }

  write(line: string): void {
    this.buf.push(line, '\n');
    this.pending += line.length + 1;
    this.stats.sentences++;
    if (this.pending > 1 << 20) this.flush();
  }

  private flush(): void {
    if (this.buf.length === 0) return;
    const bytes = Buffer.from(this.buf.join(''), 'utf8');
    this.buf = [];
    this.pending = 0;
    this.hash.update(bytes);
    this.stats.bytes += bytes.length;
    let off = 0;
    while (off < bytes.length) off += writeSync(this.fd, bytes, off);
  }

  close(): SplitStats {
    try {
      this.flush();
    } finally {
      closeSync(this.fd);
    }
    return { ...this.stats, sha256: this.hash.digest('hex') };
  }
}

/** Where buildDatasets put one split of one source. */
export function datasetPath(dataDir: string, source: string, split: SplitName): string {
  return join(dataDir, source, `${split}.txt`);
}

/** Read back the manifest buildDatasets wrote (for the tokenize stage and the trainers). */
export function readManifest(dataDir: string): DataManifest {
  const file = join(dataDir, 'manifest.json');
  let m: DataManifest;
  try {
    m = JSON.parse(readFileSync(file, 'utf8')) as DataManifest;
  } catch (e) {
    throw new DataError(`cannot read ${file}: ${(e as Error).message}; run the download stage first`);
  }
  if (m.schema !== 1 || !Array.isArray(m.sources)) {
    throw new DataError(`${file}: not a dataset manifest of schema 1; re-run the download stage`);
  }
  return m;
}

function portablePath(root: string, file: string): string {
  const rel = relative(root, file);
  return rel === '' || rel.startsWith('..') || isAbsolute(rel) ? file : rel.split(sep).join('/');
}
