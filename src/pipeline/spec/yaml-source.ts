/**
 * A YAML file read with its source positions, so any later check (schema, interpolation, params)
 * can point the user at file:line:col. Values are handed on as plain JS (`data`); positions are
 * looked up only when an error needs one, by walking the document along the same path.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Document, LineCounter, Node, YAMLMap } from 'yaml';
import { ConfigError } from '../errors.ts';
import type { SourcePos } from '../types.ts';
import { yaml } from '../yaml.ts';
import { floatPaths, markFloats, type FloatPath } from './number-text.ts';

/** A path into a YAML document: mapping keys and sequence indices. */
export type YamlPath = ReadonlyArray<string | number>;

/**
 * Parsing YAML is most of the cost of loading a pipeline in a fresh process (~35 ms of JIT
 * warm-up for a 100-stage file, against ~1 ms for the rest), and `grow status` starts a fresh
 * process every time. So the plain-JS result of a successful parse is kept in a small cache
 * keyed by the text's hash, with the positions of the first two levels of keys (stage names);
 * the document itself is parsed again only if an error needs a deeper position.
 */
interface CacheEntry {
  data: unknown;
  /** "key" / "key\u0000subkey" → [line, col] of the key. */
  keys: Record<string, [number, number]>;
  /** Where the document holds floats that print differently in JS (see number-text.ts). */
  floats: FloatPath[];
}

const CACHE_VERSION = 'grow-yaml-5';

function isValidCacheEntry(e: unknown): e is CacheEntry {
  if (e === null || typeof e !== 'object' || Array.isArray(e) || !('data' in e)) return false;
  const keys = (e as { keys?: unknown }).keys;
  return (
    keys !== null &&
    typeof keys === 'object' &&
    !Array.isArray(keys) &&
    Object.values(keys).every((p) => Array.isArray(p) && p.length === 2 && p.every((n) => Number.isInteger(n))) &&
    Array.isArray((e as { floats?: unknown }).floats)
  );
}

// merge: `<<: *defaults` merge keys, which DVC files use (YAML 1.1, still the common practice).
// uniqueKeys is off because the yaml package checks it by comparing every key with every other
// (quadratic: ~100 ms for 1000 stages); firstDuplicateKey does the same check with a Set.
const PARSE_OPTIONS = { prettyErrors: false, uniqueKeys: false, merge: true } as const;
const CACHE_ENTRIES = 16;

export class YamlSource {
  private parsed?: { doc: Document.Parsed; lines: LineCounter };

  private constructor(
    /** Project-relative (or, outside the project, absolute) path, as shown in messages. */
    readonly file: string,
    private readonly text: string,
    /** The document as plain JS (mappings keep their key order). */
    readonly data: unknown,
    private readonly keys?: CacheEntry['keys'],
    parsed?: { doc: Document.Parsed; lines: LineCounter },
    floats?: FloatPath[],
  ) {
    this.parsed = parsed;
    this.floats = floats ?? (parsed ? floatPaths(parsed.doc) : []);
    markFloats(data, this.floats);
  }

  private readonly floats: FloatPath[];

  /**
   * Reads and parses `absPath`. Syntax errors and duplicate keys become ConfigErrors at their
   * position; `display` is the name used in messages. With `cacheDir`, parses are reused.
   */
  static read(absPath: string, display: string, what = 'file', cacheDir?: string): YamlSource {
    let text: string;
    try {
      text = readFileSync(absPath, 'utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT')
        throw new ConfigError(display, undefined, undefined, `${what} not found`, `create ${display} or fix the path that names it`);
      throw new ConfigError(display, undefined, undefined, `cannot read ${what}: ${(e as Error).message}`);
    }
    if (!cacheDir) return YamlSource.parse(text, display);
    const entryFile = path.join(cacheDir, createHash('sha1').update(CACHE_VERSION).update(text).digest('hex') + '.json');
    try {
      // `<md5 of the JSON>\n<JSON>`: a damaged or hand-made entry is a miss, never a document.
      const raw = readFileSync(entryFile, 'utf8');
      const nl = raw.indexOf('\n');
      const json = raw.slice(nl + 1);
      if (nl === 32 && raw.slice(0, 32) === createHash('md5').update(json).digest('hex')) {
        const entry = JSON.parse(json) as unknown;
        if (isValidCacheEntry(entry)) return new YamlSource(display, text, entry.data, entry.keys, undefined, entry.floats);
      }
    } catch {
      /* not cached yet (or unreadable): parse */
    }
    const src = YamlSource.parse(text, display);
    src.pending = { cacheDir, entryFile };
    return src;
  }

