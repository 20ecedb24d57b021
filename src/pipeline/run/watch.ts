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
import { GrowError } from '../errors.ts';
import { Project, runOverlays, type OpenOptions } from '../project/project.ts';
import { runPipeline } from './scheduler.ts';
import { canonicalJson } from '../plan/stale-reasons.ts';
import type { Stage } from '../types.ts';
import type { Reporter, RunSummary } from './events.ts';
import type { FSWatcher } from 'chokidar';
import { selectTargets } from '../plan/graph.ts';

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
  return canonicalJson({
    cmd: s.cmd,
    wdir: s.wdir,
    deps: s.deps,
    params: s.params,
    outs: s.outs,
    frozen: s.frozen,
    alwaysChanged: s.alwaysChanged,
    executor: s.executor,
    resources: s.resources,
  });
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

/** A run the session has under way. */
interface Iteration {
  controller: AbortController;
  /** Stages running now: what an interruption could stop. */
  running: Set<string>;
  /** Per-stage cancellation of the interruptible stages that started. */
  stopStage: Map<string, AbortController>;
  done: Promise<void>;
}

/**
 * The session's states. Changes collect in `pending` whatever the state; a quiet debounce
 * period ends with a `settled` event, which the state decides what to do with.
 *
 *   starting  waiting for the file watcher to be ready
 *   planning  reloading the project and mapping the pending changes to stages
 *   running   an iteration is running; settled changes are queued (and may interrupt stages)
 *   idle      watching; nothing to do until a change settles
 *   broken    watching, but the pipeline does not load; the changes wait for a fix
 *   stopped   Ctrl-C (or a fatal error): nothing happens any more
 */
type State =
  | { name: 'starting' }
  | { name: 'planning' }
  | { name: 'running'; iteration: Iteration }
  | { name: 'idle' }
  | { name: 'broken' }
  | { name: 'stopped' };

type Event =
  | { type: 'ready' }
  | { type: 'settled' }
  /** Planning ended: with a plan to run, nothing to run, or a pipeline that does not load. */
  | { type: 'planned'; label: string; plan: Plan }
  | { type: 'unchanged'; label: string }
  | { type: 'unloadable' }
  | { type: 'finished' }
  | { type: 'stop' };

class WatchSession {
  private state: State = { name: 'starting' };
  /** Changed paths not yet planned. */
  private readonly pending = new Set<string>();
  /** Stages an interruption stopped (and those they held back): they run in the next iteration. */
  private readonly rescheduled = new Map<string, string[]>();
  /** Stages whose last run failed → the input signature they failed with. */
  private readonly failedWith = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;
  private iteration = 0;
  private stages: Stage[];
  private snapshot: Snapshot;
  private watched: Set<string>;
  private outs: string[];
  private readonly root: string;
  private readonly targets: string[];
  private readonly debounceMs: number;
  private readonly say: (line: string) => void;
  private readonly overlayFiles: string[];
  private watcher!: FSWatcher;
  private settle!: (code: number) => void;
  private reject!: (e: unknown) => void;

  constructor(
    private project: Project,
    private readonly opts: WatchOptions,
  ) {
    this.root = project.root;
    this.targets = opts.targets ?? [];
    this.debounceMs = opts.debounceMs ?? DEFAULT_DEBOUNCE_MS;
    this.say = opts.say ?? ((l: string) => process.stdout.write(`${l}\n`));
    this.overlayFiles = runOverlays(this.root, { overlays: opts.overlays }).params;
    this.stages = selectedStages(project, this.targets);
    this.snapshot = takeSnapshot(project, this.stages);
    this.watched = new Set(watchedPaths(project, this.stages, this.overlayFiles));
    this.outs = this.outsOf();
  }

  /** Watches until stopped; resolves with the exit code (130: stopped by the signal). */
  async watch(): Promise<number> {
    // chokidar is loaded only when watching: other commands stay fast to start.
    const { watch } = await import('chokidar');
    this.watcher = watch(
      [...this.watched].map((p) => join(this.root, p)),
      {
        ignoreInitial: true,
        ignored: (abs: string) => {
          const rel = this.toRel(abs);
          if (rel === '' || rel.startsWith('..')) return false;
          return isInside(rel, '.grow') || rel.split('/').includes('node_modules') || this.outs.some((o) => isInside(rel, o));
        },
      },
    );
    return new Promise<number>((resolve, reject) => {
      this.settle = resolve;
      this.reject = reject;
      if (this.opts.signal.aborted) return this.dispatch({ type: 'stop' });
      this.opts.signal.addEventListener('abort', () => this.dispatch({ type: 'stop' }), { once: true });
      this.watcher.on('all', (_event, abs) => this.changed(abs));
      this.watcher.on('error', (e) => this.say(`watch: file watcher error: ${(e as Error).message}`));
      // Once: chokidar emits 'ready' again after later add() calls (a reload that watches new paths).
      this.watcher.once('ready', () => this.dispatch({ type: 'ready' }));
    });
  }

