/**
 * `pipeline.lock`: what each stage last ran with. YAML in a fixed shape so diffs stay small:
 *
 *   schema: 1
 *   stages:
 *     train:
 *       cmd: python train.py
 *       deps:
 *         - {path: data/x, hash: md5:9b1f..., files: 6}
 *       params:
 *         params.yaml: {lr: 0.003}
 *       outs:
 *         - {path: model, hash: md5:77aa..., size: 1048890}
 *
 * Stages follow pipeline order, keys inside an entry have a fixed order, deps/outs are sorted by
 * path and params keys are sorted, so the same facts always give the same bytes: a re-run that
 * changes nothing leaves the file byte-identical (we do not even rewrite it). Every write is
 * atomic. Reading validates the shape and names the line:col of anything hand-edited into nonsense.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Node, YAMLMap } from 'yaml';
import { ConfigError } from '../errors.ts';
import { writeFileAtomic } from '../../util/atomic-write.ts';
import { rethrowIo } from '../io-error.ts';
import { yaml } from '../yaml.ts';
import { HASH_RE, isHash, isSafeDepPath, isSafeRelpath, parseOutRecords, relpathProblem } from './trust.ts';

export const LOCK_FILE = 'pipeline.lock';
export const LOCK_SCHEMA = 1;

export interface LockDep {
  path: string;
  hash: string;
  files?: number;
}

export interface LockOut {
  path: string;
  hash: string;
  size: number;
  files?: number;
}

export interface LockEntry {
  cmd: string[];
  deps: LockDep[];
  /** file → (dotted key → value); the key "" holds a whole file. */
  params: Record<string, Record<string, unknown>>;
  outs: LockOut[];
}

const byPath = <T extends { path: string }>(a: T, b: T) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0);

function sortedKeys<T>(obj: Record<string, T>): Record<string, T> {
  return Object.fromEntries(
    Object.keys(obj)
      .sort()
      .map((k) => [k, obj[k]]),
  );
}

/** The entry in canonical order: what is written, and what comparisons use. */
export function canonicalEntry(e: LockEntry): LockEntry {
  const params: LockEntry['params'] = {};
  for (const file of Object.keys(e.params).sort()) params[file] = sortedKeys(e.params[file]);
  return {
    cmd: [...e.cmd],
    deps: e.deps.map((d) => ({ path: d.path, hash: d.hash, ...(d.files !== undefined ? { files: d.files } : {}) })).sort(byPath),
    params,
    outs: e.outs
      .map((o) => ({ path: o.path, hash: o.hash, size: o.size, ...(o.files !== undefined ? { files: o.files } : {}) }))
      .sort(byPath),
  };
}

function entryToPlain(e: LockEntry): Record<string, unknown> {
  const c = canonicalEntry(e);
  const out: Record<string, unknown> = { cmd: c.cmd.length === 1 ? c.cmd[0] : c.cmd };
  if (c.deps.length) out.deps = c.deps;
  if (Object.keys(c.params).length) out.params = c.params;
  if (c.outs.length) out.outs = c.outs;
  return out;
}

/**
 * One stage's entry as it appears under `stages:` (indented by two spaces). The lock is the header
 * plus these fragments, so a run that rewrites the lock after every stage only serializes the
 * entry that changed.
 */
export function serializeEntry(name: string, e: LockEntry): string {
  const { Document, isMap, isSeq } = yaml();
  const doc = new Document({ [name]: entryToPlain(e) });
  // Each dep/out and each params file's values on one line: diffs then show exactly what changed.
  const entry = (doc.contents as YAMLMap).items[0].value as YAMLMap;
  for (const key of ['deps', 'outs']) {
    const seq = entry.get(key);
    if (isSeq(seq)) for (const item of seq.items) if (isMap(item)) item.flow = true;
  }
  const params = entry.get('params');
  if (isMap(params)) for (const p of params.items) if (isMap(p.value)) p.value.flow = true;
  const text = doc.toString({ lineWidth: 0, flowCollectionPadding: false });
  return text.replace(/^(?=.)/gm, '  ');
}

/** The `--params` files and `--set`s of the run that wrote the lock (both empty: none). */
export interface LockOverlays {
  params: string[];
  set: string[];
}

/** One line, only when there are overlays: a lock made without them keeps its old bytes. */
function overlaysLine(o: LockOverlays | undefined): string {
  if (!o || (o.params.length === 0 && o.set.length === 0)) return '';
  return `overlays: {params: ${JSON.stringify(o.params)}, set: ${JSON.stringify(o.set)}}\n`;
}

