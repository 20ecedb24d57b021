/**
 * Runner settings that are not part of the pipeline: where the cache lives and which executor runs
 * stages by default. Read from `.growrc.yaml` (committed, shared by the team), then
 * `.grow/config.yaml` (local to this checkout, wins), then the environment (`GROW_CACHE_DIR`).
 *
 *   cache:
 *     dir: /shared/grow-cache   # relative paths are relative to the project root
 *   executor: local             # or slurm
 *   jobs: 4                     # default for -j
 */
import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { ConfigError } from '../errors.ts';
import { yaml } from '../yaml.ts';

export interface RunnerConfig {
  /** Absolute path of the content-addressed cache (objects and run-cache). */
  cacheDir: string;
  executor: 'local' | 'slurm';
  jobs?: number;
}

export const CONFIG_FILES = ['.growrc.yaml', '.grow/config.yaml'] as const;

interface RawConfig {
  cache?: { dir?: unknown };
  executor?: unknown;
  jobs?: unknown;
}

function readConfigFile(root: string, rel: string): RawConfig {
  const abs = join(root, rel);
  if (!existsSync(abs)) return {};
  const { LineCounter, parseDocument } = yaml();
  const lineCounter = new LineCounter();
  const doc = parseDocument(readFileSync(abs, 'utf8'), { lineCounter });
  if (doc.errors.length > 0) {
    const err = doc.errors[0];
    const pos = lineCounter.linePos(err.pos[0]);
    throw new ConfigError(rel, pos.line, pos.col, err.message.split('\n')[0], 'fix the YAML syntax');
  }
  const value = doc.toJS() ?? {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new ConfigError(rel, 1, 1, 'the top level must be a mapping', 'write e.g. `cache: {dir: .grow/cache}`');
  }
  return value as RawConfig;
}

export function loadConfig(root: string, env: NodeJS.ProcessEnv = process.env): RunnerConfig {
  const config: RunnerConfig = { cacheDir: join(root, '.grow', 'cache'), executor: 'local' };
  for (const rel of CONFIG_FILES) {
    const raw = readConfigFile(root, rel);
    if (raw.cache?.dir !== undefined) {
      if (typeof raw.cache.dir !== 'string') throw new ConfigError(rel, undefined, undefined, '`cache.dir` must be a path');
      config.cacheDir = isAbsolute(raw.cache.dir) ? raw.cache.dir : resolve(root, raw.cache.dir);
    }
    if (raw.executor !== undefined) {
      if (raw.executor !== 'local' && raw.executor !== 'slurm') {
        throw new ConfigError(rel, undefined, undefined, '`executor` must be `local` or `slurm`');
      }
      config.executor = raw.executor;
    }
    if (raw.jobs !== undefined) {
      if (!Number.isInteger(raw.jobs) || (raw.jobs as number) < 1) {
        throw new ConfigError(rel, undefined, undefined, '`jobs` must be a positive integer');
      }
      config.jobs = raw.jobs as number;
    }
  }
  if (env.GROW_CACHE_DIR) config.cacheDir = resolve(root, env.GROW_CACHE_DIR);
  return config;
}