  /** Every transition of the session, in one place. */
  private dispatch(event: Event): void {
    const state = this.state;
    if (state.name === 'stopped') return;
    switch (event.type) {
      case 'stop':
        this.enter({ name: 'stopped' });
        void this.shutdown(state).catch(this.reject);
        return;
      case 'ready':
        // The first iteration brings everything selected up to date, as `grow run` would.
        if (state.name === 'starting') this.startIteration('start', null);
        return;
      case 'settled':
        if (state.name === 'idle' || state.name === 'broken') {
          if (this.pending.size || this.rescheduled.size) this.startPlanning();
        } else if (state.name === 'running') {
          this.say(`watch: changed during the run: ${[...this.pending].sort().join(', ')} (queued)`);
          void this.maybeInterrupt(state.iteration).catch(this.fatal);
        }
        // starting, planning: the changes stay pending until that ends.
        return;
      case 'planned':
        this.startIteration(event.label, event.plan);
        return;
      case 'unchanged':
        this.say(`watch: ${event.label} → nothing to run (no listed dep or param value of a watched stage changed)`);
        this.afterwards();
        return;
      case 'unloadable':
        this.enter({ name: 'broken' });
        return;
      case 'finished':
        this.afterwards();
        return;
    }
  }

  private enter(state: State): void {
    this.state = state;
  }

  /**
   * After an iteration (or a plan with nothing to run): changes that came meanwhile and are
   * already debounced are planned now; a debounce still running will settle them itself.
   */
  private afterwards(): void {
    if ((this.pending.size || this.rescheduled.size) && !this.timer) {
      this.startPlanning();
      return;
    }
    this.enter({ name: 'idle' });
    this.say(this.watchingLine());
  }

