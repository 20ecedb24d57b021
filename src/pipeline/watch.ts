/**
 * `grow watch`: run the pipeline, then re-run exactly what each change affects, until stopped.
 *
 * - Watched: every dep of the selected stages that no stage produces, every params file they list,
 *   and pipeline.yaml itself. Never outs (a stage writing its outs must not trigger itself), never
 *   `.grow/` or `node_modules/`.
 * - Changes are debounced (an editor's save is often several events) and then mapped to stages:
 *   a dep change → the stages listing it; a params file change → only the stages whose listed
 *   keys changed *value* (formatting, comments and unlisted keys do nothing); a pipeline.yaml
 *   change → the stages whose definition changed. Each iteration runs those and their downstream
 *   stages (`singleItem` selection), and the runner's own status still decides what really runs, so
 *   an edit that is undone before the debounce fires runs nothing.
 * - A change during a run is queued: one more iteration follows. Running stages marked
 *   `interruptible` whose inputs the change affects are stopped at once, alone (the runner's
 *   per-stage cancellation: their process groups get SIGTERM, then SIGKILL after the executor's
 *   grace period), and rescheduled with the stages they held back into the next iteration; every
 *   other running stage, non-interruptible ones in particular, finishes undisturbed.
 * - A stage that failed is not retried until one of its inputs changes: it is not part of any
 *   iteration until a change maps to it, and when one does only through an upstream stage whose
 *   re-run changed nothing (early cut-off), the runner's `shouldSkip` hook sees the same input
 *   signature it failed with and skips it.
 */
import { isAbsolute, join, relative, sep } from 'node:path';
import { GrowError } from './errors.ts';
import { Project, runOverlays, type OpenOptions } from './project.ts';
import { runPipeline } from './scheduler.ts';
import { canonicalJson } from './status.ts';
import type { Stage } from './types.ts';
import type { Reporter, RunSummary } from './events.ts';
import { selectTargets } from './graph.ts';

export interface WatchOptions extends OpenOptions {
  targets?: string[];
  /** Quiet period after the last file event before an iteration starts (ms). */
  debounceMs?: number;
  jobs?: number;
  /** One-line status messages (default stdout). */
  say?: (line: string) => void;
  /** A fresh view per iteration. */
  makeReporter: () => Reporter | Promise<Reporter>;
  /** Aborting stops watching: the running iteration is cancelled and awaited. */
  signal: AbortSignal;
}

export const DEFAULT_DEBOUNCE_MS = 200;

/** Why each stage runs in an iteration (stage → reasons), in pipeline order. */
export type Plan = Map<string, string[]>;

/** What a stage's definition and parameter values were when it was last planned. */
interface Snapshot {
  definition: Map<string, string>;
  params: Map<string, Record<string, Record<string, unknown>>>;
}

function definitionOf(s: Stage): string {
  // Everything that shapes what the stage does; `desc` and the source position do not.
  return canonicalJson({ cmd: s.cmd, wdir: s.wdir, deps: s.deps, params: s.params, outs: s.outs, frozen: s.frozen, alwaysChanged: s.alwaysChanged, executor: s.executor, resources: s.resources });
}

function selectedStages(project: Project, targets: string[]): Stage[] {
  return selectTargets(project.pipeline, project.graph, targets).map((n) => project.stage(n));
}

function takeSnapshot(project: Project, stages: Stage[]): Snapshot {
  const snap: Snapshot = { definition: new Map(), params: new Map() };
  for (const s of stages) {
    snap.definition.set(s.name, definitionOf(s));
    snap.params.set(s.name, project.pipeline.params.stageValues(s));
  }
  return snap;
}

const isInside = (path: string, dir: string) => dir === '.' || path === dir || path.startsWith(`${dir}/`);

