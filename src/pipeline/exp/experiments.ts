/**
 * Experiments: every `grow run` leaves a record of what it produced, so runs can be listed,
 * compared, restored and kept by `grow gc`. One JSON file per experiment:
 *
 *   .grow/exps/<name>.json  {schema, name, time, commit, overlays: {params, set}, params, changed,
 *                            metrics, lock}
 *
 * `params` holds every params value the stages list (flattened to dotted keys, per file), `changed`
 * the keys whose value differs from the params files alone (what the overlays changed), `metrics`
 * the scalar values of the metrics files, `lock` the text of pipeline.lock the run left.
 *
 * Everything under .grow/ is read back as untrusted input: a record is used only after its shape
 * is checked, a name is a plain file name, and out paths from a recorded lock are used only when
 * the current pipeline declares them.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { EXIT, GrowError } from '../errors.ts';
import { yaml } from '../yaml.ts';
import { writeFileAtomic } from '../../util/atomic-write.ts';
import { flatten, metricsFiles } from '../show/diff.ts';
import { LOCK_FILE, parseLock, type LockEntry } from '../store/lockfile.ts';
import type { Project } from '../project/project.ts';
import { FileParams } from '../spec/params.ts';
import { canonicalJson } from '../plan/stale-reasons.ts';

export const EXP_DIR = join('.grow', 'exps');
export const EXP_SCHEMA = 1;

/** A name is used as a file name: letters, digits, `.`, `_`, `-`; not starting with `.` or `-`. */
export const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

export type Scalar = string | number | boolean | null;

export interface Experiment {
  schema: number;
  name: string;
  /** ISO 8601, when the run ended. */
  time: string;
  /** HEAD of the git repository the project is in, when there is one. */
  commit: string | null;
  overlays: { params: string[]; set: string[] };
  /** file → dotted key → value: every params value a stage lists. */
  params: Record<string, Record<string, unknown>>;
  /** file → keys whose value differs from the params files without overlays. */
  changed: Record<string, string[]>;
  /** metrics file → dotted key → scalar value. */
  metrics: Record<string, Record<string, Scalar>>;
  /** pipeline.lock as the run left it. */
  lock: string;
}

export function expDir(root: string): string {
  return join(root, EXP_DIR);
}

function expPath(root: string, name: string): string {
  return join(expDir(root), `${name}.json`);
}

/** A usage error unless `name` can be an experiment's name. */
export function checkName(name: string): void {
  if (!NAME_RE.test(name)) {
    throw new GrowError(
      `\`${name}\` is not a valid experiment name`,
      EXIT.usage,
      'use letters, digits, `.`, `_` and `-` (at most 100 characters, not starting with `.` or `-`), e.g. --name lr-0.01',
    );
  }
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStringList = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');
const isScalar = (v: unknown): v is Scalar => v === null || ['string', 'number', 'boolean'].includes(typeof v);

/** The record if `data` has the shape of one named `name`, else why not. */
export function validateExperiment(data: unknown, name: string): Experiment | string {
  if (!isRecord(data)) return 'not a JSON object';
  if (data.schema !== EXP_SCHEMA) return `unsupported schema ${JSON.stringify(data.schema)} (this grow reads ${EXP_SCHEMA})`;
  if (data.name !== name) return `its name ${JSON.stringify(data.name)} does not match the file name`;
  if (typeof data.time !== 'string' || Number.isNaN(Date.parse(data.time))) return '`time` is not a date';
  if (data.commit !== null && !(typeof data.commit === 'string' && /^[0-9a-f]{7,64}$/.test(data.commit)))
    return '`commit` is not a commit id';
  const o = data.overlays;
  if (!isRecord(o) || !isStringList(o.params) || !isStringList(o.set)) return '`overlays` must be {params: [...], set: [...]}';
  if (!isRecord(data.params) || !Object.values(data.params).every(isRecord)) return '`params` must map each file to its values';
  if (!isRecord(data.changed) || !Object.values(data.changed).every(isStringList)) return '`changed` must map each file to a list of keys';
  if (!isRecord(data.metrics) || !Object.values(data.metrics).every((m) => isRecord(m) && Object.values(m).every(isScalar))) {
    return '`metrics` must map each file to scalar values';
  }
  if (typeof data.lock !== 'string') return '`lock` must be the text of pipeline.lock';
  return data as unknown as Experiment;
}

function readExperiment(root: string, name: string): Experiment | string {
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(expPath(root, name), 'utf8'));
  } catch (e) {
    return `cannot be read (${(e as Error).message.split('\n')[0]})`;
  }
  return validateExperiment(data, name);
}

