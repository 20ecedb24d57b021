/**
 * `grow run`: decide and execute. Stages are visited in dependency order; a stage is checked only
 * once everything upstream has settled, so its dep hashes are the real ones (early cut-off: an
 * upstream re-run that produced byte-identical outs leaves its dependents up to date). Stale
 * stages are restored from the run-cache when their exact inputs ran before, else executed —
 * independent ones in parallel, bounded by `jobs` and by cpu and GPU tokens (resources.ts).
 *
 * Cancellation: abort `signal` and no new stage starts; running ones are killed (process group),
 * stages that finished are already recorded in the lock. `runPipeline` is also what watch mode
 * calls, with two hooks: `stageSignal` stops single stages, `shouldSkip` vetoes a stage at the
 * moment it is considered.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join, relative } from 'node:path';
import { EXIT, GrowError } from '../errors.ts';
import { ExecutorPool, type ExecutorName } from './executors/index.ts';
import type { HashInfo } from '../store/hash.ts';
import { ProgressTracker, parseProgressLine } from './progress.ts';
import { detectGpus, GpuPool, Tokens } from './resources.ts';
import { lockEntryFrom, lockOut, Project, type OpenOptions } from '../project/project.ts';
import { runSignature } from '../store/run-cache.ts';
import { staleReasons, type StageFacts } from '../plan/stale-reasons.ts';
import { selectTargets, withoutAboveFrozen } from '../plan/graph.ts';
import type { LockOut } from '../store/lockfile.ts';
import { lockDeps } from '../project/project.ts';
import type { OutSpec, Stage } from '../types.ts';
import { PARAMS_FILE_ENV, paramsSnapshotText } from '../spec/params.ts';
import { tempPathFor } from '../../util/atomic-write.ts';
import { silentReporter, type Reporter, type RunSummary, type StageReport } from './events.ts';

export interface RunOptions extends OpenOptions {
  targets?: string[];
  force?: boolean;
  /**
   * Run a stage whenever a stage upstream of it ran in this run (`--force-downstream`), even if
   * its own inputs came out byte-identical: early cut-off is switched off below a stage that ran.
   */
  forceDownstream?: boolean;
  downstream?: boolean;
  singleItem?: boolean;
  dry?: boolean;
  /** Local stages at once (`-j`); when given, also the default bound on Slurm submissions. */
  jobs?: number;
  /** Slurm jobs submitted at once (`--slurm-jobs`); default `jobs` if given, else DEFAULT_SLURM_JOBS. */
  slurmJobs?: number;
  keepGoing?: boolean;
  /** false: never restore from the run-cache (`--no-run-cache`). */
  runCache?: boolean;
  executor?: ExecutorName;
  signal?: AbortSignal;
  reporter?: Reporter;
  /** An already opened project (watch mode re-uses one); else opened from `cwd`. */
  project?: Project;
  /**
   * Per-stage cancellation (watch mode): called as a stage is about to start; aborting the signal
   * it returns stops only that stage (its process group, as for `signal`), which ends
   * `cancelled` while the rest of the run goes on; its dependents are skipped (`blockedBy`).
   */
  stageSignal?: (stage: Stage) => AbortSignal | undefined;
  /**
   * Asked when a stale stage is considered, after everything upstream settled (so early cut-off
   * already applied): return a reason to skip it instead of restoring or running it. Watch mode
   * uses it to not retry a failed stage whose inputs (`signature`) are those it failed with.
   */
  shouldSkip?: (stage: Stage, inputs: { signature: string; reasons: string[] }) => string | undefined;
}

const LOG_TAIL_LINES = 20;

/**
 * Concurrent Slurm submissions when neither `--slurm-jobs` nor `-j` says otherwise. A submitted
 * job only waits in the cluster's queue (it takes no local core), so the local core count — the
 * default for `-j` — would leave a cluster idle; the scheduler of the cluster does the real limiting.
 */
export const DEFAULT_SLURM_JOBS = 32;