/** Files and directories to watch, project-relative. */
export function watchedPaths(project: Project, stages: Stage[], overlayFiles: string[] = []): string[] {
  // `--params` overlay files are watched like params files: an edit re-runs the stages whose values it changes.
  const paths = new Set<string>([project.pipeline.file, ...overlayFiles]);
  for (const s of stages) {
    for (const d of s.deps) if (!project.writtenByStages(d)) paths.add(d);
    for (const p of s.params) paths.add(p.file);
  }
  return [...paths].sort();
}

/**
 * Which stages a set of changed paths affects, with the reasons, given what they were before.
 * Pure apart from reading params through the (freshly loaded) project.
 */
export function planFor(project: Project, stages: Stage[], before: Snapshot, changed: string[]): Plan {
  const direct: Plan = new Map();
  const add = (name: string, reason: string) => {
    const list = direct.get(name) ?? direct.set(name, []).get(name)!;
    if (!list.includes(reason)) list.push(reason);
  };
  const pipelineChanged = changed.includes(project.pipeline.file);
  for (const s of stages) {
    if (pipelineChanged && before.definition.get(s.name) !== definitionOf(s)) {
      add(s.name, before.definition.has(s.name) ? `stage definition changed in ${project.pipeline.file}` : 'new stage');
    }
    for (const d of s.deps) {
      // A change inside a dep directory, or the deletion of a directory holding a dep.
      if (changed.some((p) => isInside(p, d) || isInside(d, p))) add(s.name, `dep ${d} changed`);
    }
    const old = before.params.get(s.name);
    if (!old) continue;
    const now = project.pipeline.params.stageValues(s);
    for (const file of new Set([...Object.keys(old), ...Object.keys(now)])) {
      const a = old[file] ?? {};
      const b = now[file] ?? {};
      for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
        if (canonicalJson(a[key]) !== canonicalJson(b[key])) add(s.name, `param ${key === '' ? file : `${file}:${key}`} changed`);
      }
    }
  }
  // Everything downstream of a directly affected stage may see new inputs.
  const plan: Plan = new Map();
  const names = new Set(stages.map((s) => s.name));
  const todo = [...direct.keys()];
  for (const [n, r] of direct) plan.set(n, [...r]);
  while (todo.length) {
    const n = todo.pop()!;
    for (const down of project.graph.downstream(n)) {
      if (!names.has(down)) continue;
      if (!plan.has(down)) {
        plan.set(down, [`upstream ${n}`]);
        todo.push(down);
      }
    }
  }
  const order = stages.map((s) => s.name).filter((n) => plan.has(n));
  return new Map(order.map((n) => [n, plan.get(n)!]));
}

function describePlan(plan: Plan): string {
  return [...plan].map(([n, reasons]) => `${n} (${reasons.join(', ')})`).join(', ');
}

function describeSummary(s: RunSummary): string {
  const counts = new Map<string, number>();
  for (const r of s.stages) counts.set(r.outcome, (counts.get(r.outcome) ?? 0) + 1);
  return [...counts].map(([k, n]) => `${n} ${k}`).join(', ') || 'nothing ran';
}