export interface ExperimentList {
  experiments: Experiment[];
  /** Files under .grow/exps that are not valid records: path → why (they are ignored). */
  ignored: Map<string, string>;
}

/** Every valid record, oldest first. */
export function listExperiments(root: string): ExperimentList {
  const dir = expDir(root);
  const result: ExperimentList = { experiments: [], ignored: new Map() };
  if (!existsSync(dir)) return result;
  for (const f of readdirSync(dir).sort()) {
    if (!f.endsWith('.json') || f.includes('.tmp-')) continue;
    const name = f.slice(0, -5);
    const rel = join(EXP_DIR, f);
    if (!NAME_RE.test(name)) {
      result.ignored.set(rel, 'its file name is not a valid experiment name');
      continue;
    }
    const e = readExperiment(root, name);
    if (typeof e === 'string') result.ignored.set(rel, e);
    else result.experiments.push(e);
  }
  result.experiments.sort((a, b) => Date.parse(a.time) - Date.parse(b.time) || (a.name < b.name ? -1 : 1));
  return result;
}

/** One experiment by name; a clear error when it does not exist or its record is damaged. */
export function getExperiment(root: string, name: string): Experiment {
  checkName(name);
  if (!existsSync(expPath(root, name))) {
    const names = listExperiments(root).experiments.map((e) => e.name);
    throw new GrowError(
      `no experiment named \`${name}\``,
      EXIT.usage,
      names.length
        ? `the experiments are: ${names.slice(-10).join(', ')} (see \`grow exp show\`)`
        : 'every `grow run` records one; see `grow exp show`',
    );
  }
  const e = readExperiment(root, name);
  if (typeof e === 'string') {
    throw new GrowError(`${join(EXP_DIR, `${name}.json`)}: ${e}`, EXIT.usage, `remove it with \`grow exp remove ${name}\``);
  }
  return e;
}

/** The lock entries an experiment recorded; a clear error when the recorded text is not a valid lock. */
export function experimentLock(e: Experiment): Map<string, LockEntry> {
  try {
    return parseLock(e.lock, join(EXP_DIR, `${e.name}.json`));
  } catch (err) {
    if (err instanceof GrowError) {
      throw new GrowError(
        `experiment \`${e.name}\`: its recorded pipeline.lock is invalid (${err.message})`,
        EXIT.usage,
        `remove it with \`grow exp remove ${e.name}\``,
      );
    }
    throw err;
  }
}

/**
 * The lock entries of every valid experiment, for `grow gc` to keep their objects. A record whose
 * lock does not parse protects nothing (it could not be applied either).
 */
export function experimentLockEntries(root: string): LockEntry[] {
  const entries: LockEntry[] = [];
  for (const e of listExperiments(root).experiments) {
    try {
      entries.push(...parseLock(e.lock).values());
    } catch {
      /* ignored, as above */
    }
  }
  return entries;
}

export function removeExperiment(root: string, name: string): void {
  getExperiment(root, name);
  rmSync(expPath(root, name), { force: true });
}

function gitHead(root: string): string | null {
  try {
    const out = execFileSync('git', ['rev-parse', '--verify', '--quiet', 'HEAD'], { cwd: root, stdio: 'pipe', encoding: 'utf8' }).trim();
    return /^[0-9a-f]{7,64}$/.test(out) ? out : null;
  } catch {
    return null;
  }
}

/** A whole-file or mapping value becomes one dotted key per leaf, so tables can show each. */
function flatParams(values: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(values)) {
    if (v && typeof v === 'object' && !Array.isArray(v)) Object.assign(out, flatten(v, key));
    else out[key] = v;
  }
  return out;
}

