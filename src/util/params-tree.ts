/**
 * The params tree and the two ways the runner hands it to stage programs, shared by the runner
 * (src/pipeline/spec/params.ts) and the stages' params reader (stages/lib/params.ts) so that both
 * read the override format with one implementation. Depends on nothing in the project: a stage
 * that reads params must not depend on the runner's code.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';

export type Tree = Record<string, unknown>;

export function isMapping(v: unknown): v is Tree {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Mapping keys sorted at every level, so equal values have one representation. */
export function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (isMapping(v)) {
    const out: Tree = {};
    for (const k of Object.keys(v).sort()) out[k] = canonical(v[k]);
    return out;
  }
  return v;
}

/** Deep merge: mappings merge key by key, anything else (lists included) is replaced. */
export function deepMerge(base: unknown, patch: unknown): unknown {
  if (!isMapping(base) || !isMapping(patch)) return patch;
  const out: Tree = { ...base };
  for (const [k, v] of Object.entries(patch)) out[k] = k in out ? deepMerge(out[k], v) : v;
  return out;
}

/** The environment variable that names a stage run's params snapshot (absolute path). */
export const PARAMS_FILE_ENV = 'GROW_PARAMS_FILE';

/**
 * For stage programs: the tree of `file` from the snapshot at `snapshotPath`, or undefined when
 * the snapshot does not hold that file (a params file none of the stage's `params:` names).
 */
export function readParamsSnapshot(snapshotPath: string, file: string): Tree | undefined {
  let all: unknown;
  try {
    all = JSON.parse(readFileSync(snapshotPath, 'utf8'));
  } catch (e) {
    throw new Error(`cannot read the params snapshot ${snapshotPath} (${PARAMS_FILE_ENV}, written by grow run): ${(e as Error).message}`);
  }
  const tree = isMapping(all) ? all[path.posix.normalize(file)] : undefined;
  return isMapping(tree) ? tree : undefined;
}

/**
 * For stage programs run without a snapshot: `tree` (the file as read) with its patch from
 * GROW_PARAMS_OVERRIDES (`{ "<params file>": <patch> }`, see `overrides()`) merged over it.
 */
export function applyOverrides(file: string, tree: unknown, overridesJson: string | undefined): unknown {
  if (!overridesJson) return tree;
  let all: unknown;
  try {
    all = JSON.parse(overridesJson);
  } catch {
    throw new Error('GROW_PARAMS_OVERRIDES is not valid JSON; it is set by `grow run --set/--params`');
  }
  const patch = isMapping(all) ? all[path.posix.normalize(file)] : undefined;
  return patch === undefined ? tree : deepMerge(tree, patch);
}
