import path from 'node:path';
import { ConfigError, GrowError } from '../errors.ts';
import { yaml } from '../yaml.ts';
import type { ParamValues, Stage } from '../types.ts';
import { didYouMean } from './suggest.ts';
import { displayPath, YamlSource } from './yaml-source.ts';
import { canonical, deepMerge, isMapping, type Tree } from '../../util/params-tree.ts';

export { canonical, deepMerge, isMapping, PARAMS_FILE_ENV, type Tree } from '../../util/params-tree.ts';

export interface ParamsSource {
  /** The effective tree of a params file (project-relative), overrides applied, canonical. */
  tree(file: string): unknown;
  /** The value at a dotted key (`train.lr`, `model`, `sizes[0]`); throws ConfigError naming key and file. */
  value(file: string, dottedKey: string): unknown;
  /** The listed keys' current values; the whole file under key '' when keys === null. */
  stageValues(stage: Stage): ParamValues;
  /** file → deep patch, for GROW_PARAMS_OVERRIDES; {} when there are none. */
  overrides(): Record<string, unknown>;
  /**
   * The effective trees (overrides applied, in each file's own key order) of the given params
   * files and of the files the overrides touch: what a stage program is handed.
   */
  snapshot(files: string[]): Record<string, Tree>;
  /** The overlay (`--params` file or `--set k=v`) that gave a key its value; undefined: the file's own. */
  origin?(file: string, dottedKey: string): string | undefined;
}

/**
 * `a.b[0].c` → ['a', 'b', 0, 'c']; undefined when malformed. A bracketed name is a key, as in
 * DVC (`item[lr]` is `item.lr`).
 */
export function parseKey(key: string): Array<string | number> | undefined {
  const parts: Array<string | number> = [];
  for (const part of key.split('.')) {
    const m = /^([^[\]]*)((?:\[[^[\]]+\])*)$/.exec(part);
    if (!m || (m[1] === '' && m[2] === '')) return undefined;
    if (m[1] !== '') parts.push(m[1]);
    for (const [, idx] of m[2].matchAll(/\[([^[\]]+)\]/g)) parts.push(/^\d+$/.test(idx) ? Number(idx) : idx.trim());
  }
  return parts;
}

const MISSING = Symbol('missing');

/** The value at `parts`, or MISSING; a digit string also indexes a list (`sizes.0`, as DVC). */
export function lookup(tree: unknown, parts: ReadonlyArray<string | number>): unknown {
  let cur: unknown = tree;
  for (const p of parts) {
    if (Array.isArray(cur) && (typeof p === 'number' || /^\d+$/.test(p))) {
      const i = Number(p);
      if (i >= cur.length) return MISSING;
      cur = cur[i];
    } else if (isMapping(cur) && typeof p === 'string' && Object.hasOwn(cur, p)) {
      cur = cur[p];
    } else {
      return MISSING;
    }
  }
  return cur;
}

export function isMissing(v: unknown): boolean {
  return v === MISSING;
}

/** The keys available one level below the deepest existing prefix of `parts` (for suggestions). */
function siblings(tree: unknown, parts: ReadonlyArray<string | number>): { keys: string[] } {
  let cur: unknown = tree;
  const done: string[] = [];
  for (const p of parts) {
    const next = lookup(cur, [p]);
    if (next === MISSING) break;
    cur = next;
    done.push(String(p));
  }
  const keys = isMapping(cur) ? Object.keys(cur) : [];
  const prefix = done.length ? done.join('.') + '.' : '';
  return { keys: keys.map((k) => prefix + k) };
}

export interface ParamsOptions {
  /** Params files laid over the default params file, in order (project-relative or absolute). */
  overlays?: string[];
  /** `key=value` or `file:key=value`; `+key=value` may add a key the file lacks. */
  set?: string[];
}

export class FileParams implements ParamsSource {
  private readonly raw = new Map<string, Tree>();
  private readonly effective = new Map<string, Tree>();
  private readonly canonicalTrees = new Map<string, Tree>();
  private readonly patches = new Map<string, Tree>();
  private readonly sources: YamlSource[] = [];
  /** Each overlay in order, so a value can be traced to the one that set it. */
  private readonly layers: { label: string; file: string; patch: unknown }[] = [];