/** Every params value the stages list, flattened, per file. */
export function projectParams(project: Project): Record<string, Record<string, unknown>> {
  const params: Record<string, Record<string, unknown>> = {};
  for (const s of project.pipeline.stages) {
    for (const [file, values] of Object.entries(project.pipeline.params.stageValues(s))) {
      Object.assign((params[file] ??= {}), flatParams(values));
    }
  }
  return params;
}

/** The same values read from the params files alone (no `--params`, no `--set`). */
function defaultParams(project: Project): Record<string, Record<string, unknown>> | undefined {
  const source = project.pipeline.params;
  if (!(source instanceof FileParams)) return undefined;
  const plain = new FileParams(project.root, source.defaultFile);
  const params: Record<string, Record<string, unknown>> = {};
  for (const s of project.pipeline.stages) {
    for (const [file, values] of Object.entries(project.pipeline.params.stageValues(s))) {
      for (const key of Object.keys(values)) {
        let v: unknown;
        try {
          v = key === '' ? plain.tree(file) : plain.value(file, key);
        } catch {
          continue; // a key only an overlay adds: absent by default
        }
        Object.assign((params[file] ??= {}), flatParams({ [key]: v }));
      }
    }
  }
  return params;
}

function changedKeys(
  now: Record<string, Record<string, unknown>>,
  defaults: Record<string, Record<string, unknown>> | undefined,
): Record<string, string[]> {
  const changed: Record<string, string[]> = {};
  if (!defaults) return changed;
  for (const [file, values] of Object.entries(now)) {
    const keys = Object.keys(values)
      .filter((k) => canonicalJson(values[k]) !== canonicalJson(defaults[file]?.[k]))
      .sort();
    if (keys.length) changed[file] = keys;
  }
  return changed;
}

/** The scalar values of every metrics file in the workspace; unreadable files are left out. */
export function projectMetrics(project: Project): Record<string, Record<string, Scalar>> {
  const metrics: Record<string, Record<string, Scalar>> = {};
  for (const file of metricsFiles(project)) {
    const path = join(project.root, file);
    if (!existsSync(path)) continue;
    let flat: Record<string, unknown>;
    try {
      const text = readFileSync(path, 'utf8');
      flat = flatten(file.endsWith('.json') ? JSON.parse(text) : yaml().parse(text));
    } catch {
      continue;
    }
    const scalars = Object.entries(flat).filter((kv): kv is [string, Scalar] => isScalar(kv[1]));
    if (scalars.length) metrics[file] = Object.fromEntries(scalars);
  }
  return metrics;
}

const ADJECTIVES = [
  'amber',
  'brisk',
  'calm',
  'deft',
  'eager',
  'fair',
  'glad',
  'hale',
  'keen',
  'lucid',
  'merry',
  'noble',
  'proud',
  'quick',
  'rapid',
  'sunny',
  'tidy',
  'vivid',
  'warm',
  'zesty',
];
const NOUNS = [
  'alder',
  'birch',
  'cedar',
  'delta',
  'ember',
  'fjord',
  'grove',
  'heron',
  'inlet',
  'juniper',
  'kestrel',
  'larch',
  'maple',
  'nectar',
  'osprey',
  'pine',
  'quartz',
  'river',
  'spruce',
  'tern',
];

/** An unused `adjective-noun` name (a counter is appended once those run out). */
export function generateName(root: string): string {
  const taken = (n: string) => existsSync(expPath(root, n));
  for (let i = 0; i < 50; i++) {
    const n = `${ADJECTIVES[Math.floor(Math.random() * ADJECTIVES.length)]}-${NOUNS[Math.floor(Math.random() * NOUNS.length)]}`;
    if (!taken(n)) return n;
  }
  for (let i = 2; ; i++) {
    const n = `exp-${i}`;
    if (!taken(n)) return n;
  }
}

/** The most recently written valid record (by file time: reads one record, not all). */
function latestExperiment(root: string): Experiment | undefined {
  const dir = expDir(root);
  if (!existsSync(dir)) return undefined;
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.json') && !f.includes('.tmp-') && NAME_RE.test(f.slice(0, -5)))
    .map((f) => ({ f, t: statSync(join(dir, f)).mtimeMs }))
    .sort((a, b) => b.t - a.t);
  for (const { f } of files) {
    const e = readExperiment(root, f.slice(0, -5));
    if (typeof e !== 'string') return e;
  }
  return undefined;
}