/** A stage name as part of a file name: `@` is kept, and matrix keys may contain anything else (replaced). */
function fileSafe(stage: string): string {
  return stage.replace(/[^A-Za-z0-9._@=+-]/g, '_');
}

export function logFileFor(root: string, stage: string): string {
  return join(root, '.grow', 'logs', `${fileSafe(stage)}.log`);
}

function tail(file: string, n: number): string {
  if (!existsSync(file)) return '';
  const lines = readFileSync(file, 'utf8').replace(/\n$/, '').split('\n');
  return lines.slice(-n).join('\n');
}

export async function runPipeline(opts: RunOptions = {}): Promise<RunSummary> {
  const project = opts.project ?? (await Project.open(opts));
  const stages = selectStages(project, opts);
  preflight(project, stages);
  const run = new Run(project, stages, opts);
  return run.all();
}

/** The stages the targets and flags select, in dependency order. */
function selectStages(project: Project, opts: RunOptions): Stage[] {
  const targets = opts.targets ?? [];
  const picked = selectTargets(project.pipeline, project.graph, targets, {
    downstream: opts.downstream ?? false,
    singleItem: opts.singleItem ?? false,
  });
  // `--downstream`/`--single-item` never walk upstream, so there is nothing above a frozen stage to cut.
  const names = opts.downstream || opts.singleItem ? picked : withoutAboveFrozen(project.pipeline, project.graph, targets, picked);
  return names.map((n) => project.stage(n));
}

/**
 * Problems a user must fix before anything runs: params (spec throws naming file and key) and
 * deps that exist nowhere and that no stage produces.
 */
function preflight(project: Project, stages: Stage[]): void {
  for (const s of stages) {
    project.pipeline.params.stageValues(s);
    for (const d of s.deps) {
      if (!existsSync(join(project.root, d)) && !project.writtenByStages(d)) {
        throw new GrowError(
          `stage \`${s.name}\`: dep \`${d}\` does not exist and no stage produces it`,
          EXIT.usage,
          `create ${d}, fix the path in ${project.pipeline.file}, or add a stage that lists it in its outs`,
        );
      }
    }
  }
}

/** A stale stage that is to be restored or run: what `decide` found out about it. */
interface Stale {
  facts: StageFacts;
  reasons: string[];
  /** --force, or --force-downstream below a stage that ran: run it, never restore it. */
  forced: boolean;
  /** The run-cache key of its inputs. */
  signature: string;
  started: number;
}

/** The slots a stage holds while it runs (given back when it ends). */
interface Slots {
  jobs: Tokens;
  cpus: number;
  /** GPU tokens taken, and the device ids they gave (none on a machine without GPUs). */
  gpus: number;
  gpuIds: string[];
}

/**
 * One `grow run`. Each selected stage goes through the same named steps, in order, and the first
 * step that settles it ends its visit:
 *
 *   wait      for its upstream stages (skipped or cancelled when one of them did not succeed)
 *   decide    up to date, frozen, a dry-run plan, or stale — with its reasons and signature
 *   restore   its outs from the run-cache, when these exact inputs ran before
 *   execute   its command, holding job, cpu and GPU slots
 *   record    its outs into the cache, the run-cache and the lock
 */
class Run {
  private readonly reporter: Reporter;
  private readonly reports = new Map<string, StageReport>();
  private readonly settled = new Map<string, Promise<StageReport>>();
  /** The outs of the stages found up to date, as hashed then (see decide). */
  private readonly unchangedOuts = new Map<string, HashInfo | null>();
  private readonly selected: Set<string>;
  // Two pools of job slots: local stages share this machine, Slurm stages only a queue.
  private readonly localJobs: Tokens;
  private readonly slurmJobs: Tokens;
  private readonly cpus = new Tokens(availableParallelism());
  private readonly gpus = new GpuPool(detectGpus());
  private readonly executors: ExecutorPool;
  private readonly overrides: Record<string, unknown>;
  /** The first failure, when not --keep-going: no stage starts after it. */
  private stopAfter: string | undefined;

