/**
 * Machine-dependent figures (wall time, TFLOP/s, memory, kernel milliseconds) kept apart from the
 * results. Every file the experiment writes keeps its deterministic fields where it is, and its
 * timing fields go to a mirror file under artifacts/timings/ (artifacts/models/s1/m0/train.json →
 * artifacts/timings/models/s1/m0/train.json). pipeline.yaml declares those mirrors
 * `verify: false`, so `grow verify` checks every result bit for bit and never a stopwatch.
 *
 * Readers merge the two back, so the analysis code sees one object as before.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';

/** Keys whose values depend on the machine and its load, wherever they appear. */
const TIMING_KEYS = new Set([
  'wall_s',
  'wall_ms',
  'ms_per_step',
  'peak_rss_mb',
  'peak_rss_bytes',
  'tflops_per_s',
  'm0_wall_s',
  'refine_wall_s_to_target',
  'saving_wall_refine_only',
  'small_wall_s',
  'kernels',
]);

type Json = unknown;

/**
 * Splits a JSON value into what stays (timing keys removed) and the timings (the same shape,
 * holding only timing keys; arrays keep their positions, with null where an item had none).
 * `undefined` timings: the value had none.
 */
export function splitTimings(value: Json): { kept: Json; timings: Json | undefined } {
  if (Array.isArray(value)) {
    const parts = value.map(splitTimings);
    const any = parts.some((p) => p.timings !== undefined);
    return { kept: parts.map((p) => p.kept), timings: any ? parts.map((p) => p.timings ?? null) : undefined };
  }
  if (value !== null && typeof value === 'object') {
    const kept: Record<string, Json> = {};
    const timings: Record<string, Json> = {};
    for (const [k, v] of Object.entries(value as Record<string, Json>)) {
      if (TIMING_KEYS.has(k)) {
        timings[k] = v;
        continue;
      }
      const p = splitTimings(v);
      kept[k] = p.kept;
      if (p.timings !== undefined) timings[k] = p.timings;
    }
    return { kept, timings: Object.keys(timings).length ? timings : undefined };
  }
  return { kept: value, timings: undefined };
}

/** The inverse of splitTimings: the timings laid back into the kept value (a new object). */
export function mergeTimings(kept: Json, timings: Json | undefined): Json {
  if (timings === undefined || timings === null) return kept;
  if (Array.isArray(kept) && Array.isArray(timings)) return kept.map((k, i) => mergeTimings(k, timings[i]));
  if (kept !== null && typeof kept === 'object' && typeof timings === 'object' && !Array.isArray(kept)) {
    const out: Record<string, Json> = { ...(kept as Record<string, Json>) };
    for (const [k, v] of Object.entries(timings as Record<string, Json>)) out[k] = k in out ? mergeTimings(out[k], v) : v;
    return out;
  }
  return kept;
}

/** The project root the experiment's paths are relative to. */
function projectRoot(): string {
  return resolve(process.env.GROW_ROOT ?? '.');
}

/**
 * The timings mirror of a file or directory under artifacts/ (absolute or root-relative):
 * artifacts/X → artifacts/timings/X, as an absolute path.
 */
export function timingsPath(path: string, root = projectRoot()): string {
  const abs = isAbsolute(path) ? path : resolve(root, path);
  const rel = relative(resolve(root, 'artifacts'), abs);
  if (rel.startsWith('..') || isAbsolute(rel)) throw new Error(`${path} is not under artifacts/; its timings have no place`);
  return join(root, 'artifacts', 'timings', rel);
}

/** The mirror, or null for a file outside the project's artifacts/ (left whole: a hand-run stage). */
function mirrorOf(file: string, root: string): string | null {
  try {
    return timingsPath(file, root);
  } catch {
    return null;
  }
}

/** Writes a JSON file's timing fields to its mirror and rewrites it without them. */
export function splitJsonFile(file: string, root = projectRoot()): void {
  const mirror = mirrorOf(file, root);
  if (!existsSync(file) || mirror === null) return;
  const { kept, timings } = splitTimings(JSON.parse(readFileSync(file, 'utf8')));
  writeFileSync(file, JSON.stringify(kept, null, 2) + '\n');
  if (timings === undefined) return;
  mkdirSync(dirname(mirror), { recursive: true });
  writeFileSync(mirror, JSON.stringify(timings, null, 2) + '\n');
}

/** The same for a JSON-lines file: the mirror has one line per line (null where it had none). */
export function splitJsonlFile(file: string, root = projectRoot()): void {
  const mirror = mirrorOf(file, root);
  if (!existsSync(file) || mirror === null) return;
  const lines = readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '');
  const parts = lines.map((l) => splitTimings(JSON.parse(l)));
  writeFileSync(file, parts.map((p) => JSON.stringify(p.kept)).join('\n') + (parts.length ? '\n' : ''));
  if (!parts.some((p) => p.timings !== undefined)) return;
  mkdirSync(dirname(mirror), { recursive: true });
  writeFileSync(mirror, parts.map((p) => JSON.stringify(p.timings ?? null)).join('\n') + '\n');
}

/** A JSON file with its timings merged back (when the mirror exists). */
export function readJsonWithTimings(file: string, root = projectRoot()): unknown {
  const kept = JSON.parse(readFileSync(file, 'utf8'));
  const mirror = mirrorOf(file, root);
  return mirror !== null && existsSync(mirror) ? mergeTimings(kept, JSON.parse(readFileSync(mirror, 'utf8'))) : kept;
}

/** The timing objects of a JSON-lines file's mirror, one per line (empty when there is none). */
export function readJsonlTimings(file: string, root = projectRoot()): (Record<string, unknown> | null)[] {
  const mirror = mirrorOf(file, root);
  if (mirror === null || !existsSync(mirror)) return [];
  return readFileSync(mirror, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown> | null);
}
