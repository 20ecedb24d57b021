/**
 * `grow params diff` and `grow metrics show|diff`.
 *
 * params diff: the values of every params key a stage lists. Without a revision it compares what
 * pipeline.lock recorded (what the current results were made with) against the workspace; with a
 * revision it compares the params files at that git revision (`git show rev:path`) against the
 * workspace. metrics: the files declared under `metrics:` (JSON or YAML), flattened to dotted keys;
 * diff compares a git revision (default HEAD) against the workspace.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { GrowError } from '../errors.ts';
import { yaml } from '../yaml.ts';
import type { Project } from '../project/project.ts';
import { floatPaths, pythonFloat } from '../spec/number-text.ts';
import { isMissing, lookup, parseKey } from '../spec/params.ts';
import { canonicalJson } from '../plan/stale-reasons.ts';
import { cell, formatTable } from './table.ts';

export interface DiffRow {
  file: string;
  key: string;
  old: unknown;
  new: unknown;
  /** new − old for numbers, else absent. */
  change?: number;
  /** Which sides were written as YAML floats, so they print as DVC prints them (`1.0`, not `1`). */
  oldFloat?: boolean;
  newFloat?: boolean;
}

/**
 * The dotted keys of a YAML params file whose value is a float that JavaScript would print
 * differently (`1.0`), with that value. Values inside lists are left out: lists print whole.
 */
function floatKeys(text: string | undefined, file: string): Map<string, number> {
  const out = new Map<string, number>();
  if (text === undefined || file.endsWith('.json')) return out;
  try {
    const doc = yaml().parseDocument(text);
    const tree = doc.toJS() as unknown;
    for (const p of floatPaths(doc)) {
      if (p.some((k) => typeof k !== 'string')) continue;
      const v = lookup(tree, p as string[]);
      if (typeof v === 'number') out.set(p.join('.'), v);
    }
  } catch {
    // An unreadable file is reported where its values are read.
  }
  return out;
}

/** A value read from `file` is a float there when the file holds that same number at that key as one. */
function isFloatIn(floats: Map<string, number>, key: string, v: unknown): boolean {
  return typeof v === 'number' && floats.get(key) === v;
}

