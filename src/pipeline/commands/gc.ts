/** `grow gc`: remove cache objects nothing references any more. */
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { EXIT, GrowError } from '../errors.ts';
import { experimentLockEntries } from '../exp/experiments.ts';
import { collectGarbage, DEFAULT_KEEP_RUNS, parseAge, parseSize } from '../store/gc.ts';
import { acquireProcessLock } from '../run/runner-mutex.ts';
import { Project } from '../project/project.ts';
import { err, nonNegativeInt, out } from './options.ts';

interface GcFlags {
  keepRuns?: number;
  olderThan?: number;
  maxSize?: number;
  dry?: boolean;
  force?: boolean;
}

export function registerGc(program: Command): void {
  program
    .command('gc')
    .description('remove cache objects that neither pipeline.lock, an experiment nor a kept run-cache entry references')
    .option(
      '--keep-runs <n>',
      `run-cache entries kept per stage, most recently used first (default ${DEFAULT_KEEP_RUNS})`,
      nonNegativeInt(),
    )
    .option('--older-than <age>', 'also drop run-cache entries unused for this long: 30d, 12h, 2w, 90m', (v) => {
      const ms = parseAge(v);
      if (ms === null) throw new InvalidArgumentError('expected an age such as 30d, 12h, 2w or 90m');
      return ms;
    })
    .option(
      '--max-size <size>',
      'drop least recently used run-cache entries until the cache fits: 2G, 500M (lock outs are always kept)',
      (v) => {
        const n = parseSize(v);
        if (n === null) throw new InvalidArgumentError('expected a size such as 2G or 500M');
        return n;
      },
    )
    .option('--dry', 'print what would be removed; remove nothing')
    .option('-f, --force', 'proceed on a shared cache (GROW_CACHE_DIR, or cache.dir outside the project)')
    .addHelpText(
      'after',
      `
A shared cache (GROW_CACHE_DIR, or cache.dir outside the project) also holds other clones' objects,
which this project's lock does not protect: gc then warns and removes nothing without --force.
Policy: objects referenced by pipeline.lock are never removed. Run-cache entries are kept per stage
(the --keep-runs most recently used), minus those older than --older-than, minus the least recently
used ones while the cache exceeds --max-size; then every object no kept entry references is removed.
Examples:
  grow gc
  grow gc --keep-runs 5 --older-than 30d
  grow gc --max-size 2G --dry`,
    )
    .action(gcCommand);
}

async function gcCommand(flags: GcFlags): Promise<void> {
  const project = await Project.open();
  const shared = sharedCacheSource(project.root, project.config.cacheDir);
  if (shared) {
    // gc only knows this clone's lock: objects other clones' locks need would look unreferenced.
    err(
      `grow: warning: the cache ${project.config.cacheDir} is shared (${shared}); gc keeps only what this project's pipeline.lock and kept run-cache entries reference, so objects other clones still need may be removed`,
    );
    if (!flags.force && !flags.dry) {
      throw new GrowError(
        'refusing to collect garbage in a shared cache without --force',
        EXIT.usage,
        'run `grow gc --dry` to see what would go, then `grow gc --force` if no other clone needs it',
      );
    }
  }
  const lock = acquireProcessLock(project.root);
  try {
    // Experiments' results are kept like the lock's, so `grow exp apply` can restore them.
    const keep = [...project.lock.entries().values(), ...experimentLockEntries(project.root)];
    const r = collectGarbage(project.cache, project.runCache, keep, {
      keepRuns: flags.keepRuns,
      olderThanMs: flags.olderThan,
      maxSize: flags.maxSize,
      dry: flags.dry,
    });
    const mb = (b: number) => `${(b / 1024 ** 2).toFixed(1)} MB`;
    out(
      `${flags.dry ? 'would remove' : 'removed'} ${r.removedObjects} objects (${mb(r.removedBytes)}) and ${r.removedRuns} run-cache entries; kept ${r.keptObjects} objects (${mb(r.keptBytes)})`,
    );
  } finally {
    lock.release();
  }
}

/**
 * Why the project's cache counts as shared with other clones, or undefined when it is the project's
 * own: set through GROW_CACHE_DIR, or a cache.dir outside the project root.
 */
function sharedCacheSource(root: string, cacheDir: string): string | undefined {
  if (process.env.GROW_CACHE_DIR && resolve(cacheDir) !== join(root, '.grow', 'cache')) return 'set by GROW_CACHE_DIR';
  const rel = relative(root, cacheDir);
  if (rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) return 'cache.dir lies outside the project';
  return undefined;
}
