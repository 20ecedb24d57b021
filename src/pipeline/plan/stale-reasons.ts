/**
 * Why a stage must run: a pure function of (stage, its lock entry, the facts now). Only what
 * determines the stage's result counts — cmd text, dep contents, the values of the params keys it
 * lists, the set of declared deps/outs/params, and whether its outs are still what it produced.
 * YAML layout, comments, `desc` and unlisted params keys never reach this function.
 */
import type { HashInfo } from '../store/hash.ts';
import type { LockEntry } from '../store/lockfile.ts';
import type { ParamValues, Stage } from '../types.ts';

export interface StageFacts {
  cmd: string[];
  /** Current hash of every declared dep (null: missing). */
  deps: Map<string, HashInfo | null>;
  /** Current values of the listed params keys. */
  params: ParamValues;
  /** Current hash of every declared out (null: missing). */
  outs: Map<string, HashInfo | null>;
  /** Which overlay set a params value (`--set k=v`, an overlay file), when one did. */
  paramOrigin?: (file: string, key: string) => string | undefined;
}

/** A value in a reason: JSON, cut short so a reason stays one line. */
function brief(v: unknown): string {
  if (v === undefined) return '(none)';
  const s = canonicalJson(v);
  return s.length > 40 ? `${s.slice(0, 37)}...` : s;
}

/** JSON with object keys sorted, so equal values compare equal whatever their key order. */
export function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v) ?? 'null';
}

function paramLabel(file: string, key: string): string {
  return key === '' ? file : `${file}:${key}`;
}

/** DVC's "callback" stage: a command with no deps, params or outs is run on every `grow run`. */
export function isCallback(stage: Stage): boolean {
  return stage.deps.length === 0 && stage.params.length === 0 && stage.outs.length === 0;
}

/** The dotted keys under `key` whose values differ, with both values. */
function changedLeaves(key: string, a: unknown, b: unknown): [string, unknown, unknown][] {
  if (!isTree(a) || !isTree(b)) return [[key, a, b]];
  const out: [string, unknown, unknown][] = [];
  for (const k of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
    if (canonicalJson(a[k]) === canonicalJson(b[k])) continue;
    out.push(...changedLeaves(key ? `${key}.${k}` : k, a[k], b[k]));
  }
  return out;
}

export function staleReasons(stage: Stage, entry: LockEntry | undefined, now: StageFacts): string[] {
  if (!entry) return ['never run'];
  const reasons: string[] = [];
  if (stage.alwaysChanged) reasons.push('always_changed');
  else if (isCallback(stage)) reasons.push('callback stage (no deps or outs): runs every time');
  if (canonicalJson(entry.cmd) !== canonicalJson(now.cmd)) reasons.push('cmd changed');

  const lockDeps = new Map(entry.deps.map((d) => [d.path, d.hash]));
  for (const [path, info] of now.deps) {
    const old = lockDeps.get(path);
    if (info === null) reasons.push(`dep ${path} missing`);
    else if (old === undefined) reasons.push(`dep ${path} added`);
    else if (old !== info.hash) reasons.push(`dep ${path} changed`);
  }
  for (const path of lockDeps.keys()) if (!now.deps.has(path)) reasons.push(`dep ${path} removed`);

  const files = new Set([...Object.keys(entry.params), ...Object.keys(now.params)]);
  for (const file of [...files].sort()) {
    const before = entry.params[file] ?? {};
    const after = now.params[file] ?? {};
    // A whole-file dependency (key '') is reported by its top-level keys, as DVC does.
    const wholeFile = '' in before && '' in after && isTree(before['']) && isTree(after['']);
    const [b, a] = wholeFile ? [before[''] as Record<string, unknown>, after[''] as Record<string, unknown>] : [before, after];
    for (const key of [...new Set([...Object.keys(b), ...Object.keys(a)])].sort()) {
      if (!(key in b)) reasons.push(`param ${paramLabel(file, key)} added`);
      else if (!(key in a)) reasons.push(`param ${paramLabel(file, key)} removed`);
      else if (canonicalJson(b[key]) !== canonicalJson(a[key])) {
        // A listed mapping (`train`, a whole file) is reported by the keys inside it that changed.
        for (const [leaf, was, is] of changedLeaves(key, b[key], a[key])) {
          const origin = now.paramOrigin?.(file, leaf);
          reasons.push(`param ${paramLabel(file, leaf)} changed: ${brief(was)} → ${brief(is)}${origin ? ` (set by ${origin})` : ''}`);
        }
      }
    }
  }

  const lockOuts = new Map(entry.outs.map((o) => [o.path, o.hash]));
  for (const [path, info] of now.outs) {
    const old = lockOuts.get(path);
    if (old === undefined) reasons.push(`out ${path} added`);
    else if (info === null) reasons.push(`out ${path} missing`);
    else if (info.hash !== old) reasons.push(`out ${path} modified`);
  }
  for (const path of lockOuts.keys()) if (!now.outs.has(path)) reasons.push(`out ${path} removed`);
  return reasons;
}

function isTree(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