/** A file's text at a git revision; undefined when the file did not exist there. */
export function gitShow(root: string, rev: string, path: string): string | undefined {
  try {
    execFileSync('git', ['rev-parse', '--verify', '--quiet', `${rev}^{commit}`], { cwd: root, stdio: 'pipe' });
  } catch {
    throw revisionError(root, rev);
  }
  try {
    return execFileSync('git', ['show', `${rev}:./${path}`], { cwd: root, stdio: 'pipe', encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  } catch {
    return undefined;
  }
}

/** Why `rev` cannot be read: no git repository, no commit yet, or no such revision. */
function revisionError(root: string, rev: string): GrowError {
  const git = (args: string[]) => {
    try {
      execFileSync('git', args, { cwd: root, stdio: 'pipe' });
      return true;
    } catch {
      return false;
    }
  };
  if (!git(['rev-parse', '--git-dir'])) {
    return new GrowError(
      `cannot compare with \`${rev}\`: ${root} is not in a git repository`,
      2,
      'comparing with a revision needs git history: `git init` and commit, or use `grow metrics show` / `grow params diff` without a revision',
    );
  }
  if (!git(['rev-parse', '--verify', '--quiet', 'HEAD^{commit}'])) {
    return new GrowError(
      `cannot compare with \`${rev}\`: the git repository has no commits yet`,
      2,
      'commit the project first (`git add -A && git commit`), then compare',
    );
  }
  return new GrowError(
    `\`${rev}\` is not a git revision of this repository`,
    2,
    'name a commit, branch or tag that exists (see `git log --oneline`), e.g. HEAD~1 or main',
  );
}

function parseStructured(text: string, file: string): unknown {
  try {
    return file.endsWith('.json') ? JSON.parse(text) : yaml().parse(text);
  } catch (e) {
    throw new GrowError(
      `${file}: cannot parse (${(e as Error).message.split('\n')[0]})`,
      2,
      'metrics and params files must be JSON or YAML',
    );
  }
}

/** {a: {b: 1}, c: [1, 2]} → {'a.b': 1, c: [1, 2]} */
export function flatten(v: unknown, prefix = '', out: Record<string, unknown> = {}): Record<string, unknown> {
  const join = (k: string) => (prefix ? `${prefix}.${k}` : k);
  if (Array.isArray(v) && v.some((x) => x && typeof x === 'object')) {
    // A list of records (one per model, say) reads best keyed by each record's own id or name,
    // so `models[s1/m0].loss` stays the same key when the list is reordered; else by position.
    v.forEach((x, i) => {
      const k = itemKey(x);
      if (k === undefined) return flatten(x, `${prefix}[${i}]`, out);
      const { [k.field]: _, ...rest } = x as Record<string, unknown>;
      flatten(rest, `${prefix}[${k.value}]`, out);
    });
  } else if (v && typeof v === 'object' && !Array.isArray(v)) {
    for (const [k, x] of Object.entries(v)) flatten(x, join(k), out);
  } else if (prefix) out[prefix] = v;
  return out;
}

function itemKey(x: unknown): { field: string; value: string } | undefined {
  if (!x || typeof x !== 'object' || Array.isArray(x)) return undefined;
  const r = x as Record<string, unknown>;
  for (const field of ['id', 'name', 'model', 'key']) {
    if (typeof r[field] === 'string' || typeof r[field] === 'number') return { field, value: String(r[field]) };
  }
  return undefined;
}

function row(file: string, key: string, oldV: unknown, newV: unknown): DiffRow {
  const r: DiffRow = { file, key, old: oldV, new: newV };
  if (typeof oldV === 'number' && typeof newV === 'number') r.change = Number((newV - oldV).toPrecision(12));
  return r;
}

export function paramsDiff(project: Project, rev?: string, all = false): DiffRow[] {
  const now = new Map<string, Record<string, unknown>>();
  for (const s of project.pipeline.stages) {
    for (const [file, values] of Object.entries(project.pipeline.params.stageValues(s))) now.set(file, { ...now.get(file), ...values });
  }
  const old = new Map<string, Record<string, unknown>>();
  const oldFloats = new Map<string, Map<string, number>>();
  const newFloats = new Map<string, Map<string, number>>();
  for (const file of now.keys()) {
    const path = join(project.root, file);
    newFloats.set(file, floatKeys(existsSync(path) ? readFileSync(path, 'utf8') : undefined, file));
  }
  if (rev === undefined) {
    for (const e of project.lock.entries().values())
      for (const [file, values] of Object.entries(e.params)) old.set(file, { ...old.get(file), ...values });
  } else {
    for (const [file, values] of now) {
      const text = gitShow(project.root, rev, file);
      const tree = text === undefined ? undefined : parseStructured(text, file);
      oldFloats.set(file, floatKeys(text, file));
      const atRev: Record<string, unknown> = {};
      for (const key of Object.keys(values)) {
        const v = key === '' ? tree : tree === undefined ? undefined : lookup(tree, parseKey(key) ?? []);
        if (v !== undefined && !isMissing(v)) atRev[key] = v;
      }
      old.set(file, atRev);
    }
  }
  const rows: DiffRow[] = [];
  for (const file of [...new Set([...now.keys(), ...old.keys()])].sort()) {
    const a = paramLeaves(old.get(file) ?? {});
    const b = paramLeaves(now.get(file) ?? {});
    for (const key of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
      if (!all && canonicalJson(a[key]) === canonicalJson(b[key])) continue;
      const r = row(file, key, a[key], b[key]);
      if (isFloatIn(oldFloats.get(file) ?? new Map(), key, r.old)) r.oldFloat = true;
      if (isFloatIn(newFloats.get(file) ?? new Map(), key, r.new)) r.newFloat = true;
      rows.push(r);
    }
  }
  return rows;
}

/**
 * Params values by leaf, as DVC reports them: a listed subtree (`model`) or a whole file shows one
 * row per changed key inside it (`model.d`), not one row holding two mappings. Lists stay whole.
 */
function paramLeaves(values: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const walk = (v: unknown, key: string) => {
    if (v && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length > 0) {
      for (const [k, x] of Object.entries(v)) walk(x, key ? `${key}.${k}` : k);
    } else out[key] = v;
  };
  for (const [key, v] of Object.entries(values)) walk(v, key);
  return out;
}

export function metricsFiles(project: Project): string[] {
  const declared = project.pipeline.stages.flatMap((s) => s.outs.filter((o) => o.kind === 'metrics').map((o) => o.path));
  return [...new Set([...declared, ...(project.pipeline.metricsFiles ?? [])])];
}

function readMetrics(project: Project, file: string, rev?: string): Record<string, unknown> | undefined {
  const text =
    rev === undefined
      ? existsSync(join(project.root, file))
        ? readFileSync(join(project.root, file), 'utf8')
        : undefined
      : gitShow(project.root, rev, file);
  if (text === undefined) return undefined;
  const data = parseStructured(text, file);
  // A file holding a bare number is one metric (as DVC reads it), shown under the file's name.
  if (typeof data === 'number' || (typeof data === 'string' && data.trim() !== '' && Number.isFinite(Number(data))))
    return { '': Number(data) };
  return flatten(data);
}

export function metricsShow(project: Project): DiffRow[] {
  const rows: DiffRow[] = [];
  for (const file of metricsFiles(project)) {
    const m = readMetrics(project, file);
    if (!m) continue;
    for (const [key, v] of Object.entries(m)) rows.push({ file, key, old: undefined, new: v });
  }
  return rows;
}

export function metricsDiff(project: Project, rev = 'HEAD', all = false): DiffRow[] {
  const rows: DiffRow[] = [];
  for (const file of metricsFiles(project)) {
    const a = readMetrics(project, file, rev) ?? {};
    const b = readMetrics(project, file) ?? {};
    for (const key of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
      if (!all && canonicalJson(a[key]) === canonicalJson(b[key])) continue;
      rows.push(row(file, key, a[key], b[key]));
    }
  }
  return rows;
}

export function formatDiff(rows: DiffRow[], oldLabel: string): string {
  if (rows.length === 0) return 'no differences';
  const text = (v: unknown, float?: boolean) => (float && typeof v === 'number' ? pythonFloat(v) : cell(v));
  const change = (r: DiffRow) => {
    if (r.change === undefined) return r.old === undefined ? 'added' : r.new === undefined ? 'removed' : 'changed';
    return `${r.change > 0 ? '+' : ''}${text(r.change, r.oldFloat || r.newFloat)}`;
  };
  return formatTable(
    ['file', 'key', oldLabel, 'new', 'change'],
    rows.map((r) => [r.file, r.key || '(whole file)', text(r.old, r.oldFloat), text(r.new, r.newFloat), change(r)]),
  );
}

export function formatShow(rows: DiffRow[]): string {
  if (rows.length === 0) return 'no metrics (declare files under `metrics:` in a stage and run it)';
  return formatTable(
    ['file', 'key', 'value'],
    rows.map((r) => [r.file, r.key || '(whole file)', cell(r.new)]),
  );
}

/** JSON for --json: {file: {key: {old, new, change?}}} (show: {file: {key: value}}). */
export function diffJson(rows: DiffRow[]): Record<string, Record<string, { old: unknown; new: unknown; change?: number }>> {
  const out: Record<string, Record<string, { old: unknown; new: unknown; change?: number }>> = {};
  for (const r of rows)
    (out[r.file] ??= {})[r.key] = { old: r.old ?? null, new: r.new ?? null, ...(r.change !== undefined ? { change: r.change } : {}) };
  return out;
}

/**
 * `diffJson` as JSON text, with float values written as DVC (Python's json) writes them: `1.0`
 * stays `1.0`. JSON.stringify has no way to say that, so marked floats go in as placeholders.
 */
export function diffJsonText(rows: DiffRow[]): string {
  const mark = '\u0001grow-float\u0001';
  const float = (v: unknown, is?: boolean) => (is && typeof v === 'number' && Number.isFinite(v) ? `${mark}${pythonFloat(v)}` : v);
  const marked = rows.map((r) => ({
    ...r,
    old: float(r.old, r.oldFloat),
    new: float(r.new, r.newFloat),
    change: float(r.change, r.oldFloat || r.newFloat) as number | undefined,
  }));
  return JSON.stringify(diffJson(marked), null, 2).replace(/"\\u0001grow-float\\u0001([^"]*)"/g, '$1');
}

export function showJson(rows: DiffRow[]): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const r of rows) {
    if (r.key === '')
      out[r.file] = r.new as Record<string, unknown>; // a bare-number file
    else (out[r.file] ??= {})[r.key] = r.new;
  }
  return out;
}
