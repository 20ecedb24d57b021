/**
 * One opened project: the pipeline (spec), its graph, the runner config, the lock, the hash state,
 * the cache and run-cache. Every command starts here, so they all see the same facts the same way.
 */
import { existsSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { Cache } from '../store/cache.ts';
import { loadConfig, type RunnerConfig } from './config.ts';
import { GrowError } from '../errors.ts';
import { buildGraph } from '../plan/graph.ts';
import { Hasher, type HashInfo } from '../store/hash.ts';
import { LockStore, type LockDep, type LockEntry, type LockOut, type LockOverlays } from '../store/lockfile.ts';
import { RunCache } from '../store/run-cache.ts';
import { loadPipeline } from '../spec/index.ts';
import type { ParamsSource } from '../spec/params.ts';
import { HashState } from '../store/hash-state.ts';
import type { StageFacts } from '../plan/stale-reasons.ts';
import type { Pipeline, Stage } from '../types.ts';

export const PIPELINE_FILE = 'pipeline.yaml';
/**
 * A DVC project's pipeline file, read when a directory has no pipeline.yaml, so that a DVC project
 * runs with no edit. grow records its results in its own pipeline.lock: dvc.lock is never read or
 * written (its format and hashes are DVC's, and DVC must still find it as it left it).
 */
export const DVC_PIPELINE_FILE = 'dvc.yaml';

/** The pipeline file of a project root: pipeline.yaml, else dvc.yaml; undefined when neither. */
export function pipelineFileIn(dir: string): string | undefined {
  for (const f of [PIPELINE_FILE, DVC_PIPELINE_FILE]) if (existsSync(join(dir, f))) return f;
  return undefined;
}

export interface OpenOptions {
  /** Where to start looking for pipeline.yaml (default: the current directory). */
  cwd?: string;
  /** `--params FILE` overlays and `--set key=value` assignments. */
  overlays?: string[];
  set?: string[];
  /** Write nothing under .grow (the parsed-lock and spec parse caches included): `run --dry`. */
  readOnly?: boolean;
}

export type Graph = ReturnType<typeof buildGraph>;

/** The overlays as the lock records them: files project-relative with `/`, sets as given. */
export function runOverlays(root: string, opts: OpenOptions): LockOverlays {
  return {
    params: (opts.overlays ?? []).map((f) => relative(root, resolve(root, f)).split(sep).join('/')),
    set: [...(opts.set ?? [])],
  };
}

/** The nearest directory at or above `start` that holds pipeline.yaml (or a DVC project's dvc.yaml). */
export function findRoot(start: string): string {
  let dir = resolve(start);
  for (;;) {
    if (pipelineFileIn(dir)) return dir;
    const parent = dirname(dir);
    if (parent === dir) {
      throw new GrowError(
        `no ${PIPELINE_FILE} in ${resolve(start)} or any parent directory (nor a DVC project's ${DVC_PIPELINE_FILE})`,
        2,
        `run grow inside a project, or create ${PIPELINE_FILE} (see docs/cli.md)`,
      );
    }
    dir = parent;
  }
}

/** Warnings already printed by this process (watch mode reloads the pipeline many times). */
const warned = new Set<string>();

export class Project {
  readonly byName: Map<string, Stage>;

  private constructor(
    readonly root: string,
    readonly pipeline: Pipeline & { params: ParamsSource },
    readonly graph: Graph,
    readonly config: RunnerConfig,
    readonly lock: LockStore,
    readonly hasher: Hasher,
    readonly cache: Cache,
    readonly runCache: RunCache,
  ) {
    this.byName = new Map(pipeline.stages.map((s) => [s.name, s]));
  }

  static async open(opts: OpenOptions = {}): Promise<Project> {
    const root = findRoot(opts.cwd ?? process.cwd());
    const pipeline = await loadPipeline(root, {
      file: pipelineFileIn(root),
      overlays: opts.overlays,
      set: opts.set,
      writeParseCache: !opts.readOnly,
    });
    for (const w of pipeline.warnings ?? []) {
      if (warned.has(w)) continue;
      warned.add(w);
      process.stderr.write(`grow: warning: ${w}\n`);
    }
    const graph = buildGraph(pipeline);
    const config = loadConfig(root);
    const lock = new LockStore(
      root,
      pipeline.stages.map((s) => s.name),
      opts.readOnly,
      runOverlays(root, opts),
    );
    return new Project(
      root,
      pipeline,
      graph,
      config,
      lock,
      new Hasher(root, new HashState(root)),
      new Cache(config.cacheDir, root),
      new RunCache(config.cacheDir),
    );
  }

  stage(name: string): Stage {
    const s = this.byName.get(name);
    if (s) return s;
    const items = this.pipeline.stages.filter((x) => x.group === name).map((x) => x.name);
    if (items.length) throw new GrowError(`\`${name}\` is a group of stages; name one of them: ${items.join(', ')}`, 2);
    throw new GrowError(`no stage named \`${name}\``, 2, 'list the stages with `grow status` or `grow dag`');
  }

  /** Direct upstream stages of `name`. */
  upstream(name: string): string[] {
    return [...this.graph.upstream(name)];
  }

  /**
   * Hashes every dep and out and reads the listed params: everything status needs. `known`: hashes
   * this command already took of paths nothing has written since (an up-to-date upstream stage's
   * outs), used for deps of the same path instead of looking at every file again.
   */
  async facts(stage: Stage, known?: ReadonlyMap<string, HashInfo | null>): Promise<StageFacts> {
    const deps = new Map<string, HashInfo | null>();
    for (const d of stage.deps) deps.set(d, known?.has(d) ? known.get(d)! : await this.hasher.hash(d));
    const outs = new Map<string, HashInfo | null>();
    for (const o of stage.outs) outs.set(o.path, await this.hasher.hash(o.path));
    const params = this.pipeline.params;
    return {
      cmd: stage.cmd,
      deps,
      params: params.stageValues(stage),
      outs,
      paramOrigin: params.origin ? (f, k) => params.origin!(f, k) : undefined,
    };
  }

  /** True when some stage's out is `path` or contains it (so a missing dep may still be produced). */
  producedByAStage(path: string): boolean {
    return this.pipeline.stages.some((s) => s.outs.some((o) => path === o.path || path.startsWith(`${o.path}/`)));
  }

  /**
   * True when stages write `path` or something inside it: a dep on a directory that gathers
   * several stages' outs (`artifacts/models`) is made by those stages, so it need not exist
   * before the run and watch must not watch it.
   */
  writtenByStages(path: string): boolean {
    return (
      this.producedByAStage(path) || this.pipeline.stages.some((s) => s.outs.some((o) => path === '.' || o.path.startsWith(`${path}/`)))
    );
  }
}

export function lockDeps(facts: StageFacts): LockDep[] {
  return [...facts.deps].map(([path, info]) => ({
    path,
    hash: info?.hash ?? '',
    ...(info?.files !== undefined ? { files: info.files } : {}),
  }));
}

export function lockOut(path: string, info: HashInfo): LockOut {
  return { path, hash: info.hash, size: info.size, ...(info.files !== undefined ? { files: info.files } : {}) };
}

export function lockEntryFrom(facts: StageFacts, outs: LockOut[]): LockEntry {
  return { cmd: facts.cmd, deps: lockDeps(facts), params: facts.params, outs };
}