  private changed(abs: string): void {
    this.pending.add(this.toRel(abs));
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.dispatch({ type: 'settled' });
    }, this.debounceMs);
  }

  private startPlanning(): void {
    this.enter({ name: 'planning' });
    void this.plan()
      .then((e) => {
        if (this.state.name === 'planning') this.dispatch(e);
      })
      .catch(this.fatal);
  }

  /** planning: the pending changes, mapped to the stages they affect (with the rescheduled ones). */
  private async plan(): Promise<Event> {
    const changed = [...this.pending].sort();
    this.pending.clear();
    if (!(await this.reload())) {
      // Keep what changed: once the pipeline loads again, those changes still need their runs.
      for (const p of changed) this.pending.add(p);
      return { type: 'unloadable' };
    }
    const plan = planFor(this.project, this.stages, this.snapshot, changed);
    for (const [n, r] of this.rescheduled) if (this.stages.some((s) => s.name === n)) plan.set(n, [...(plan.get(n) ?? []), ...r]);
    this.rescheduled.clear();
    this.snapshot = takeSnapshot(this.project, this.stages);
    const ordered: Plan = new Map(this.stages.filter((s) => plan.has(s.name)).map((s) => [s.name, plan.get(s.name)!]));
    const label = `changed: ${changed.join(', ') || '(rescheduled)'}`;
    return ordered.size === 0 ? { type: 'unchanged', label } : { type: 'planned', label, plan: ordered };
  }

  private startIteration(label: string, plan: Plan | null): void {
    let done!: () => void;
    const iteration: Iteration = {
      controller: new AbortController(),
      running: new Set(),
      stopStage: new Map(),
      done: new Promise<void>((r) => (done = r)),
    };
    this.enter({ name: 'running', iteration });
    void this.runIteration(iteration, label, plan)
      .finally(done)
      .then(() => this.dispatch({ type: 'finished' }))
      .catch(this.fatal);
  }

  /** running: one `runPipeline` over the planned stages (all selected ones at the start). */
  private async runIteration(it: Iteration, label: string, plan: Plan | null): Promise<void> {
    this.iteration++;
    const n = this.iteration;
    const reporter = await this.opts.makeReporter();
    // The view is the runner's; we only watch which stages are running, to know what an
    // interruption would stop.
    const tracking: Reporter = {
      start: (s) => reporter.start(s),
      update: (name, state, detail, report) => {
        if (state === 'running') it.running.add(name);
        else it.running.delete(name);
        reporter.update(name, state, detail, report);
      },
      progress: (name, t) => reporter.progress(name, t),
      finish: () => reporter.finish(),
    };
    this.say(plan ? `watch: [#${n}] ${label} → ${describePlan(plan)}` : `watch: [#${n}] ${label}`);
    try {
      const summary = await runPipeline({
        project: this.project,
        targets: plan ? [...plan.keys()] : this.targets,
        singleItem: plan !== null,
        jobs: this.opts.jobs,
        signal: it.controller.signal,
        reporter: tracking,
        stageSignal: (stage) => {
          if (!stage.interruptible) return undefined;
          const c = new AbortController();
          it.stopStage.set(stage.name, c);
          return c.signal;
        },
        shouldSkip: (stage, { signature }) =>
          this.failedWith.get(stage.name) === signature
            ? 'failed before with these same inputs; not retried until one of them changes'
            : undefined,
      });
      const stopping = this.state.name === 'stopped';
      const interrupted = new Set<string>();
      for (const r of summary.stages) {
        if (r.outcome === 'failed' && r.signature) this.failedWith.set(r.name, r.signature);
        else if (['done', 'restored', 'up to date'].includes(r.outcome)) this.failedWith.delete(r.name);
        if (stopping) continue;
        // Stopped stages, and those they held back (reports come in dependency order), run next time.
        if (r.outcome === 'cancelled' || (r.outcome === 'skipped' && r.blockedBy && interrupted.has(r.blockedBy))) {
          interrupted.add(r.name);
          this.rescheduled.set(r.name, ['rescheduled after interruption']);
        }
      }
      this.say(`watch: [#${n}] ${describeSummary(summary)}`);
    } catch (e) {
      if (!(e instanceof GrowError)) throw e;
      this.say(`watch: ${e.message}${e.hint ? `\nhint: ${e.hint}` : ''}`);
    }
  }

  /** A change settled while a run is going: stop the running interruptible stages it affects. */
  private async maybeInterrupt(it: Iteration): Promise<void> {
    if (it.controller.signal.aborted) return;
    const candidates = [...it.running].filter((n) => it.stopStage.has(n) && !it.stopStage.get(n)!.signal.aborted);
    if (candidates.length === 0) return;
    let plan: Plan;
    try {
      const fresh = await this.open();
      plan = planFor(fresh, selectedStages(fresh, this.targets), this.snapshot, [...this.pending]);
    } catch {
      return; // a broken edit interrupts nothing
    }
    const hit = candidates.filter((n) => plan.has(n) && it.running.has(n));
    if (hit.length === 0 || this.state.name !== 'running' || this.state.iteration !== it) return;
    this.say(`watch: interrupting ${hit.join(', ')} (interruptible; its inputs changed) — it will run again`);
    for (const n of hit) it.stopStage.get(n)!.abort();
  }

  /** stopped: the running iteration is cancelled (finished stages recorded) and awaited. */
  private async shutdown(from: State): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    await this.watcher.close();
    if (from.name === 'running') {
      from.iteration.controller.abort();
      await from.iteration.done;
    }
    this.say('watch: stopped');
    this.settle(130);
  }

  private readonly fatal = (e: unknown): void => {
    this.enter({ name: 'stopped' });
    void this.watcher.close();
    this.reject(e);
  };

  /** Reloads the project; a broken edit is reported and waited out, never fatal. */
  private async reload(): Promise<boolean> {
    try {
      const next = await this.open();
      const nextStages = selectedStages(next, this.targets);
      nextStages.forEach((s) => next.pipeline.params.stageValues(s)); // surfaces a missing params key now
      this.project = next;
      this.stages = nextStages;
      this.outs = this.outsOf();
      const paths = new Set(watchedPaths(this.project, this.stages, this.overlayFiles));
      const added = [...paths].filter((p) => !this.watched.has(p));
      const removed = [...this.watched].filter((p) => !paths.has(p));
      if (added.length) this.watcher.add(added.map((p) => join(this.root, p)));
      if (removed.length) this.watcher.unwatch(removed.map((p) => join(this.root, p)));
      this.watched = paths;
      return true;
    } catch (e) {
      if (!(e instanceof GrowError)) throw e;
      this.say(`watch: ${e.message}${e.hint ? `\nhint: ${e.hint}` : ''}`);
      this.say('watch: waiting for a fix (nothing runs until the pipeline loads again)');
      return false;
    }
  }

  private open(): Promise<Project> {
    return Project.open({ cwd: this.opts.cwd, overlays: this.opts.overlays, set: this.opts.set });
  }

  private outsOf(): string[] {
    return this.project.pipeline.stages.flatMap((s) => s.outs.map((o) => o.path));
  }

  private toRel(abs: string): string {
    return (isAbsolute(abs) ? relative(this.root, abs) : abs).split(sep).join('/');
  }

  private watchingLine(): string {
    const { watched, stages } = this;
    return `watch: watching ${watched.size} path${watched.size === 1 ? '' : 's'} for ${stages.length} stage${stages.length === 1 ? '' : 's'} (debounce ${this.debounceMs} ms; Ctrl-C to stop)`;
  }
}

export async function watchPipeline(opts: WatchOptions): Promise<number> {
  const project = await Project.open({ cwd: opts.cwd, overlays: opts.overlays, set: opts.set });
  return new WatchSession(project, opts).watch();
}