/** The overlays a lock's text records; none when the line is absent or malformed. */
export function lockOverlays(text: string | null): LockOverlays {
  const m = text === null ? null : /^overlays: (.*)$/m.exec(text);
  if (m) {
    try {
      const v = yaml().parseDocument(m[1]).toJSON() as { params?: unknown; set?: unknown } | null;
      const strings = (x: unknown): x is string[] => Array.isArray(x) && x.every((s) => typeof s === 'string');
      if (v && strings(v.params) && strings(v.set)) return { params: v.params, set: v.set };
    } catch {
      /* a hand-edited line: treated as absent */
    }
  }
  return { params: [], set: [] };
}

export function serializeLock(stages: Map<string, LockEntry>, fragment = serializeEntry, overlays?: LockOverlays): string {
  if (stages.size === 0) return `schema: ${LOCK_SCHEMA}\n${overlaysLine(overlays)}stages: {}\n`;
  let text = `schema: ${LOCK_SCHEMA}\n${overlaysLine(overlays)}stages:\n`;
  for (const [name, e] of stages) text += fragment(name, e);
  return text;
}

/** Reads and validates the lock; turns every problem into a ConfigError at the offending node. */
export function parseLock(text: string, file = LOCK_FILE): Map<string, LockEntry> {
  const { isMap, isSeq, LineCounter, parseDocument } = yaml();
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, uniqueKeys: true });
  const fail = (node: Node | null | undefined, what: string, stage?: string): never => {
    const at = node?.range ? lineCounter.linePos(node.range[0]) : undefined;
    const hint = stage
      ? `delete the \`${stage}\` entry from ${file} (that stage will then re-run), or restore the file with \`git checkout ${file}\``
      : `restore the file with \`git checkout ${file}\`, or delete it (every stage will then re-run)`;
    throw new ConfigError(file, at?.line, at?.col, what, hint);
  };
  if (doc.errors.length) {
    const pos = lineCounter.linePos(doc.errors[0].pos[0]);
    throw new ConfigError(
      file,
      pos.line,
      pos.col,
      `invalid YAML: ${doc.errors[0].message.split('\n')[0]}`,
      `restore the file with \`git checkout ${file}\`, or delete it (every stage will then re-run)`,
    );
  }
  const stages = new Map<string, LockEntry>();
  if (doc.contents === null) return stages;
  if (!isMap(doc.contents)) fail(doc.contents, 'the lock must be a mapping with `schema` and `stages`');
  const root = doc.contents as YAMLMap;
  const schemaNode = root.get('schema', true) as Node | undefined;
  if (root.get('schema') !== LOCK_SCHEMA) {
    fail(schemaNode ?? root, `unsupported lock schema ${JSON.stringify(root.get('schema'))}; this grow writes schema ${LOCK_SCHEMA}`);
  }
  const stagesNode = root.get('stages', true) as Node | undefined;
  if (stagesNode === undefined || stagesNode === null) return stages;
  if (!isMap(stagesNode)) fail(stagesNode, '`stages` must be a mapping of stage name → entry');
  for (const pair of (stagesNode as YAMLMap).items) {
    const name = String((pair.key as { value?: unknown })?.value ?? pair.key);
    const node = pair.value as Node | null;
    if (!isMap(node)) fail(node ?? (pair.key as Node), `stage \`${name}\`: the entry must be a mapping`, name);
    const m = node as YAMLMap;
    for (const item of m.items) {
      const key = String((item.key as { value?: unknown }).value);
      if (!['cmd', 'deps', 'params', 'outs'].includes(key)) fail(item.key as Node, `stage \`${name}\`: unknown key \`${key}\``, name);
    }
    const cmdNode = m.get('cmd', true) as Node | undefined;
    const cmd = m.toJSON().cmd as unknown;
    let cmdList: string[] = [];
    if (typeof cmd === 'string') cmdList = [cmd];
    else if (Array.isArray(cmd) && cmd.every((c) => typeof c === 'string')) cmdList = cmd;
    else fail(cmdNode ?? m, `stage \`${name}\`: \`cmd\` must be a string or a list of strings`, name);

    const readFiles = (seqKey: 'deps' | 'outs') => {
      const seq = m.get(seqKey, true) as Node | undefined;
      if (seq === undefined || seq === null) return [];
      if (!isSeq(seq)) return fail(seq, `stage \`${name}\`: \`${seqKey}\` must be a list`, name);
      const seen = new Set<string>();
      return seq.items.map((itemNode) => {
        const item = (itemNode as Node).toJSON() as Record<string, unknown> | null;
        if (!isMap(itemNode) || !item)
          return fail(itemNode as Node, `stage \`${name}\`: each of \`${seqKey}\` must be {path, hash, ...}`, name);
        const at = (k: string) => ((itemNode as YAMLMap).get(k, true) as Node | undefined) ?? (itemNode as Node);
        if (typeof item.path !== 'string' || !item.path) fail(at('path'), `stage \`${name}\`: \`${seqKey}\` item has no \`path\``, name);
        // Lock paths name files grow hashes, restores and deletes: they must stay in the project.
        if (seqKey === 'outs' ? !isSafeRelpath(item.path) : !isSafeDepPath(item.path)) {
          fail(
            at('path'),
            `stage \`${name}\`: path ${JSON.stringify(item.path)} ${relpathProblem(item.path)}; lock paths are normalised paths inside the project`,
            name,
          );
        }
        if (seen.has(item.path as string)) fail(at('path'), `stage \`${name}\`: \`${item.path}\` is listed twice in \`${seqKey}\``, name);
        seen.add(item.path as string);
        if (typeof item.hash !== 'string' || !HASH_RE.test(item.hash)) {
          fail(
            at('hash'),
            `stage \`${name}\`: \`${item.path}\` has a malformed hash ${JSON.stringify(item.hash)} (expected md5:<32 hex>[.dir])`,
            name,
          );
        }
        for (const k of ['files', 'size']) {
          if (item[k] !== undefined && !(Number.isInteger(item[k]) && (item[k] as number) >= 0)) {
            fail(at(k), `stage \`${name}\`: \`${k}\` of \`${item.path}\` must be a non-negative integer`, name);
          }
        }
        if (seqKey === 'outs' && item.size === undefined)
          fail(itemNode as Node, `stage \`${name}\`: out \`${item.path}\` has no \`size\``, name);
        return item;
      });
    };
    const deps = readFiles('deps') as unknown as LockDep[];
    const outs = readFiles('outs') as unknown as LockOut[];
    const paramsNode = m.get('params', true) as Node | undefined;
    const params: LockEntry['params'] = {};
    if (paramsNode !== undefined && paramsNode !== null) {
      if (!isMap(paramsNode)) fail(paramsNode, `stage \`${name}\`: \`params\` must map each params file to its values`, name);
      for (const p of (paramsNode as YAMLMap).items) {
        const file = String((p.key as { value?: unknown }).value);
        if (!isMap(p.value))
          fail((p.value as Node) ?? (p.key as Node), `stage \`${name}\`: params of \`${file}\` must be a mapping of key → value`, name);
        params[file] = (p.value as YAMLMap).toJSON() as Record<string, unknown>;
      }
    }
    stages.set(name, { cmd: cmdList, deps, params, outs });
  }
  return stages;
}