  constructor(
    private readonly project: Project,
    private readonly stages: Stage[],
    private readonly opts: RunOptions,
  ) {
    this.reporter = opts.reporter ?? silentReporter;
    this.selected = new Set(stages.map((s) => s.name));
    this.localJobs = new Tokens(Math.max(1, opts.jobs ?? project.config.jobs ?? availableParallelism()));
    this.slurmJobs = new Tokens(Math.max(1, opts.slurmJobs ?? opts.jobs ?? DEFAULT_SLURM_JOBS));
    this.executors = new ExecutorPool(project.root, opts.executor, project.config.executor);
    this.overrides = project.pipeline.params.overrides();
  }

  /** Visits every stage at once (each waits for its own upstream), then saves the caches. */
  async all(): Promise<RunSummary> {
    this.reporter.start(this.stages);
    for (const s of this.stages) this.settled.set(s.name, this.visitSafely(s));
    try {
      await Promise.all(this.settled.values());
    } finally {
      this.saveCaches();
      await this.reporter.finish();
    }
    const list = this.stages.map((s) => this.reports.get(s.name)!);
    const exitCode =
      list.some((r) => r.outcome === 'cancelled') || this.aborted()
        ? EXIT.interrupted
        : list.some((r) => r.outcome === 'failed')
          ? EXIT.stageFailed
          : EXIT.ok;
    return { stages: list, exitCode };
  }

  private async visit(stage: Stage): Promise<StageReport> {
    const ups = await this.waitForUpstream(stage);
    const ended = this.stopped(stage, ups);
    if (ended) return this.finish(ended);
    const decision = await this.decide(stage, ups);
    if ('outcome' in decision) return this.finish(decision);
    const restored = await this.restore(stage, decision);
    if (restored) return this.finish(restored);
    return this.execute(stage, decision);
  }

  // An unexpected error in one stage (a file that cannot be read, an executor that cannot load)
  // fails that stage like a failing command would, instead of abandoning stages still running.
  private visitSafely(stage: Stage): Promise<StageReport> {
    return this.visit(stage).catch((e: unknown) => {
      const hint = e instanceof GrowError && e.hint ? `\nhint: ${e.hint}` : '';
      return this.fail(stage, [], `${(e as Error).message}${hint}`, Date.now());
    });
  }

  /** wait: the reports of the selected stages upstream, once all of them settled. */
  private waitForUpstream(stage: Stage): Promise<StageReport[]> {
    const ups = this.project.upstream(stage.name).filter((u) => this.selected.has(u));
    return Promise.all(ups.map((u) => this.settled.get(u)!));
  }

  /** Why the stage must not go on at all: an upstream stage did not succeed, or the run is stopping. */
  private stopped(stage: Stage, ups: StageReport[]): StageReport | undefined {
    const blocked = ups.find((r) => ['failed', 'skipped', 'cancelled'].includes(r.outcome));
    if (blocked)
      return {
        name: stage.name,
        outcome: 'skipped',
        reasons: [],
        message: `upstream \`${blocked.name}\` ${blocked.outcome}`,
        blockedBy: blocked.name,
      };
    if (this.aborted()) return { name: stage.name, outcome: 'cancelled', reasons: [] };
    if (this.stopAfter)
      return { name: stage.name, outcome: 'skipped', reasons: [], message: `the run stopped after \`${this.stopAfter}\` failed` };
    return undefined;
  }