  constructor(
    readonly root: string,
    readonly defaultFile: string,
    opts: ParamsOptions = {},
    /** Where YamlSource may cache parses (see yaml-source.ts). */
    private readonly cacheDir?: string,
  ) {
    let patch: unknown;
    for (const overlay of opts.overlays ?? []) {
      const abs = path.resolve(root, overlay);
      const src = YamlSource.read(abs, displayPath(root, abs), 'params overlay file');
      const tree = src.data ?? {};
      if (!isMapping(tree)) throw new ConfigError(src.file, 1, 1, 'a params overlay must be a mapping of keys at the top level');
      patch = deepMerge(patch ?? {}, tree);
      this.layers.push({ label: src.file, file: defaultFile, patch: tree });
    }
    if (patch !== undefined) this.patches.set(defaultFile, patch as Tree);
    for (const assignment of opts.set ?? []) this.applySet(assignment);
  }

  private applySet(assignment: string): void {
    const eq = assignment.indexOf('=');
    if (eq <= 0)
      throw new GrowError(
        `--set "${assignment}" is not key=value`,
        2,
        'write it as --set train.lr=0.001 (or --set params/other.yaml:key=value)',
      );
    let key = assignment.slice(0, eq).trim();
    const text = assignment.slice(eq + 1);
    let file = this.defaultFile;
    const colon = key.lastIndexOf(':');
    if (colon > 0) {
      file = path.posix.normalize(key.slice(0, colon));
      key = key.slice(colon + 1);
    }
    const adding = key.startsWith('+');
    if (adding) key = key.slice(1);
    const parts = parseKey(key);
    if (!parts || parts.some((p) => typeof p === 'number')) {
      throw new GrowError(
        `--set "${assignment}": "${key}" is not a dotted key`,
        2,
        'keys look like train.lr; set a list as a whole: --set sizes=[1,2,3]',
      );
    }
    let value: unknown;
    try {
      value = text === '' ? '' : yaml().parse(text);
    } catch (e) {
      throw new GrowError(`--set "${assignment}": the value is not valid YAML (${(e as Error).message.split('\n')[0]})`, 2);
    }
    if (!adding && lookup(this.tree(file), parts) === MISSING) {
      const { keys } = siblings(this.tree(file), parts);
      throw new GrowError(
        `--set "${assignment}": ${file} has no key "${key}".${didYouMean(key, keys)}`,
        2,
        `to add a new key on purpose, write --set +${key}=${text}`,
      );
    }
    let patch: unknown = value;
    for (let i = parts.length - 1; i >= 0; i--) patch = { [parts[i] as string]: patch };
    this.layers.push({ label: `--set ${assignment}`, file, patch });
    this.patches.set(file, deepMerge(this.patches.get(file) ?? {}, patch) as Tree);
    this.effective.delete(file);
    this.canonicalTrees.delete(file);
  }

  origin(file: string, dottedKey: string): string | undefined {
    const parts = dottedKey === '' ? [] : parseKey(dottedKey);
    if (!parts) return undefined;
    for (let i = this.layers.length - 1; i >= 0; i--) {
      const l = this.layers[i];
      if (l.file !== file) continue;
      // The layer set the key itself, something above it, or (a whole mapping listed) something inside it.
      if (
        parts.some((_, n) => lookup(l.patch, parts.slice(0, n + 1)) !== MISSING && !isMapping(lookup(l.patch, parts.slice(0, n + 1)))) ||
        lookup(l.patch, parts) !== MISSING
      )
        return l.label;
    }
    return undefined;
  }

  /** The file's own tree (no overrides). A missing or non-mapping file is a ConfigError. */
  private rawTree(file: string): Tree {
    let tree = this.raw.get(file);
    if (!tree) {
      if (/\.(toml|py)$/i.test(file)) {
        throw new ConfigError(
          file,
          undefined,
          undefined,
          `${path.extname(file)} params files are not supported`,
          'write the params as YAML or JSON (DVC also reads TOML and Python; grow does not)',
        );
      }
      const src = YamlSource.read(path.resolve(this.root, file), file, 'params file', this.cacheDir);
      this.sources.push(src);
      const data = src.data ?? {};
      if (!isMapping(data)) throw new ConfigError(file, 1, 1, 'a params file must be a mapping of keys at the top level');
      tree = data;
      this.raw.set(file, tree);
    }
    return tree;
  }