/**
 * Parsing YAML costs ~50-100 ms for a 100-stage lock in a fresh process, most of a no-op `grow
 * status`. So the parsed lock is also kept as JSON in `.grow/lock.json`, keyed by the md5 of the
 * lock's text: any edit of pipeline.lock (by hand, by git) changes the md5 and the YAML is parsed
 * and validated again.
 */
const PARSED_CACHE = join('.grow', 'lock.json');

const md5 = (text: string) => createHash('md5').update(text).digest('hex');

/** A lock entry read back from `.grow/lock.json`, or null when it is not of the shape parseLock makes. */
function validCachedEntry(x: unknown): LockEntry | null {
  if (x === null || typeof x !== 'object' || Array.isArray(x)) return null;
  const { cmd, deps, params, outs } = x as Record<string, unknown>;
  if (!Array.isArray(cmd) || !cmd.every((c) => typeof c === 'string')) return null;
  const outList = parseOutRecords(outs);
  if (!outList || !Array.isArray(deps) || params === null || typeof params !== 'object' || Array.isArray(params)) return null;
  const depPaths = new Set<string>();
  for (const d of deps as unknown[]) {
    const { path, hash, files } = (d ?? {}) as Record<string, unknown>;
    if (!isSafeDepPath(path) || !isHash(hash) || depPaths.has(path)) return null;
    if (files !== undefined && !(Number.isInteger(files) && (files as number) >= 0)) return null;
    depPaths.add(path);
  }
  for (const v of Object.values(params)) if (v === null || typeof v !== 'object' || Array.isArray(v)) return null;
  return { cmd, deps: deps as LockDep[], params: params as LockEntry['params'], outs: outList };
}