/** A usage error unless `name` is valid and not taken: checked before a run starts. */
export function checkNewName(root: string, name: string): void {
  checkName(name);
  if (existsSync(expPath(root, name))) {
    throw new GrowError(
      `an experiment named \`${name}\` exists already`,
      EXIT.usage,
      `choose another --name, or remove the old one first with \`grow exp remove ${name}\``,
    );
  }
}

export interface RecordOptions {
  /** The project whose .grow/exps gets the record (default: `project`'s; a sweep point's copy records into the original). */
  into?: string;
  name?: string;
  overlays?: string[];
  set?: string[];
}

/**
 * Records the run that just ended. Without a name, a run that left the same lock under the same
 * overlays as the latest experiment (nothing ran, nothing changed) adds no new record. Returns the
 * record written, or undefined when none was.
 */
export function recordExperiment(project: Project, opts: RecordOptions): Experiment | undefined {
  const lockPath = join(project.root, LOCK_FILE);
  const lock = existsSync(lockPath) ? readFileSync(lockPath, 'utf8') : '';
  const overlays = { params: [...(opts.overlays ?? [])], set: [...(opts.set ?? [])] };
  if (opts.name === undefined) {
    const latest = latestExperiment(project.root);
    if (latest && latest.lock === lock && canonicalJson(latest.overlays) === canonicalJson(overlays)) return undefined;
  }
  const into = opts.into ?? project.root;
  const name = opts.name ?? generateName(into);
  const params = projectParams(project);
  const e: Experiment = {
    schema: EXP_SCHEMA,
    name,
    time: new Date().toISOString(),
    commit: gitHead(into),
    overlays,
    params,
    changed: changedKeys(params, defaultParams(project)),
    metrics: projectMetrics(project),
    lock,
  };
  writeFileAtomic(expPath(into, name), `${JSON.stringify(e, null, 1)}\n`);
  return e;
}

export interface ApplyResult {
  restored: string[];
  unchanged: string[];
}

/**
 * Makes an experiment's results current: restores the outs its lock records from the cache and
 * writes that lock as pipeline.lock. Runs nothing. Every object is checked first, so a missing one
 * fails before any file changes.
 */
export async function applyExperiment(project: Project, e: Experiment): Promise<ApplyResult> {
  const entries = experimentLock(e);
  const plan: { path: string; hash: string }[] = [];
  const missing: string[] = [];
  for (const [stageName, entry] of entries) {
    const stage = project.byName.get(stageName);
    if (!stage) continue; // a stage no longer in the pipeline: nothing of it to restore
    for (const o of entry.outs) {
      // A recorded path is used only when the current pipeline declares it as an out of that stage.
      const spec = stage.outs.find((d) => d.path === o.path);
      if (!spec) continue;
      const now = await project.hasher.hash(o.path);
      if (now?.hash === o.hash) {
        plan.push({ path: o.path, hash: '' });
        continue;
      }
      // Resume scratch (persist, not cached) is never restored, as in a run-cache restore.
      if (!spec.cache && spec.persist) continue;
      if (!spec.cache || !(await project.cache.has(o.hash))) missing.push(`${o.path} (stage \`${stageName}\`)`);
      else plan.push({ path: o.path, hash: o.hash });
    }
  }
  if (missing.length) {
    throw new GrowError(
      `cannot apply experiment \`${e.name}\`: not in the cache: ${missing.join(', ')}`,
      EXIT.stageFailed,
      `\`grow gc\` or a \`cache: false\` out removed them; re-create them with \`grow run\` under the same params (see \`grow exp show\`)`,
    );
  }
  const result: ApplyResult = { restored: [], unchanged: [] };
  for (const p of plan) {
    if (!p.hash) {
      result.unchanged.push(p.path);
      continue;
    }
    await project.cache.restore(join(project.root, p.path), p.hash);
    result.restored.push(p.path);
  }
  writeFileAtomic(join(project.root, LOCK_FILE), e.lock);
  project.hasher.save();
  return result;
}
