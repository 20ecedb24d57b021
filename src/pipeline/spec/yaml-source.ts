/**
 * A YAML file read with its source positions, so any later check (schema, interpolation, params)
 * can point the user at file:line:col. Values are handed on as plain JS (`data`); positions are
 * looked up only when an error needs one, by walking the document along the same path.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { isMap, isPair, isScalar, isSeq, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import { ConfigError } from '../errors.ts';
import type { SourcePos } from '../types.ts';

/** A path into a YAML document: mapping keys and sequence indices. */
export type YamlPath = ReadonlyArray<string | number>;

export class YamlSource {
  private constructor(
    /** Project-relative (or, outside the project, absolute) path, as shown in messages. */
    readonly file: string,
    readonly doc: Document.Parsed,
    private readonly lines: LineCounter,
    /** The document as plain JS (mappings keep their key order). */
    readonly data: unknown,
  ) {}

  /**
   * Reads and parses `absPath`. Syntax errors and duplicate keys become ConfigErrors at their
   * position; `display` is the name used in messages.
   */
  static read(absPath: string, display: string, what = 'file'): YamlSource {
    let text: string;
    try {
      text = readFileSync(absPath, 'utf8');
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw new ConfigError(display, undefined, undefined, `${what} not found`, `create ${display} or fix the path that names it`);
      throw new ConfigError(display, undefined, undefined, `cannot read ${what}: ${(e as Error).message}`);
    }
    return YamlSource.parse(text, display);
  }

  static parse(text: string, display: string): YamlSource {
    const lines = new LineCounter();
    // uniqueKeys (the default) makes duplicate mapping keys an error instead of last-one-wins.
    const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, keepSourceTokens: false, uniqueKeys: true });
    const first = doc.errors[0];
    if (first) {
      const { line, col } = lines.linePos(first.pos[0]);
      if (first.code === 'DUPLICATE_KEY') {
        const key = keyTextAt(text, first.pos[0]);
        throw new ConfigError(display, line, col, `duplicate key${key ? ` "${key}"` : ''}`, 'each key may appear once per mapping; rename or merge the two entries');
      }
      throw new ConfigError(display, line, col, `invalid YAML: ${firstLine(first.message)}`);
    }
    return new YamlSource(display, doc, lines, doc.toJS({ maxAliasCount: 1000 }));
  }

  /** The position of the node at `p`, or of its deepest existing ancestor. */
  pos(p: YamlPath): SourcePos {
    return this.at(this.nodeRange(p));
  }

  /** The position of the key of the mapping entry `p` (its last element is the key). */
  keyPos(p: YamlPath): SourcePos {
    const parent = this.doc.getIn(p.slice(0, -1), true);
    const key = p[p.length - 1];
    if (isMap(parent)) {
      for (const pair of parent.items) {
        if (isScalar(pair.key) && String(pair.key.value) === String(key) && pair.key.range) return this.at(pair.key.range[0]);
      }
    }
    return this.pos(p);
  }

  private nodeRange(p: YamlPath): number {
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
        if (isSeq(parent)) continue;
      }
    }
    return 0;
  }

  private at(offset: number): SourcePos {
    const { line, col } = this.lines.linePos(offset);
    return { file: this.file, line, col };
  }

  /** A ConfigError at the node `p`. */
  error(p: YamlPath, what: string, hint?: string, atKey = false): ConfigError {
    const pos = atKey ? this.keyPos(p) : this.pos(p);
    return new ConfigError(pos.file, pos.line, pos.col, what, hint);
  }
}

function firstLine(s: string): string {
  return s.split('\n')[0];
}

/** The plain key text starting at `offset` (for naming a duplicate key). */
function keyTextAt(text: string, offset: number): string {
  const m = /^["']?([^"':\n]+)/.exec(text.slice(offset, offset + 200));
  return m ? m[1].trim() : '';
}

/** Display name of an absolute path: project-relative POSIX when inside `root`, else absolute. */
export function displayPath(root: string, abs: string): string {
  const rel = path.relative(root, abs);
  if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) return abs;
  return rel.split(path.sep).join('/');
}
