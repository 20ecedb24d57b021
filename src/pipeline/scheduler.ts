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
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { join, relative } from 'node:path';
import { EXIT, GrowError } from './errors.ts';
import { ExecutorPool, type ExecutorName } from './executors/index.ts';
import type { HashInfo } from './hash.ts';
import { ProgressTracker, parseProgressLine } from './progress.ts';
import { detectGpus, GpuPool, Tokens } from './resources.ts';
import { lockEntryFrom, lockOut, Project, type OpenOptions } from './project.ts';
import { runSignature } from './run-cache.ts';
import { staleReasons } from './status.ts';
import { selectTargets, withoutAboveFrozen } from './graph.ts';
import type { LockOut } from './lock.ts';
import { lockDeps } from './project.ts';
import type { OutSpec, Stage } from './types.ts';
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

/** Stage names contain `@` (kept) and matrix keys may contain anything else (replaced). */
export function logFileFor(root: string, stage: string): string {
  return join(root, '.grow', 'logs', `${stage.replace(/[^A-Za-z0-9._@=+-]/g, '_')}.log`);
}

function tail(file: string, n: number): string {
  if (!existsSync(file)) return '';
  const lines = readFileSync(file, 'utf8').replace(/\n$/, '').split('\n');
  return lines.slice(-n).join('\n');
}

