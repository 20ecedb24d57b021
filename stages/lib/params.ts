/**
 * How a stage program reads its params. The runner can lay `--params FILE` overlays and
 * `--set key=value` values over a params file without editing it (as `dvc exp run -S` does);
 * it hands them to stages as GROW_PARAMS_OVERRIDES, a JSON object mapping each project-relative
 * params file to a patch that is deep-merged over the file's contents.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';

export const DEFAULT_PARAMS_FILE = 'params/experiment.yaml';

export type Tree = Record<string, unknown>;

function isPlainObject(v: unknown): v is Tree {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Deep merge: objects merge key by key, anything else (lists included) is replaced. */
export function deepMerge(base: unknown, patch: unknown): unknown {
  if (!isPlainObject(base) || !isPlainObject(patch)) return patch;
  const out: Tree = { ...base };
  for (const [k, v] of Object.entries(patch)) out[k] = k in out ? deepMerge(out[k], v) : v;
  return out;
}

function overridesFor(file: string): unknown {
  const raw = process.env.GROW_PARAMS_OVERRIDES;
  if (!raw) return undefined;
  let all: unknown;
  try {
    all = JSON.parse(raw);
  } catch {
    throw new Error('GROW_PARAMS_OVERRIDES is not valid JSON; it is set by `grow run --set/--params`');
  }
  return isPlainObject(all) ? all[file] : undefined;
}

/** The params tree a stage sees: the file (project-relative) with the runner's overrides applied. */
export function loadParams(file: string = DEFAULT_PARAMS_FILE): Params {
  let tree: unknown;
  try {
    tree = parse(readFileSync(file, 'utf8')) ?? {};
  } catch (e) {
    throw new Error(`cannot read params file ${file}: ${(e as Error).message}`);
  }
  const patch = overridesFor(file);
  if (patch !== undefined) tree = deepMerge(tree, patch);
  if (!isPlainObject(tree)) throw new Error(`${file}: the top level must be a mapping of keys`);
  return new Params(file, tree);
}

export class Params {
  constructor(
    readonly file: string,
    readonly tree: Tree,
  ) {}

  /** The value at a dotted key (`train.lr`, `growth.methods[0]`); a missing key is an error. */
  get<T = unknown>(key: string): T {
    let cur: unknown = this.tree;
    for (const part of key.split('.')) {
      const m = /^([^[\]]+)((?:\[\d+\])*)$/.exec(part);
      if (!m) throw new Error(`${this.file}: malformed params key "${key}"`);
      cur = isPlainObject(cur) ? cur[m[1]] : undefined;
      for (const idx of m[2].match(/\d+/g) ?? []) cur = Array.isArray(cur) ? cur[Number(idx)] : undefined;
      if (cur === undefined) {
        throw new Error(`${this.file}: missing params key "${key}"; add it to the file or fix the stage`);
      }
    }
    return cur as T;
  }

  /** Like get, with a default for optional keys. */
  opt<T>(key: string, fallback: T): T {
    try {
      return this.get<T>(key);
    } catch {
      return fallback;
    }
  }

  num(key: string): number {
    const v = this.get(key);
    if (typeof v !== 'number' || !Number.isFinite(v)) {
      throw new Error(`${this.file}: params key "${key}" must be a number, got ${JSON.stringify(v)}`);
    }
    return v;
  }

  str(key: string): string {
    const v = this.get(key);
    if (typeof v !== 'string') {
      throw new Error(`${this.file}: params key "${key}" must be a string, got ${JSON.stringify(v)}`);
    }
    return v;
  }
}

/** `--name value` and `--flag` pairs from argv, the only CLI shape stage programs use. */
export function parseArgs(argv: string[] = process.argv.slice(2)): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new Error(`unexpected argument "${a}"; stage options look like --name value`);
    const next = argv[i + 1];
    if (next === undefined || next.startsWith('--')) out[a.slice(2)] = 'true';
    else out[a.slice(2)] = argv[++i];
  }
  return out;
}