  /**
   * decide: settled here (up to date, frozen, a dry-run plan, vetoed by `shouldSkip`), or stale
   * with the reasons and the signature of its inputs. Runs after everything upstream settled, so
   * the dep hashes are the real ones (early cut-off).
   */
  private async decide(stage: Stage, ups: StageReport[]): Promise<StageReport | Stale> {
    const { project, opts } = this;
    const facts = await project.facts(stage, this.unchangedOuts);
    const reasons = staleReasons(stage, project.lock.get(stage.name), facts);
    if (opts.dry) {
      // Planning only: an upstream that would run makes this stage run too (at run time early
      // cut-off may still spare it).
      const up = ups.find((r) => r.outcome === 'would run' || r.outcome === 'would restore');
      if (up && reasons[0] !== 'never run') reasons.push(`upstream ${up.name} will re-run`);
    }
    if (stage.frozen) return { name: stage.name, outcome: 'frozen', reasons };
    if (opts.force) reasons.unshift('forced');
    // --force-downstream: below a stage that ran, run (not restore) even when nothing changed.
    const ranAbove = opts.forceDownstream
      ? ups.find((r) => r.outcome === 'done' || r.outcome === 'restored' || r.outcome === 'would run')
      : undefined;
    if (ranAbove && !opts.force)
      reasons.unshift(`forced: upstream ${ranAbove.name} ${ranAbove.outcome === 'would run' ? 'will run' : 'ran'}`);
    const forced = opts.force === true || ranAbove !== undefined;
    if (reasons.length === 0) {
      // Nothing in this run writes an up-to-date stage's outs: a downstream dep on one of them is
      // known already (a chain of stages would otherwise look at every file twice).
      for (const [path, info] of facts.outs) this.unchangedOuts.set(path, info);
      return { name: stage.name, outcome: 'up to date', reasons };
    }
    if (opts.dry) {
      const restore =
        !opts.force && opts.runCache !== false && !reasons.some((r) => r.startsWith('upstream ')) && wouldRestore(project, stage, facts);
      return { name: stage.name, outcome: restore ? 'would restore' : 'would run', reasons };
    }
    const started = Date.now();
    const signature = signatureOf(stage, facts);
    const skipWhy = forced ? undefined : opts.shouldSkip?.(stage, { signature, reasons });
    if (skipWhy) return { name: stage.name, outcome: 'skipped', reasons, message: skipWhy, signature };
    return { facts, reasons, forced, signature, started };
  }

  /**
   * restore: the outs of an earlier run with exactly these inputs, from the run-cache. As DVC's
   * run-cache: only a stage with inputs (deps or params) and outs can be restored — a stage
   * without outs is run for its effect, one without inputs has no signature. -f and
   * --no-run-cache bypass restoring; the run's result is still recorded for next time.
   */
  private async restore(stage: Stage, s: Stale): Promise<StageReport | undefined> {
    const { project } = this;
    const mayRestore = runCacheable(stage) && !s.forced && this.opts.runCache !== false;
    if (!mayRestore || [...s.facts.deps.values()].some((d) => d === null)) return undefined;
    const hit = project.runCache.get(s.signature);
    if (!hit || !(await restorable(project, hit.outs, stage.outs))) return undefined;
    const outs: LockOut[] = [];
    for (const o of hit.outs) {
      if (isScratch(stage.outs.find((x) => x.path === o.path)!)) {
        // Recorded as it is now (restorable() made sure a missing one was an empty directory).
        mkdirSync(join(project.root, o.path), { recursive: true });
        outs.push(lockOut(o.path, (await project.hasher.hash(o.path))!));
      } else {
        await project.cache.restoreOut(o.path, o.hash);
        outs.push(o);
      }
    }
    project.runCache.touch(s.signature);
    project.lock.set(stage.name, lockEntryFrom(s.facts, outs));
    return { name: stage.name, outcome: 'restored', reasons: s.reasons, durationMs: Date.now() - s.started };
  }