  private pending?: { cacheDir: string; entryFile: string };

  /**
   * Stores a fresh parse in the cache. Called only once the whole pipeline loaded without error,
   * so a command that fails on bad input leaves the project exactly as it was.
   */
  saveToCache(): void {
    if (!this.pending) return;
    const { cacheDir, entryFile } = this.pending;
    this.pending = undefined;
    this.store(cacheDir, entryFile);
  }

  static parse(text: string, display: string): YamlSource {
    const { LineCounter, parseDocument } = yaml();
    const lines = new LineCounter();
    const doc = parseDocument(text, { lineCounter: lines, ...PARSE_OPTIONS });
    const first = doc.errors[0];
    if (first) {
      const { line, col } = lines.linePos(first.pos[0]);
      throw new ConfigError(
        display,
        line,
        col,
        `invalid YAML: ${firstLine(first.message)}`,
        syntaxHint(text, line, first.code, first.message),
      );
    }
    const dup = firstDuplicateKey(doc);
    if (dup) {
      const { line, col } = lines.linePos(dup.offset);
      throw new ConfigError(
        display,
        line,
        col,
        `duplicate key "${dup.key}"`,
        'each key may appear once per mapping; rename or merge the two entries',
      );
    }
    return new YamlSource(display, text, doc.toJS({ maxAliasCount: 1000 }), undefined, { doc, lines });
  }

  /** Writes the cache entry; a read-only checkout or a full disk only costs the speed-up. */
  private store(cacheDir: string, entryFile: string): void {
    if (!isJsonSafe(this.data)) return;
    const { isMap, isScalar } = yaml();
    const keys: CacheEntry['keys'] = {};
    const { doc, lines } = this.document();
    if (isMap(doc.contents)) {
      for (const pair of doc.contents.items) {
        if (!isScalar(pair.key) || !pair.key.range) continue;
        const k = String(pair.key.value);
        const at = lines.linePos(pair.key.range[0]);
        keys[k] = [at.line, at.col];
        if (isMap(pair.value)) {
          for (const sub of pair.value.items) {
            if (!isScalar(sub.key) || !sub.key.range) continue;
            const p = lines.linePos(sub.key.range[0]);
            keys[`${k}\u0000${String(sub.key.value)}`] = [p.line, p.col];
          }
        }
      }
    }
    const tmp = `${entryFile}.${process.pid}.tmp`;
    try {
      mkdirSync(cacheDir, { recursive: true });
      const json = JSON.stringify({ data: this.data, keys, floats: this.floats } satisfies CacheEntry);
      writeFileSync(tmp, `${createHash('md5').update(json).digest('hex')}\n${json}`);
      renameSync(tmp, entryFile);
      const entries = readdirSync(cacheDir).filter((f) => f.endsWith('.json'));
      if (entries.length > CACHE_ENTRIES) {
        const byAge = entries.map((f) => ({ f, t: statSync(path.join(cacheDir, f)).mtimeMs })).sort((a, b) => a.t - b.t);
        for (const { f } of byAge.slice(0, entries.length - CACHE_ENTRIES)) unlinkSync(path.join(cacheDir, f));
      }
    } catch {
      // Caching is an optimisation only; a write that failed (a full disk) leaves no temp file.
      rmSync(tmp, { force: true });
    }
  }

  /** The parsed document, parsing the text now if it came from the cache. */
  private document(): { doc: Document.Parsed; lines: LineCounter } {
    if (!this.parsed) {
      const { LineCounter, parseDocument } = yaml();
      const lines = new LineCounter();
      this.parsed = { doc: parseDocument(this.text, { lineCounter: lines, ...PARSE_OPTIONS }), lines };
    }
    return this.parsed;
  }

  get doc(): Document.Parsed {
    return this.document().doc;
  }

  /** The position of the node at `p`, or of its deepest existing ancestor. */
  pos(p: YamlPath): SourcePos {
    return this.at(this.nodeRange(p));
  }

  /** The position of the key of the mapping entry `p` (its last element is the key). */
  keyPos(p: YamlPath): SourcePos {
    const cached = this.keys && p.length <= 2 ? this.keys[p.map(String).join('\u0000')] : undefined;
    if (cached) return { file: this.file, line: cached[0], col: cached[1] };
    const parent = this.doc.getIn(p.slice(0, -1), true);
    if (yaml().isMap(parent)) {
      const offset = keyOffsets(parent).get(String(p[p.length - 1]));
      if (offset !== undefined) return this.at(offset);
    }
    return this.pos(p);
  }

