/**
 * Helpers for the trust-boundary tests: a project nested two levels inside its own temp directory
 * (`<base>/a/proj`), so paths an attacker aims outside it (`../../x`, `<base>/a/victim`) still lie
 * inside the test's temp directory, and writers of poisoned cache content (objects named by the
 * md5 of their bytes, as any attacker can compute).
 */
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { writeFile } from './rig.ts';

export const md5 = (data: string | Buffer) => createHash('md5').update(data).digest('hex');

export interface Nest {
  base: string;
  proj: string;
}

/** `<base>/a/proj` holding `files`. */
export function nestedProject(files: Record<string, string>): Nest {
  const base = mkdtempSync(join(tmpdir(), 'grow-trust-'));
  const proj = join(base, 'a', 'proj');
  mkdirSync(proj, { recursive: true });
  for (const [rel, text] of Object.entries(files)) writeFile(proj, rel, text);
  return { base, proj };
}

/** Writes `data` as a cache object under its true md5 and returns its lock hash. */
export function putObject(cacheDir: string, data: string, dir = false): string {
  const hex = md5(data);
  const path = join(cacheDir, 'files', 'md5', hex.slice(0, 2), hex.slice(2) + (dir ? '.dir' : ''));
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, data);
  return `md5:${hex}${dir ? '.dir' : ''}`;
}

/** A directory manifest object with these entries, as an attacker would write it. */
export function putManifest(cacheDir: string, entries: { relpath: string; md5: string }[]): string {
  return putObject(cacheDir, JSON.stringify(entries), true);
}

/** Every run-cache entry file of a cache directory. */
export function runEntries(cacheDir: string): string[] {
  const runs = join(cacheDir, 'runs');
  const out: string[] = [];
  let subs: string[] = [];
  try {
    subs = readdirSync(runs);
  } catch {
    return out;
  }
  for (const sub of subs) for (const f of readdirSync(join(runs, sub))) if (f.endsWith('.json')) out.push(join(runs, sub, f));
  return out;
}

/** Rewrites a run-cache entry's JSON (entries are written read-write; objects are made 0444). */
export function editJson(path: string, edit: (x: Record<string, unknown>) => unknown): void {
  const x = JSON.parse(readFileSync(path, 'utf8')) as Record<string, unknown>;
  chmodSync(path, 0o644);
  writeFileSync(path, JSON.stringify(edit(x) ?? x));
}

/** True when the test runs as root (mount works, permission bits do not stop writes). */
export const isRoot = () => process.getuid?.() === 0;