  /** execute: runs the stage's command on its executor, holding its slots, then records it. */
  private async execute(stage: Stage, s: Stale): Promise<StageReport> {
    const missingDep = [...s.facts.deps].find(([, info]) => info === null);
    if (missingDep) return this.fail(stage, s.reasons, `dep \`${missingDep[0]}\` is missing`, s.started, s.signature);
    const executor = await this.executors.for(stage);
    const slots = await this.acquire(stage, executor.name);
    // A stage's time is its own: the wait for a free slot (behind -j or resources) is not part of it.
    s.started = Date.now();
    try {
      const own = this.opts.stageSignal?.(stage);
      const signal =
        own && this.opts.signal ? AbortSignal.any([this.opts.signal, own]) : (own ?? this.opts.signal ?? new AbortController().signal);
      if (this.aborted() || own?.aborted) return this.finish({ name: stage.name, outcome: 'cancelled', reasons: s.reasons });
      if (this.stopAfter)
        return this.finish({
          name: stage.name,
          outcome: 'skipped',
          reasons: s.reasons,
          message: `the run stopped after \`${this.stopAfter}\` failed`,
        });
      await this.clearOuts(stage);
      this.reporter.update(stage.name, 'running', s.reasons.join(', '));
      const logFile = logFileFor(this.project.root, stage.name);
      const paramsFile = this.writeParamsSnapshot(stage);
      const result = await executor
        .run({
          stage,
          cwd: join(this.project.root, stage.wdir),
          env: this.environment(stage, slots, paramsFile),
          logFile,
          signal,
          onLine: this.lineHandler(stage),
        })
        .finally(() => {
          if (paramsFile) rmSync(paramsFile, { force: true });
        });
      if (result.state === 'cancelled' || this.aborted() || own?.aborted) {
        removePartialOuts(this.project, stage);
        return this.finish({ name: stage.name, outcome: 'cancelled', reasons: s.reasons, message: result.message });
      }
      if (result.state !== 'ok') {
        const logTail = tail(logFile, LOG_TAIL_LINES);
        const rel = relative(this.project.root, logFile);
        return this.fail(
          stage,
          s.reasons,
          `${result.message ?? result.state}${logTail ? `\n--- last lines of ${rel} ---\n${logTail}` : ` (no output; log: ${rel})`}`,
          s.started,
          s.signature,
        );
      }
      return await this.record(stage, s);
    } finally {
      this.releaseSlots(slots);
    }
  }

  /**
   * record: hashes the outs (a cached out is hashed while it is copied into the cache: each new
   * file is read once), keeps the run in the run-cache, and writes the lock entry.
   */
  private async record(stage: Stage, s: Stale): Promise<StageReport> {
    const { project } = this;
    const outs: LockOut[] = [];
    for (const o of stage.outs) {
      const info: HashInfo | null = o.cache ? await project.hasher.hashAndStore(o.path, project.cache) : await project.hasher.hash(o.path);
      if (!info)
        return this.fail(
          stage,
          s.reasons,
          `out \`${o.path}\` was not produced by the command; fix the command or the outs in ${project.pipeline.file}`,
          s.started,
          s.signature,
        );
      outs.push(lockOut(o.path, info));
    }
    if (runCacheable(stage)) {
      await keepReportsWithRun(project, stage, outs);
      project.runCache.put(s.signature, { stage: stage.name, outs });
    }
    project.lock.set(stage.name, lockEntryFrom(s.facts, outs));
    return this.finish({
      name: stage.name,
      outcome: 'done',
      reasons: s.reasons,
      durationMs: Date.now() - s.started,
      signature: s.signature,
    });
  }

  /** Local stages share this machine's cores and GPUs; a Slurm stage only takes a Slurm job slot. */
  private async acquire(stage: Stage, executor: string): Promise<Slots> {
    const local = executor === 'local';
    const jobs = local ? this.localJobs : this.slurmJobs;
    const cpus = local ? Math.max(1, stage.resources?.cpus ?? 1) : 0;
    const gpus = local ? Math.max(0, stage.resources?.gpus ?? 0) : 0;
    await jobs.acquire(1);
    if (cpus) await this.cpus.acquire(cpus);
    const gpuIds = gpus ? await this.gpus.acquire(gpus) : [];
    return { jobs, cpus, gpus, gpuIds };
  }

  private releaseSlots(slots: Slots): void {
    slots.jobs.release(1);
    if (slots.cpus) this.cpus.release(slots.cpus);
    if (slots.gpus) this.gpus.release(slots.gpus, slots.gpuIds);
  }