/**
 * The parsed lock from `.grow/lock.json` when it was made from exactly this text and every entry
 * has the right shape; anything else is a miss (the YAML is parsed and validated again).
 */
function readParsedCache(path: string, textMd5: string): Map<string, LockEntry> | undefined {
  try {
    const c = JSON.parse(readFileSync(path, 'utf8')) as { md5?: unknown; stages?: unknown };
    if (c?.md5 !== textMd5 || !Array.isArray(c.stages)) return undefined;
    const stages = new Map<string, LockEntry>();
    for (const pair of c.stages as unknown[]) {
      if (!Array.isArray(pair) || pair.length !== 2 || typeof pair[0] !== 'string' || stages.has(pair[0])) return undefined;
      const entry = validCachedEntry(pair[1]);
      if (!entry) return undefined;
      stages.set(pair[0], entry);
    }
    return stages;
  } catch {
    return undefined;
  }
}

/** The lock in memory; `set` rewrites the file atomically, and only when its bytes change. */
export class LockStore {
  readonly path: string;
  private readonly cachePath: string;
  private stages: Map<string, LockEntry>;
  private text: string | null;
  private parsedCacheStale = false;
  /** Serialized entries, reused while an entry is unchanged. */
  private readonly fragments = new Map<string, { key: string; text: string }>();

  constructor(
    root: string,
    /** Pipeline order: entries are written in this order; when given, entries of other stages are dropped on the next write. */
    private readonly order: string[] = [],
    /** Never write anything (not even the parsed-lock cache): `--dry`. */
    private readonly readOnly = false,
    /** Recorded in the lock on every write: what this run's params were laid over with. */
    private readonly runOverlays?: LockOverlays,
  ) {
    this.path = join(root, LOCK_FILE);
    this.cachePath = join(root, PARSED_CACHE);
    this.text = existsSync(this.path) ? readFileSync(this.path, 'utf8') : null;
    if (this.text === null) {
      this.stages = new Map();
      return;
    }
    const textMd5 = md5(this.text);
    const cached = readParsedCache(this.cachePath, textMd5);
    this.stages = cached ?? parseLock(this.text);
    if (!cached) this.writeParsedCache(textMd5);
  }

  private writeParsedCache(textMd5: string): void {
    if (this.readOnly) return;
    try {
      writeFileAtomic(this.cachePath, JSON.stringify({ md5: textMd5, stages: [...this.stages] }));
    } catch {
      /* only a cache: a read-only .grow costs speed, not correctness */
    }
  }

  get(name: string): LockEntry | undefined {
    return this.stages.get(name);
  }

  /** The overlays the lock on disk was written with. */
  overlays(): LockOverlays {
    return lockOverlays(this.text);
  }

  entries(): Map<string, LockEntry> {
    return this.stages;
  }

  /**
   * Records `entry` for stage `name`: the file is written (atomically, its data synced) first, and only then
   * does the in-memory lock change. A failed write (a full disk) throws and leaves both the file
   * and this store as they were, so nothing can report as recorded what is not in pipeline.lock.
   */
  set(name: string, entry: LockEntry): void {
    const next = new Map(this.stages);
    next.set(name, canonicalEntry(entry));
    const rank = new Map(this.order.map((n, i) => [n, i]));
    // As DVC: entries of stages no longer in the pipeline (renamed, a foreach item removed) go.
    const names = [...next.keys()].filter((n) => this.order.length === 0 || rank.has(n));
    const pos = new Map(names.map((n, i) => [n, i]));
    names.sort((a, b) => (rank.get(a) ?? this.order.length + pos.get(a)!) - (rank.get(b) ?? this.order.length + pos.get(b)!));
    const stages = new Map(names.map((n) => [n, next.get(n)!]));
    const text = serializeLock(
      stages,
      (n, e) => {
        const key = JSON.stringify(e);
        const hit = this.fragments.get(n);
        if (hit?.key === key) return hit.text;
        const fresh = serializeEntry(n, e);
        this.fragments.set(n, { key, text: fresh });
        return fresh;
      },
      this.runOverlays,
    );
    if (text !== this.text) {
      try {
        writeFileAtomic(this.path, text, { sync: true });
      } catch (e) {
        rethrowIo(e, `write ${this.path}`);
      }
      this.text = text;
      this.parsedCacheStale = true;
    }
    this.stages = stages;
  }

  /** Refreshes the parsed-lock cache once at the end of a run rather than after every stage. */
  flush(): void {
    if (this.parsedCacheStale && this.text !== null) this.writeParsedCache(md5(this.text));
    this.parsedCacheStale = false;
  }
}
