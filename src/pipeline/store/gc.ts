/**
 * `grow gc`: keeps the cache bounded. Policy, in order:
 *  1. run-cache entries: per stage keep the `keepRuns` (default 20) most recently used; drop
 *     entries not used for `olderThanMs`;
 *  2. `maxSize`: while objects exceed it, drop further run-cache entries, least recently used first;
 *  3. objects: delete every object referenced neither by pipeline.lock nor by a kept run-cache
 *     entry. Objects the lock references are never deleted, whatever the size limit.
 * Leftover temp files from interrupted stores (older than an hour) and damaged run-cache entries
 * are removed too. Only names of the cache's own shape (`<2 hex>/<30 hex>[.dir]`, see trust.ts)
 * are ever considered, so a cache directory that also holds other files (`cache.dir: .`) loses
 * none of them; `dry` removes nothing at all.
 */
import { readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { INCOMING, type Cache } from './cache.ts';
import type { LockEntry } from './lockfile.ts';
import type { RunCache } from './run-cache.ts';
import { hashOfObjectName, OBJECT_NAME_RE, OBJECT_SUBDIR_RE, TEMP_INFIX } from './trust.ts';

export interface GcOptions {
  keepRuns?: number;
  olderThanMs?: number;
  maxSize?: number;
  dry?: boolean;
}

export interface GcResult {
  removedObjects: number;
  removedBytes: number;
  removedRuns: number;
  keptObjects: number;
  keptBytes: number;
}

export const DEFAULT_KEEP_RUNS = 20;

/** `2G`, `500M`, `1.5T`, `1024` (bytes). */
export function parseSize(text: string): number | null {
  const m = /^(\d+(?:\.\d+)?)\s*([KMGT]?)i?B?$/i.exec(text.trim());
  if (!m) return null;
  const mult = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 }[m[2].toUpperCase() as '' | 'K' | 'M' | 'G' | 'T'];
  return Math.round(Number(m[1]) * mult);
}

/** `30d`, `12h`, `90m`, `2w`. */
export function parseAge(text: string): number | null {
  const m = /^(\d+(?:\.\d+)?)\s*([mhdw])$/i.exec(text.trim());
  if (!m) return null;
  const unit = { m: 60e3, h: 3600e3, d: 86400e3, w: 7 * 86400e3 }[m[2].toLowerCase() as 'm' | 'h' | 'd' | 'w'];
  return Number(m[1]) * unit;
}

/** The cache's objects by hash, and its stale temp files (interrupted stores). */
function listObjects(dir: string): { objects: Map<string, { path: string; size: number }>; staleTemps: string[] } {
  const objects = new Map<string, { path: string; size: number }>();
  const staleTemps: string[] = [];
  let subs: string[];
  try {
    subs = readdirSync(dir);
  } catch {
    return { objects, staleTemps };
  }
  const hourAgo = Date.now() - 3600e3;
  for (const sub of subs) {
    // A store killed before it knew the file's hash (Cache.ingestFile).
    if (sub.startsWith(`${INCOMING}${TEMP_INFIX}`)) {
      try {
        if (statSync(join(dir, sub)).mtimeMs < hourAgo) staleTemps.push(join(dir, sub));
      } catch {
        /* gone meanwhile */
      }
      continue;
    }
    if (!OBJECT_SUBDIR_RE.test(sub)) continue;
    let names: string[];
    try {
      names = readdirSync(join(dir, sub));
    } catch {
      continue; // not a directory
    }
    for (const f of names) {
      const path = join(dir, sub, f);
      const tmpAt = f.indexOf(TEMP_INFIX);
      if (tmpAt !== -1) {
        if (OBJECT_NAME_RE.test(f.slice(0, tmpAt)) && statSync(path).mtimeMs < hourAgo) staleTemps.push(path);
        continue;
      }
      const hash = hashOfObjectName(sub, f);
      if (hash) objects.set(hash, { path, size: statSync(path).size });
    }
  }
  return { objects, staleTemps };
}

export function collectGarbage(cache: Cache, runCache: RunCache, lock: Iterable<LockEntry>, opts: GcOptions = {}): GcResult {
  const keepRuns = opts.keepRuns ?? DEFAULT_KEEP_RUNS;
  const { objects, staleTemps } = listObjects(cache.objectsDir);
  const refsOf = (hashes: string[]) => new Set(hashes.flatMap((h) => cache.referenced(h)));

  const pinned = refsOf([...lock].flatMap((e) => e.outs.map((o) => o.hash)));
  const listing = runCache.list();
  const runs = listing.entries.sort((a, b) => b.mtimeMs - a.mtimeMs); // most recently used first
  const perStage = new Map<string, number>();
  const kept: typeof runs = [];
  const dropped: typeof runs = [];
  for (const r of runs) {
    const n = (perStage.get(r.stage) ?? 0) + 1;
    perStage.set(r.stage, n);
    const tooOld = opts.olderThanMs !== undefined && Date.now() - r.mtimeMs > opts.olderThanMs;
    (n > keepRuns || tooOld ? dropped : kept).push(r);
  }

  const live = new Set(pinned);
  const sizeOf = (set: Set<string>) => [...set].reduce((s, h) => s + (objects.get(h)?.size ?? 0), 0);
  let liveBytes = sizeOf(live);
  const keptWithinSize: typeof runs = [];
  for (const r of kept) {
    const extra = [...refsOf(r.outs.map((o) => o.hash))].filter((h) => !live.has(h));
    const extraBytes = extra.reduce((s, h) => s + (objects.get(h)?.size ?? 0), 0);
    if (opts.maxSize !== undefined && liveBytes + extraBytes > opts.maxSize) {
      dropped.push(r);
      continue;
    }
    keptWithinSize.push(r);
    for (const h of extra) live.add(h);
    liveBytes += extraBytes;
  }

  const result: GcResult = { removedObjects: 0, removedBytes: 0, removedRuns: dropped.length, keptObjects: 0, keptBytes: 0 };
  for (const [hash, obj] of objects) {
    if (live.has(hash)) {
      result.keptObjects++;
      result.keptBytes += obj.size;
      continue;
    }
    result.removedObjects++;
    result.removedBytes += obj.size;
    if (!opts.dry) rmSync(obj.path, { force: true });
  }
  if (!opts.dry) {
    for (const r of dropped) rmSync(r.path, { force: true });
    for (const p of [...staleTemps, ...listing.damaged]) rmSync(p, { force: true });
  }
  return result;
}