  /**
   * DVC behaviour: outs are removed before the command runs, so a stale out can never pass for a
   * fresh one; `persist: true` outs stay (a stage may resume from its own checkpoints).
   * Asynchronous: removing thousands of files must not stall the event loop, which is storing
   * the outs of the other stages meanwhile.
   */
  private async clearOuts(stage: Stage): Promise<void> {
    await Promise.all(
      stage.outs.filter((o) => !o.persist).map((o) => rm(join(this.project.root, o.path), { recursive: true, force: true })),
    );
  }

  /** The runner/stage contract (docs/ARCHITECTURE.md): what a stage's command finds in its environment. */
  private environment(stage: Stage, slots: Slots, paramsFile: string | undefined): Record<string, string> {
    const root = this.project.root;
    // DVC_ROOT/DVC_STAGE too, as `dvc repro` sets them, so a DVC project's scripts run unchanged.
    const env: Record<string, string> = { GROW_STAGE: stage.name, GROW_ROOT: root, DVC_ROOT: root, DVC_STAGE: stage.name };
    if (paramsFile) env[PARAMS_FILE_ENV] = paramsFile;
    if (Object.keys(this.overrides).length) env.GROW_PARAMS_OVERRIDES = JSON.stringify(this.overrides);
    if (slots.gpuIds.length) env.CUDA_VISIBLE_DEVICES = slots.gpuIds.join(',');
    // How many cores this stage may use (what it took from the pool), so a program can size its
    // thread count to it; a Slurm job has SLURM_CPUS_PER_TASK instead.
    if (slots.cpus) env.GROW_CPUS = String(Math.min(slots.cpus, this.cpus.capacity));
    return env;
  }

  /**
   * The params the stage must run with, as the runner read and hashed them (the lock and the
   * run-cache record these values): a JSON snapshot of each params file the stage lists (and of
   * those `--params`/`--set` change), overlays applied. A stage program reads this file instead of
   * the YAML, so an edit to a params file while the run goes on cannot reach it. Removed when the
   * command ends (`.grow/tmp/params-<stage>.json.tmp-<host>-<pid>-<random>`); undefined when the
   * stage has no params.
   */
  private writeParamsSnapshot(stage: Stage): string | undefined {
    const trees = this.project.pipeline.params.snapshot(stage.params.map((p) => p.file));
    if (Object.keys(trees).length === 0) return undefined;
    const text = paramsSnapshotText(trees);
    const dir = join(this.project.root, '.grow', 'tmp');
    mkdirSync(dir, { recursive: true });
    // A temp name of this process (host, pid): if the runner is killed, the next one to take
    // over its process lock removes the snapshots it left (runner-mutex.ts).
    const file = tempPathFor(join(dir, `params-${fileSafe(stage.name)}.json`));
    writeFileSync(file, text);
    return file;
  }

  /** `::progress` lines on stdout feed the progress view; other lines are the stage's output. */
  private lineHandler(stage: Stage): (line: string, stream: 'stdout' | 'stderr') => void {
    const tracker = new ProgressTracker();
    return (line, stream) => {
      const p = stream === 'stdout' ? parseProgressLine(line) : null;
      if (p) {
        tracker.update(p);
        this.reporter.progress(stage.name, tracker);
      } else if (line.trim()) this.reporter.output?.(stage.name, line);
    };
  }

  private finish(r: StageReport): StageReport {
    this.reports.set(r.name, r);
    const detail = r.outcome === 'failed' || (r.outcome === 'skipped' && r.message) ? r.message : r.reasons.join(', ') || undefined;
    this.reporter.update(r.name, r.outcome, detail, r);
    return r;
  }

  private fail(stage: Stage, reasons: string[], message: string, started: number, signature?: string): StageReport {
    removePartialOuts(this.project, stage);
    if (!this.opts.keepGoing) this.stopAfter ??= stage.name;
    return this.finish({ name: stage.name, outcome: 'failed', reasons, message, durationMs: Date.now() - started, signature });
  }

  private aborted(): boolean {
    return this.opts.signal?.aborted ?? false;
  }

