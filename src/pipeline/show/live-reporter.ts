/**
 * The live view on a terminal: a listr2 task list with one task per stage (foreach/matrix items
 * grouped under their group), showing up to date / restored / running (bar, %, ETA, latest
 * values) / done (duration) / failed / skipped. The scheduler decides; this only renders.
 */
import { Listr, type ListrTaskWrapper } from 'listr2';
import { formatDuration, type ProgressTracker } from '../run/progress.ts';
import type { Stage } from '../types.ts';
import type { Reporter, StageReport, StageState } from '../run/events.ts';

type AnyTask = ListrTaskWrapper<unknown, never, never>;

interface Slot {
  task?: AnyTask;
  done: Promise<{ state: StageState; detail?: string; report?: StageReport }>;
  settle: (v: { state: StageState; detail?: string; report?: StageReport }) => void;
  output?: string;
  tracker?: ProgressTracker;
  /** Started by the scheduler; until then the task only waits for its turn. */
  running?: boolean;
}

/**
 * Where a reporter's task list runs: by default its own Listr (one view per run); in a watch
 * session, a sub-list of the session's parent task (see listrWatchSession).
 */
type Mount = (top: never[]) => Promise<unknown>;

/**
 * listr2 by default exits the process (code 127) on SIGINT; the runner handles Ctrl-C itself
 * (stop the stages, record the finished ones, exit 130: run/signals.ts), so the views never register.
 */
const NO_SIGNALS = { registerSignalListeners: false } as const;

const ownView: Mount = (top) =>
  new Listr(top, {
    ...NO_SIGNALS,
    concurrent: true,
    exitOnError: false,
    rendererOptions: { collapseSubtasks: false, showSkipMessage: true, collapseSkips: true } as never,
  }).run();

export function listrReporter(mount: Mount = ownView): Reporter {
  const slots = new Map<string, Slot>();
  let running: Promise<unknown> = Promise.resolve();

  const stageTask = (stage: Stage, label: string) => ({
    title: label,
    task: async (_ctx: unknown, task: AnyTask) => {
      const slot = slots.get(stage.name)!;
      slot.task = task;
      // listr2 spins every pending task alike: the title tells waiting stages from running ones.
      if (!slot.running) task.title = `${label} · waiting`;
      if (slot.output) task.output = slot.output;
      const { state, detail, report } = await slot.done;
      const took = report?.durationMs !== undefined ? ` (${formatDuration(report.durationMs)})` : '';
      if (state === 'failed') throw new Error(`${label}: failed${took}`);
      if (state === 'skipped' || state === 'cancelled') return task.skip(`${label}: ${state}${detail ? ` — ${detail}` : ''}`);
      if (state === 'frozen') return task.skip(`${label}: frozen`);
      task.title = `${label}: ${state}${state === 'done' ? took : ''}`;
    },
  });

  return {
    start(stages) {
      for (const s of stages) {
        let settle!: Slot['settle'];
        const done = new Promise<{ state: StageState; detail?: string; report?: StageReport }>((r) => (settle = r));
        slots.set(s.name, { done, settle });
      }
      // Group foreach/matrix items under their group, keeping declaration order.
      const top: { title: string; task: (...a: never[]) => unknown }[] = [];
      const groups = new Map<string, Stage[]>();
      for (const s of stages) {
        if (!s.group) {
          top.push(stageTask(s, s.name) as never);
          continue;
        }
        if (!groups.has(s.group)) {
          const members: Stage[] = [];
          groups.set(s.group, members);
          top.push({
            title: s.group,
            task: ((_ctx: unknown, task: AnyTask) =>
              task.newListr(
                members.map((m) => stageTask(m, m.name)),
                { concurrent: true, exitOnError: false },
              )) as never,
          });
        }
        groups.get(s.group)!.push(s);
      }
      running = mount(top as never[]).catch(() => undefined);
    },
    update(name, state, detail, report) {
      const slot = slots.get(name);
      if (!slot) return;
      if (state === 'running') {
        slot.running = true;
        slot.output = `running${detail ? ` (${detail})` : ''}`;
        if (slot.task) {
          slot.task.title = name;
          slot.task.output = slot.output;
        }
        return;
      }
      slot.settle({ state, detail, report });
    },
    progress(name, tracker: ProgressTracker) {
      const slot = slots.get(name);
      if (!slot) return;
      slot.tracker = tracker;
      slot.output = tracker.render();
      if (slot.task) slot.task.output = slot.output;
    },
    output(name, line) {
      // The stage's latest line, under its bar when it reports progress, else on its own.
      const slot = slots.get(name);
      if (!slot) return;
      const text = line.length > 120 ? `${line.slice(0, 117)}...` : line;
      slot.output = slot.tracker ? `${slot.tracker.render()}\n${text}` : text;
      if (slot.task) slot.task.output = slot.output;
    },
    async finish() {
      await running;
    },
  };
}

export interface WatchSessionView {
  /** A reporter for the next iteration: its stages appear under the session's task. */
  makeReporter(): Reporter;
  /** A session line (an iteration's summary, a notice): kept in the view above the stages. */
  say(line: string): void;
  /** Ends the view (after the last iteration). */
  close(): Promise<void>;
}

/** Session lines kept in the live view; older ones scroll out. */
const SESSION_LINES = 12;

/**
 * One live view for a whole `grow watch` session: a parent task whose title carries the latest
 * session lines (what changed, why each stage ran, each iteration's outcome), and under it the
 * stages of the current iteration, replaced when the next one starts. listr2 attaches subtasks only
 * to a task whose function returns them, once; so each iteration's list runs silently on its own
 * and is attached to the parent task (`subtasks`), which the one renderer draws.
 */
export function listrWatchSession(title = 'grow watch'): WatchSessionView {
  const lines: string[] = [];
  let parent: AnyTask | undefined;
  let parentReady!: (t: AnyTask) => void;
  const ready = new Promise<AnyTask>((r) => (parentReady = r));
  let endSession!: () => void;
  const ended = new Promise<void>((r) => (endSession = r));
  const retitle = () => {
    if (parent) parent.title = [title, ...lines.map((l) => `  ${l}`)].join('\n');
  };
  const root = new Listr(
    [
      {
        title,
        task: async (_ctx: unknown, task: AnyTask) => {
          parent = task;
          retitle();
          parentReady(task);
          await ended;
        },
      },
    ] as never,
    {
      ...NO_SIGNALS,
      exitOnError: false,
      rendererOptions: { collapseSubtasks: false, showSkipMessage: true, collapseSkips: false } as never,
    },
  );
  const view = root.run().catch(() => undefined);

  const mount: Mount = async (top) => {
    const task = await ready;
    const list = task.newListr(top, {
      ...NO_SIGNALS,
      concurrent: true,
      exitOnError: false,
      renderer: 'silent',
    } as never) as unknown as Listr;
    (task.task as unknown as { subtasks: unknown }).subtasks = (list as unknown as { tasks: unknown }).tasks;
    return list.run();
  };

  return {
    makeReporter: () => listrReporter(mount),
    say(line) {
      lines.push(...line.split('\n'));
      lines.splice(0, Math.max(0, lines.length - SESSION_LINES));
      retitle();
    },
    async close() {
      endSession();
      await view;
    },
  };
}