export async function runPipeline(opts: RunOptions = {}): Promise<RunSummary> {
  const project = opts.project ?? (await Project.open(opts));
  const reporter = opts.reporter ?? silentReporter;
  const targets = opts.targets ?? [];
  const picked = selectTargets(project.pipeline, project.graph, targets, {
    downstream: opts.downstream ?? false,
    singleItem: opts.singleItem ?? false,
  });
  // `--downstream`/`--single-item` never walk upstream, so there is nothing above a frozen stage to cut.
  const names = opts.downstream || opts.singleItem ? picked : withoutAboveFrozen(project.pipeline, project.graph, targets, picked);
  const selected = new Set(names);
  const stages = names.map((n) => project.stage(n));

  // Problems a user must fix before anything runs: params (spec throws naming file and key) and
  // deps that exist nowhere and that no stage produces.
  for (const s of stages) {
    project.pipeline.params.stageValues(s);
    for (const d of s.deps) {
      if (!existsSync(join(project.root, d)) && !project.writtenByStages(d)) {
        throw new GrowError(`stage \`${s.name}\`: dep \`${d}\` does not exist and no stage produces it`, EXIT.usage,
          `create ${d}, fix the path in ${project.pipeline.file}, or add a stage that lists it in its outs`);
      }
    }
  }

  reporter.start(stages);
  const reports = new Map<string, StageReport>();
  const settled = new Map<string, Promise<StageReport>>();
  // Two pools of job slots: local stages share this machine, Slurm stages only a queue.
  const localJobs = new Tokens(Math.max(1, opts.jobs ?? project.config.jobs ?? availableParallelism()));
  const slurmJobs = new Tokens(Math.max(1, opts.slurmJobs ?? opts.jobs ?? DEFAULT_SLURM_JOBS));
  const cpus = new Tokens(availableParallelism());
  const gpus = new GpuPool(detectGpus());
  const executors = new ExecutorPool(project.root, opts.executor, project.config.executor);
  const overrides = project.pipeline.params.overrides();
  let stopAfter: string | undefined; // first failure, when not --keep-going
  const aborted = () => opts.signal?.aborted ?? false;

  const finish = (r: StageReport): StageReport => {
    reports.set(r.name, r);
    const detail = r.outcome === 'failed' || (r.outcome === 'skipped' && r.message) ? r.message : r.reasons.join(', ') || undefined;
    reporter.update(r.name, r.outcome, detail, r);
    return r;
  };

  const visit = async (stage: Stage): Promise<StageReport> => {
    const ups = project.upstream(stage.name).filter((u) => selected.has(u));
    const upReports = await Promise.all(ups.map((u) => settled.get(u)!));
    const blocked = upReports.find((r) => ['failed', 'skipped', 'cancelled'].includes(r.outcome));
    if (blocked) return finish({ name: stage.name, outcome: 'skipped', reasons: [], message: `upstream \`${blocked.name}\` ${blocked.outcome}`, blockedBy: blocked.name });
    if (aborted()) return finish({ name: stage.name, outcome: 'cancelled', reasons: [] });
    if (stopAfter) return finish({ name: stage.name, outcome: 'skipped', reasons: [], message: `the run stopped after \`${stopAfter}\` failed` });

    const facts = await project.facts(stage);
    const entry = project.lock.get(stage.name);
    const reasons = staleReasons(stage, entry, facts);
    if (opts.dry) {
      // Planning only: an upstream that would run makes this stage run too (at run time early
      // cut-off may still spare it).
      const up = upReports.find((r) => r.outcome === 'would run' || r.outcome === 'would restore');
      if (up && reasons[0] !== 'never run') reasons.push(`upstream ${up.name} will re-run`);
    }
    if (stage.frozen) return finish({ name: stage.name, outcome: 'frozen', reasons });
    if (opts.force) reasons.unshift('forced');
    // --force-downstream: below a stage that ran, run (not restore) even when nothing changed.
    const ranAbove = opts.forceDownstream ? upReports.find((r) => r.outcome === 'done' || r.outcome === 'restored' || r.outcome === 'would run') : undefined;
    if (ranAbove && !opts.force) reasons.unshift(`forced: upstream ${ranAbove.name} ${ranAbove.outcome === 'would run' ? 'will run' : 'ran'}`);
    const forced = opts.force === true || ranAbove !== undefined;
    if (reasons.length === 0) return finish({ name: stage.name, outcome: 'up to date', reasons });
    if (opts.dry) {
      const restore = !opts.force && opts.runCache !== false && !reasons.some((r) => r.startsWith('upstream ')) && wouldRestore(project, stage, facts);
      return finish({ name: stage.name, outcome: restore ? 'would restore' : 'would run', reasons });
    }

    const started = Date.now();
    const outPaths = stage.outs.map((o) => o.path);
    const signature = runSignature({ cmd: stage.cmd, deps: lockDeps(facts), params: facts.params, outPaths });
    const skipWhy = forced ? undefined : opts.shouldSkip?.(stage, { signature, reasons });
    if (skipWhy) return finish({ name: stage.name, outcome: 'skipped', reasons, message: skipWhy, signature });
    // As DVC's run-cache: only a stage with inputs (deps or params) and outs can be restored — a
    // stage without outs is run for its effect, one without inputs has no signature. Uncached
    // metrics and plots are kept with the run-cache entry, as DVC keeps them (keptWithRun).
    // Unlike DVC, a stage's scratch outs (resume checkpoints: `persist: true, cache: false`) do not
    // prevent it: they are working state, not results, so a training stage can still be restored.
    const cacheable = runCacheable(stage);
    // -f and --no-run-cache bypass restoring; the run's result is still recorded for next time.
    const mayRestore = cacheable && !forced && opts.runCache !== false;
    if (mayRestore && [...facts.deps.values()].every((d) => d !== null)) {
      const hit = project.runCache.get(signature);
      if (hit && (await restorable(project, hit.outs, stage.outs))) {
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
        project.runCache.touch(signature);
        project.lock.set(stage.name, lockEntryFrom(facts, outs));
        return finish({ name: stage.name, outcome: 'restored', reasons, durationMs: Date.now() - started });
      }
    }

    const missingDep = [...facts.deps].find(([, info]) => info === null);
    if (missingDep) {
      return fail(stage, reasons, `dep \`${missingDep[0]}\` is missing`, started, signature);
    }

    const executor = await executors.for(stage);
    // Local stages share this machine's cores and GPUs; a Slurm stage only takes a Slurm job slot.
    const local = executor.name === 'local';
    const jobs = local ? localJobs : slurmJobs;
    const cpuNeed = local ? Math.max(1, stage.resources?.cpus ?? 1) : 0;
    const gpuNeed = local ? Math.max(0, stage.resources?.gpus ?? 0) : 0;
    await jobs.acquire(1);
    if (cpuNeed) await cpus.acquire(cpuNeed);
    const gpuIds = gpuNeed ? await gpus.acquire(gpuNeed) : [];
    try {
      const own = opts.stageSignal?.(stage);
      const signal = own && opts.signal ? AbortSignal.any([opts.signal, own]) : own ?? opts.signal ?? new AbortController().signal;
      if (aborted() || own?.aborted) return finish({ name: stage.name, outcome: 'cancelled', reasons });
      if (stopAfter) return finish({ name: stage.name, outcome: 'skipped', reasons, message: `the run stopped after \`${stopAfter}\` failed` });
      // DVC behaviour: outs are removed before the command runs, so a stale out can never pass
      // for a fresh one; `persist: true` outs stay (a stage may resume from its own checkpoints).
      // Asynchronous: removing thousands of files must not stall the event loop, which is storing
      // the outs of the other stages meanwhile.
      await Promise.all(stage.outs.filter((o) => !o.persist).map((o) => rm(join(project.root, o.path), { recursive: true, force: true })));
      reporter.update(stage.name, 'running', reasons.join(', '));
      const tracker = new ProgressTracker();
      const logFile = logFileFor(project.root, stage.name);
      // DVC_ROOT/DVC_STAGE too, as `dvc repro` sets them, so a DVC project's scripts run unchanged.
      const env: Record<string, string> = { GROW_STAGE: stage.name, GROW_ROOT: project.root, DVC_ROOT: project.root, DVC_STAGE: stage.name };
      if (Object.keys(overrides).length) env.GROW_PARAMS_OVERRIDES = JSON.stringify(overrides);
      if (gpuIds.length) env.CUDA_VISIBLE_DEVICES = gpuIds.join(',');
      // How many cores this stage may use (what it took from the pool), so a program can size its
      // thread count to it; a Slurm job has SLURM_CPUS_PER_TASK instead.
      if (cpuNeed) env.GROW_CPUS = String(Math.min(cpuNeed, cpus.capacity));
      const result = await executor.run({
        stage,
        cwd: join(project.root, stage.wdir),
        env,
        logFile,
        signal,
        onLine: (line, stream) => {
          const p = stream === 'stdout' ? parseProgressLine(line) : null;
          if (p) {
            tracker.update(p);
            reporter.progress(stage.name, tracker);
          } else if (line.trim()) reporter.output?.(stage.name, line);
        },
      });
      if (result.state === 'cancelled' || aborted() || own?.aborted) {
        removePartialOuts(project, stage);
        return finish({ name: stage.name, outcome: 'cancelled', reasons, message: result.message });
      }
      if (result.state !== 'ok') {
        const logTail = tail(logFile, LOG_TAIL_LINES);
        const rel = relative(project.root, logFile);
        return fail(stage, reasons, `${result.message ?? result.state}${logTail ? `\n--- last lines of ${rel} ---\n${logTail}` : ` (no output; log: ${rel})`}`, started, signature);
      }
      const outs: LockOut[] = [];
      for (const o of stage.outs) {
        // A cached out is hashed while it is copied into the cache: each new file is read once.
        const info: HashInfo | null = o.cache ? await project.hasher.hashAndStore(o.path, project.cache) : await project.hasher.hash(o.path);
        if (!info) return fail(stage, reasons, `out \`${o.path}\` was not produced by the command; fix the command or the outs in ${project.pipeline.file}`, started, signature);
        outs.push(lockOut(o.path, info));
      }
      if (cacheable) {
        await keepReportsWithRun(project, stage, outs);
        project.runCache.put(signature, { stage: stage.name, outs });
      }
      project.lock.set(stage.name, lockEntryFrom(facts, outs));
      return finish({ name: stage.name, outcome: 'done', reasons, durationMs: Date.now() - started, signature });
    } finally {
      jobs.release(1);
      if (cpuNeed) cpus.release(cpuNeed);
      if (gpuNeed) gpus.release(gpuNeed, gpuIds);
    }
  };

  const fail = (stage: Stage, reasons: string[], message: string, started: number, signature?: string): StageReport => {
    removePartialOuts(project, stage);
    if (!opts.keepGoing) stopAfter ??= stage.name;
    return finish({ name: stage.name, outcome: 'failed', reasons, message, durationMs: Date.now() - started, signature });
  };

  // An unexpected error in one stage (a file that cannot be read, an executor that cannot load)
  // fails that stage like a failing command would, instead of abandoning stages still running.
  const visitSafely = (s: Stage): Promise<StageReport> =>
    visit(s).catch((e: unknown) => {
      const hint = e instanceof GrowError && e.hint ? `\nhint: ${e.hint}` : '';
      return fail(s, [], `${(e as Error).message}${hint}`, Date.now());
    });
  for (const s of stages) settled.set(s.name, visitSafely(s));
  try {
    await Promise.all(settled.values());
  } finally {
    // The hash state and the parsed-lock cache are only caches: saved once per run, not per stage
    // (each atomic write costs a rename; the lock itself is still written after every stage).
    if (!opts.dry) {
      // A complete, successful run of the whole pipeline looked at every dep and out.
      const complete = (opts.targets ?? []).length === 0 && !opts.downstream &&
        [...reports.values()].every((r) => ['up to date', 'restored', 'done', 'frozen'].includes(r.outcome)) &&
        reports.size === stages.length;
      project.hasher.save(complete);
      project.lock.flush();
    }
    await reporter.finish();
  }
  const list = names.map((n) => reports.get(n)!);
  const exitCode = list.some((r) => r.outcome === 'cancelled') || aborted()
    ? EXIT.interrupted
    : list.some((r) => r.outcome === 'failed') ? EXIT.stageFailed : EXIT.ok;
  return { stages: list, exitCode };
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
  return !stage.alwaysChanged && stage.outs.some((o) => o.cache || keptWithRun(o)) &&
    stage.outs.every((o) => o.cache || isScratch(o) || keptWithRun(o)) && (stage.deps.length > 0 || stage.params.length > 0);
}

/**
 * For --dry: whether a run would restore the stage from the run-cache. A plan, read-only: the
 * objects are looked for, not verified (verifying would read them all and delete corrupt ones).
 */
function wouldRestore(project: Project, stage: Stage, facts: Awaited<ReturnType<Project['facts']>>): boolean {
  if (!runCacheable(stage) || [...facts.deps.values()].some((d) => d === null)) return false;
  const signature = runSignature({ cmd: stage.cmd, deps: lockDeps(facts), params: facts.params, outPaths: stage.outs.map((o) => o.path) });
  const hit = project.runCache.get(signature);
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