  /** Whether the file exists (so an unused default params file may be absent, as in DVC). */
  exists(file: string): boolean {
    try {
      this.rawTree(file);
      return true;
    } catch (e) {
      if (e instanceof ConfigError && /not found$/.test(e.message)) return false;
      throw e;
    }
  }

  /**
   * The effective tree in the file's own key order, for interpolation: `foreach: ${models}` over
   * a mapping expands in the order the user wrote it, as in DVC.
   */
  ordered(file: string): Tree {
    let tree = this.effective.get(file);
    if (!tree) {
      const patch = this.patches.get(file);
      tree = (patch ? deepMerge(this.rawTree(file), patch) : this.rawTree(file)) as Tree;
      this.effective.set(file, tree);
    }
    return tree;
  }

  tree(file: string): Tree {
    let tree = this.canonicalTrees.get(file);
    if (!tree) {
      tree = canonical(this.ordered(file)) as Tree;
      this.canonicalTrees.set(file, tree);
    }
    return tree;
  }

  value(file: string, dottedKey: string): unknown {
    const parts = parseKey(dottedKey);
    if (!parts)
      throw new ConfigError(file, undefined, undefined, `malformed params key "${dottedKey}"`, 'keys look like train.lr or sizes[0]');
    const tree = this.tree(file);
    const v = lookup(tree, parts);
    if (v === MISSING) {
      const { keys } = siblings(tree, parts);
      throw new ConfigError(
        file,
        undefined,
        undefined,
        `params key "${dottedKey}" is not defined in ${file}.${didYouMean(dottedKey, keys)}`,
        `add "${dottedKey}" to ${file}, or fix the key the stage lists`,
      );
    }
    return v;
  }

  stageValues(stage: Stage): ParamValues {
    const out: ParamValues = {};
    for (const ref of [...stage.params].sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : 0))) {
      const values = (out[ref.file] ??= {});
      if (ref.keys === null) values[''] = this.tree(ref.file);
      else for (const k of ref.keys) values[k] = this.value(ref.file, k);
    }
    return canonical(out) as ParamValues;
  }

  overrides(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [file, patch] of this.patches) out[file] = canonical(patch);
    return canonical(out) as Record<string, unknown>;
  }

  snapshot(files: string[]): Record<string, Tree> {
    const out: Record<string, Tree> = {};
    for (const file of [...new Set([...files, ...this.patches.keys()])].sort()) out[file] = this.ordered(file);
    return out;
  }

  /** Caches the parses of the params files read so far (after a successful load). */
  saveToCache(): void {
    for (const src of this.sources) src.saveToCache();
  }

  /** Files the overrides touch (their patches apply even if no stage lists them). */
  overriddenFiles(): string[] {
    return [...this.patches.keys()];
  }
}

/**
 * The snapshot as JSON: `{ "<project-relative params file>": <effective tree> }`. The runner
 * hashes params values as JSON (canonicalJson), so JSON carries exactly what it recorded — except
 * numbers JSON has no form for, which would reach the stage as null: those are refused here,
 * naming the file and key.
 */
export function paramsSnapshotText(trees: Record<string, Tree>): string {
  for (const [file, tree] of Object.entries(trees)) {
    const bad = nonFinitePath(tree, []);
    if (bad) {
      throw new GrowError(
        `params key "${bad.join('.')}" in ${file} is ${String(lookup(tree, bad))}, which a stage cannot be handed as JSON`,
        2,
        `write a finite number, or the value as a string (e.g. "inf") that the stage program converts`,
      );
    }
  }
  return `${JSON.stringify(trees, null, 1)}\n`;
}

function nonFinitePath(v: unknown, at: Array<string | number>): Array<string | number> | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? undefined : at;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const p = nonFinitePath(v[i], [...at, i]);
      if (p) return p;
    }
  } else if (isMapping(v)) {
    for (const [k, x] of Object.entries(v)) {
      const p = nonFinitePath(x, [...at, k]);
      if (p) return p;
    }
  }
  return undefined;
}