  /**
   * The hash state and the parsed-lock cache are only caches: saved once per run, not per stage
   * (each atomic write costs a rename; the lock itself is still written after every stage).
   */
  private saveCaches(): void {
    if (this.opts.dry) return;
    // A complete, successful run of the whole pipeline looked at every dep and out.
    const complete =
      (this.opts.targets ?? []).length === 0 &&
      !this.opts.downstream &&
      [...this.reports.values()].every((r) => ['up to date', 'restored', 'done', 'frozen'].includes(r.outcome)) &&
      this.reports.size === this.stages.length;
    this.project.hasher.save(complete);
    this.project.lock.flush();
  }
}

function signatureOf(stage: Stage, facts: StageFacts): string {
  return runSignature({ cmd: stage.cmd, deps: lockDeps(facts), params: facts.params, outPaths: stage.outs.map((o) => o.path) });
}

/**
 * An uncached metrics or plots file (`cache: false`, the usual DVC pattern: small, committed to
 * git). Like DVC, the run-cache keeps a copy with the entry so the stage stays restorable; the
 * lock and `grow checkout` still treat it as uncached. An uncached plain out still makes a stage
 * non-restorable: `cache: false` on data is usually about its size.
 */
function keptWithRun(o: OutSpec): boolean {
  return !o.cache && !o.persist && o.kind !== 'out';
}

/** Copies the uncached metrics/plots of a finished run into the object store for its run-cache entry. */
async function keepReportsWithRun(project: Project, stage: Stage, outs: LockOut[]): Promise<void> {
  for (const o of outs) {
    const spec = stage.outs.find((x) => x.path === o.path);
    if (spec && keptWithRun(spec)) {
      const info = await project.hasher.hash(o.path);
      if (info) await project.cache.store(join(project.root, o.path), info);
    }
  }
}

function runCacheable(stage: Stage): boolean {
  return (
    !stage.alwaysChanged &&
    stage.outs.some((o) => o.cache || keptWithRun(o)) &&
    stage.outs.every((o) => o.cache || isScratch(o) || keptWithRun(o)) &&
    (stage.deps.length > 0 || stage.params.length > 0)
  );
}

/**
 * For --dry: whether a run would restore the stage from the run-cache. A plan, read-only: the
 * objects are looked for, not verified (verifying would read them all and delete corrupt ones).
 */
function wouldRestore(project: Project, stage: Stage, facts: StageFacts): boolean {
  if (!runCacheable(stage) || [...facts.deps.values()].some((d) => d === null)) return false;
  const hit = project.runCache.get(signatureOf(stage, facts));
  if (!hit || hit.outs.length !== stage.outs.length) return false;
  return hit.outs.every((o) => {
    const spec = stage.outs.find((d) => d.path === o.path);
    if (!spec) return false;
    if (isScratch(spec)) return true;
    const hex = o.hash.slice('md5:'.length);
    return existsSync(join(project.cache.objectsDir, hex.slice(0, 2), hex.slice(2)));
  });
}

/** A resume-checkpoint out: kept across runs, never cached. */
function isScratch(o: OutSpec): boolean {
  return o.persist && !o.cache;
}

async function restorable(project: Project, outs: LockOut[], declared: OutSpec[]): Promise<boolean> {
  // The entry must describe exactly the declared outs, and every cached object must be intact.
  if (outs.length !== declared.length) return false;
  for (const o of outs) {
    const spec = declared.find((d) => d.path === o.path);
    if (!spec) return false;
    if (isScratch(spec)) {
      // Scratch state is taken as it is in the workspace; a missing one can only be recreated
      // when the run left it as an empty directory (a finished training stage clears its checkpoints).
      if (!existsSync(join(project.root, o.path)) && !(o.hash.endsWith('.dir') && o.files === 0)) return false;
    } else if (!(await project.cache.has(o.hash))) return false;
  }
  return true;
}

/** A failed or cancelled stage's outs are removed so they cannot pass for valid results. */
function removePartialOuts(project: Project, stage: Stage): void {
  for (const o of stage.outs) if (!o.persist) rmSync(join(project.root, o.path), { recursive: true, force: true });
}
