/**
 * `grow exp run --sweep key=v1,v2 …`: the grid of params values, one `--set` list per point.
 * Points run one after another in the workspace, or (`--parallel`) the first there and the rest
 * in isolated copies sharing its cache; each is recorded as an experiment. Stages whose inputs a
 * point does not change are up to date or restored from the run-cache, so work common to all
 * points is done once.
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { EXIT, GrowError } from '../errors.ts';

export interface SweepAxis {
  /** `key` or `file:key`, as --set takes it. */
  key: string;
  /** Each value's text, as written (YAML, parsed by --set). */
  values: string[];
}

/** Splits on commas outside brackets, braces and quotes: `[1,2],[3,4]` is two values. */
export function splitValues(text: string): string[] {
  const values: string[] = [];
  let depth = 0;
  let quote: string | undefined;
  let cur = '';
  for (const ch of text) {
    if (quote) {
      if (ch === quote) quote = undefined;
    } else if (ch === '"' || ch === "'") quote = ch;
    else if (ch === '[' || ch === '{') depth++;
    else if (ch === ']' || ch === '}') depth--;
    else if (ch === ',' && depth === 0) {
      values.push(cur.trim());
      cur = '';
      continue;
    }
    cur += ch;
  }
  values.push(cur.trim());
  return values;
}

export function parseSweep(arg: string): SweepAxis {
  const eq = arg.indexOf('=');
  const key = eq > 0 ? arg.slice(0, eq).trim() : '';
  const values = eq > 0 ? splitValues(arg.slice(eq + 1)) : [];
  if (!key || values.length === 0 || values.some((v) => v === '')) {
    throw new GrowError(
      `--sweep "${arg}" is not key=value1,value2,…`,
      EXIT.usage,
      'write it as --sweep train.lr=0.001,0.003,0.01 (repeat --sweep for more axes; --sweep file.yaml:key=… for another params file)',
    );
  }
  if (new Set(values).size !== values.length) {
    throw new GrowError(`--sweep "${arg}": a value is repeated`, EXIT.usage, 'list each value once');
  }
  return { key, values };
}

/** Every combination, the first axis varying slowest: one list of `key=value` per point. */
export function grid(axes: SweepAxis[]): string[][] {
  const keys = axes.map((a) => a.key);
  const dup = keys.find((k, i) => keys.indexOf(k) !== i);
  if (dup) throw new GrowError(`--sweep: \`${dup}\` is swept twice`, EXIT.usage, 'give each key one --sweep with all its values');
  let points: string[][] = [[]];
  for (const a of axes) points = points.flatMap((p) => a.values.map((v) => [...p, `${a.key}=${v}`]));
  return points;
}

/**
 * A copy of the project for one point: every file except outs, runner state, `.git/` and
 * `node_modules/` (linked, not copied: it is large and only read). Points that write the same
 * out paths can then run at the same time; they share the project's cache through GROW_CACHE_DIR.
 */
export function isolatedCopy(root: string, outs: string[]): string {
  const dest = mkdtempSync(join(tmpdir(), 'grow-sweep-'));
  const skip = (rel: string) =>
    rel === '.grow' || rel === '.git' || rel === 'node_modules' || outs.some((o) => rel === o || rel.startsWith(`${o}/`));
  const walk = (rel: string): void => {
    for (const entry of readdirSync(join(root, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${entry.name}` : entry.name;
      if (skip(r)) continue;
      if (entry.isDirectory()) walk(r);
      else {
        mkdirSync(dirname(join(dest, r)), { recursive: true });
        cpSync(join(root, r), join(dest, r), { verbatimSymlinks: true });
      }
    }
  };
  walk('');
  if (existsSync(join(root, 'node_modules'))) symlinkSync(join(root, 'node_modules'), join(dest, 'node_modules'));
  return dest;
}