  private nodeRange(p: YamlPath): number {
    const { isMap, isPair, isScalar } = yaml();
    for (let n = p.length; n >= 0; n--) {
      const node = this.doc.getIn(p.slice(0, n), true) as Node | undefined;
      if (node && typeof node === 'object' && 'range' in node && node.range) return node.range[0];
      // A null value (`key:`) has no node of its own; point at its key instead.
      if (n > 0 && node == null) {
        const parent = this.doc.getIn(p.slice(0, n - 1), true);
        if (isMap(parent)) {
          const pair = parent.items.find((it) => isPair(it) && isScalar(it.key) && String(it.key.value) === String(p[n - 1]));
          if (pair && isScalar(pair.key) && pair.key.range) return pair.key.range[0];
        }
      }
    }
    return 0;
  }

  private at(offset: number): SourcePos {
    const { line, col } = this.document().lines.linePos(offset);
    return { file: this.file, line, col };
  }

  /** A ConfigError at the node `p`. */
  error(p: YamlPath, what: string, hint?: string, atKey = false): ConfigError {
    const pos = atKey ? this.keyPos(p) : this.pos(p);
    return new ConfigError(pos.file, pos.line, pos.col, what, hint);
  }
}

const offsetsByMap = new WeakMap<YAMLMap, Map<string, number>>();

/** Key → source offset for one mapping, built once (every stage asks for its key's position). */
function keyOffsets(map: YAMLMap): Map<string, number> {
  const { isScalar } = yaml();
  let offsets = offsetsByMap.get(map);
  if (!offsets) {
    offsets = new Map();
    for (const pair of map.items) {
      if (isScalar(pair.key) && pair.key.range && !offsets.has(String(pair.key.value)))
        offsets.set(String(pair.key.value), pair.key.range[0]);
    }
    offsetsByMap.set(map, offsets);
  }
  return offsets;
}

/** The first key that repeats within one mapping, anywhere in the document (`<<` may repeat). */
function firstDuplicateKey(doc: Document.Parsed): { key: string; offset: number } | undefined {
  const { isMap, isScalar, isSeq } = yaml();
  const walk = (node: unknown): { key: string; offset: number } | undefined => {
    if (isMap(node)) {
      const seen = new Set<string>();
      for (const pair of node.items) {
        if (isScalar(pair.key)) {
          const key = String(pair.key.value);
          if (seen.has(key) && key !== '<<') return { key, offset: pair.key.range?.[0] ?? 0 };
          seen.add(key);
        }
        const inner = walk(pair.value);
        if (inner) return inner;
      }
    } else if (isSeq(node)) {
      for (const item of node.items) {
        const inner = walk(item);
        if (inner) return inner;
      }
    }
    return undefined;
  };
  return walk(doc.contents);
}

/** Whether `v` survives JSON unchanged (YAML also knows .inf/.nan, which JSON does not). */
function isJsonSafe(v: unknown): boolean {
  if (typeof v === 'number') return Number.isFinite(v);
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return true;
  if (Array.isArray(v)) return v.every(isJsonSafe);
  if (typeof v === 'object') return Object.getPrototypeOf(v) === Object.prototype && Object.values(v as object).every(isJsonSafe);
  return false;
}

/** What usually causes a YAML syntax error at `line`, and the fix. */
function syntaxHint(text: string, line: number, code: string, message: string): string {
  const src = text.split('\n')[line - 1] ?? '';
  // `outs: [out${item}]`: in a flow list `{` starts a mapping, so an unquoted ${…} breaks it.
  if (/\[[^\]]*\$\{/.test(src) || (/\$\{/.test(src) && /flow/i.test(message))) {
    return 'a `${…}` inside a flow list `[...]` is not valid YAML: quote it (`["out${item}"]`) or use a block list (`- out${item}` on its own line)';
  }
  if (/^\s*\t/.test(src) || code === 'TAB_AS_INDENT') return 'YAML indents with spaces, not tabs';
  if (/^\s*[^#'"]*:\s+[^'"{[].*: /.test(src)) return 'quote a value that contains ": " (e.g. cmd: "echo a: b")';
  if (/compact mappings|Nested mappings/i.test(message))
    return 'write the inner mapping in braces (`key: {a: 1}`) or on its own indented lines; quote a value that contains ": "';
  return 'check the indentation and quoting on this line and the one above (docs/pipeline-yaml.md shows the layout)';
}

function firstLine(s: string): string {
  return s.split('\n')[0];
}

/** Display name of an absolute path: project-relative POSIX when inside `root`, else absolute. */
export function displayPath(root: string, abs: string): string {
  const rel = path.relative(root, abs);
  if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) return abs;
  return rel.split(path.sep).join('/');
}