export async function watchPipeline(opts: WatchOptions): Promise<number> {
  const say = opts.say ?? ((l: string) => process.stdout.write(`${l}\n`));
  const debounceMs = opts.debounceMs ?? DEFAULT_DEBOUNCE_MS;
  const targets = opts.targets ?? [];
  const open = () => Project.open({ cwd: opts.cwd, overlays: opts.overlays, set: opts.set });

  let project = await open();
  const root = project.root;
  const overlayFiles = runOverlays(root, { overlays: opts.overlays }).params;
  let stages = selectedStages(project, targets);
  let snapshot = takeSnapshot(project, stages);
  let watched = new Set(watchedPaths(project, stages, overlayFiles));

  // chokidar is loaded only when watching: other commands stay fast to start.
  const { watch } = await import('chokidar');
  const outsOf = () => project.pipeline.stages.flatMap((s) => s.outs.map((o) => o.path));
  let outs = outsOf();
  const toRel = (abs: string) => (isAbsolute(abs) ? relative(root, abs) : abs).split(sep).join('/');
  const watcher = watch([...watched].map((p) => join(root, p)), {
    ignoreInitial: true,
    ignored: (abs: string) => {
      const rel = toRel(abs);
      if (rel === '' || rel.startsWith('..')) return false;
      return isInside(rel, '.grow') || rel.split('/').includes('node_modules') || outs.some((o) => isInside(rel, o));
    },
  });

  const pending = new Set<string>();
  const rescheduled = new Map<string, string[]>();
  let timer: NodeJS.Timeout | undefined;
  let iteration = 0;
  let stopping = false;
  let current: { controller: AbortController; running: Set<string>; stopStage: Map<string, AbortController>; done: Promise<void> } | undefined;
  /** Stages whose last run failed → the input signature they failed with. */
  const failedWith = new Map<string, string>();

  const watchingLine = () => `watch: watching ${watched.size} path${watched.size === 1 ? '' : 's'} for ${stages.length} stage${stages.length === 1 ? '' : 's'} (debounce ${debounceMs} ms; Ctrl-C to stop)`;

  /** Reloads the project; a broken edit is reported and waited out, never fatal. */
  const reload = async (): Promise<boolean> => {
    try {
      const next = await open();
      const nextStages = selectedStages(next, targets);
      nextStages.forEach((s) => next.pipeline.params.stageValues(s)); // surfaces a missing params key now
      project = next;
      stages = nextStages;
      outs = outsOf();
      const paths = new Set(watchedPaths(project, stages, overlayFiles));
      const added = [...paths].filter((p) => !watched.has(p));
      const removed = [...watched].filter((p) => !paths.has(p));
      if (added.length) watcher.add(added.map((p) => join(root, p)));
      if (removed.length) watcher.unwatch(removed.map((p) => join(root, p)));
      watched = paths;
      return true;
    } catch (e) {
      if (!(e instanceof GrowError)) throw e;
      say(`watch: ${e.message}${e.hint ? `\nhint: ${e.hint}` : ''}`);
      say('watch: waiting for a fix (nothing runs until the pipeline loads again)');
      return false;
    }
  };

  const runIteration = async (label: string, plan: Plan | null) => {
    iteration++;
    const controller = new AbortController();
    const running = new Set<string>();
    const stopStage = new Map<string, AbortController>();
    const reporter = await opts.makeReporter();
    // The view is the runner's; we only watch which stages are running, to know what an
    // interruption would stop.
    const tracking: Reporter = {
      start: (s) => reporter.start(s),
      update: (name, state, detail, report) => {
        if (state === 'running') running.add(name);
        else running.delete(name);
        reporter.update(name, state, detail, report);
      },
      progress: (name, t) => reporter.progress(name, t),
      finish: () => reporter.finish(),
    };
    say(plan ? `watch: [#${iteration}] ${label} → ${describePlan(plan)}` : `watch: [#${iteration}] ${label}`);
    let done!: () => void;
    current = { controller, running, stopStage, done: new Promise<void>((r) => (done = r)) };
    try {
      const summary = await runPipeline({
        project,
        targets: plan ? [...plan.keys()] : targets,
        singleItem: plan !== null,
        jobs: opts.jobs,
        signal: controller.signal,
        reporter: tracking,
        stageSignal: (stage) => {
          if (!stage.interruptible) return undefined;
          const c = new AbortController();
          stopStage.set(stage.name, c);
          return c.signal;
        },
        shouldSkip: (stage, { signature }) =>
          failedWith.get(stage.name) === signature ? 'failed before with these same inputs; not retried until one of them changes' : undefined,
      });
      const interrupted = new Set<string>();
      for (const r of summary.stages) {
        if (r.outcome === 'failed' && r.signature) failedWith.set(r.name, r.signature);
        else if (['done', 'restored', 'up to date'].includes(r.outcome)) failedWith.delete(r.name);
        if (stopping) continue;
        // Stopped stages, and those they held back (reports come in dependency order), run next time.
        if (r.outcome === 'cancelled' || (r.outcome === 'skipped' && r.blockedBy && interrupted.has(r.blockedBy))) {
          interrupted.add(r.name);
          rescheduled.set(r.name, ['rescheduled after interruption']);
        }
      }
      say(`watch: [#${iteration}] ${describeSummary(summary)}`);
    } catch (e) {
      if (!(e instanceof GrowError)) throw e;
      say(`watch: ${e.message}${e.hint ? `\nhint: ${e.hint}` : ''}`);
    } finally {
      current = undefined;
      done();
    }
  };

  const next = async () => {
    if (current || stopping) return;
    if (pending.size === 0 && rescheduled.size === 0) return;
    const changed = [...pending].sort();
    pending.clear();
    if (!(await reload())) {
      // Keep what changed: once the pipeline loads again, those changes still need their runs.
      for (const p of changed) pending.add(p);
      return;
    }
    const plan = planFor(project, stages, snapshot, changed);
    for (const [n, r] of rescheduled) if (stages.some((s) => s.name === n)) plan.set(n, [...(plan.get(n) ?? []), ...r]);
    rescheduled.clear();
    snapshot = takeSnapshot(project, stages);
    const ordered: Plan = new Map(stages.filter((s) => plan.has(s.name)).map((s) => [s.name, plan.get(s.name)!]));
    const label = `changed: ${changed.join(', ') || '(rescheduled)'}`;
    if (ordered.size === 0) say(`watch: ${label} → nothing to run (no listed dep or param value of a watched stage changed)`);
    else await runIteration(label, ordered);
    // Changes that came during the run and are already debounced start the next iteration now;
    // a debounce still running will start it itself.
    if (pending.size && !timer && !stopping) void next().catch(fatal);
    else if (!stopping) say(watchingLine());
  };

  /** A change arrived while a run is going: stop the running interruptible stages it affects. */
  const maybeInterrupt = async () => {
    const run = current;
    if (!run || run.controller.signal.aborted) return;
    const candidates = [...run.running].filter((n) => run.stopStage.has(n) && !run.stopStage.get(n)!.signal.aborted);
    if (candidates.length === 0) return;
    let plan: Plan;
    try {
      const fresh = await open();
      plan = planFor(fresh, selectedStages(fresh, targets), snapshot, [...pending]);
    } catch {
      return; // a broken edit interrupts nothing
    }
    const hit = candidates.filter((n) => plan.has(n) && run.running.has(n));
    if (hit.length === 0 || current !== run) return;
    say(`watch: interrupting ${hit.join(', ')} (interruptible; its inputs changed) — it will run again`);
    for (const n of hit) run.stopStage.get(n)!.abort();
  };

  const onEvent = (_event: string, abs: string) => {
    const rel = toRel(abs);
    pending.add(rel);
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      if (current) {
        say(`watch: changed during the run: ${[...pending].sort().join(', ')} (queued)`);
        void maybeInterrupt();
      } else void next().catch(fatal);
    }, debounceMs);
  };
  let fatal: (e: unknown) => void = () => {};

  return await new Promise<number>((resolve, reject) => {
    fatal = (e) => {
      stopping = true;
      void watcher.close();
      reject(e);
    };
    const stop = async () => {
      if (stopping) return;
      stopping = true;
      if (timer) clearTimeout(timer);
      await watcher.close();
      if (current) {
        current.controller.abort();
        await current.done;
      }
      say('watch: stopped');
      resolve(130);
    };
    if (opts.signal.aborted) return void stop();
    opts.signal.addEventListener('abort', () => void stop().catch(reject), { once: true });
    watcher.on('all', onEvent);
    watcher.on('error', (e) => say(`watch: file watcher error: ${(e as Error).message}`));
    // Once: chokidar emits 'ready' again after later add() calls (a reload that watches new paths).
    watcher.once('ready', () => {
      // The first iteration brings everything selected up to date, as `grow run` would.
      void (async () => {
        await runIteration('start', null);
        if ((pending.size || rescheduled.size) && !timer && !stopping) await next();
        else if (!stopping) say(watchingLine());
      })().catch(fatal);
    });
  });
}
