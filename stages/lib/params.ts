/**
 * How a stage program reads its params. Under `grow run` the runner hands each stage the values
 * it recorded in pipeline.lock and the run-cache: a JSON snapshot of the stage's params files
 * (`--params` overlays and `--set` values applied) whose path is in GROW_PARAMS_FILE, so an edit
 * to a params file while the run goes on never reaches a stage. Run by hand (no snapshot, or a
 * file the snapshot does not hold), the program reads the YAML file and merges the patch from
 * GROW_PARAMS_OVERRIDES over it, with the one implementation of that format the runner uses too (src/util/params-tree.ts).
 */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { applyOverrides, isMapping, PARAMS_FILE_ENV, readParamsSnapshot, type Tree } from '../../src/util/params-tree.ts';

export const DEFAULT_PARAMS_FILE = 'params/experiment.yaml';

export type { Tree };

/** The params tree a stage sees: the file (project-relative) as the runner recorded it. */
export function loadParams(file: string = DEFAULT_PARAMS_FILE): Params {
  const snapshot = process.env[PARAMS_FILE_ENV];
  const recorded = snapshot ? readParamsSnapshot(snapshot, file) : undefined;
  if (recorded) return new Params(file, recorded);
  let tree: unknown;
  try {
    tree = parse(readFileSync(file, 'utf8')) ?? {};
  } catch (e) {
    throw new Error(`cannot read params file ${file}: ${(e as Error).message}`);
  }
  tree = applyOverrides(file, tree, process.env.GROW_PARAMS_OVERRIDES);
  if (!isMapping(tree)) throw new Error(`${file}: the top level must be a mapping of keys`);
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
      cur = isMapping(cur) ? cur[m[1]] : undefined;
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
