/**
 * The live view on a terminal: a listr2 task list with one task per stage (foreach/matrix items
 * grouped under their group), showing up to date / restored / running (bar, %, ETA, latest
 * values) / done (duration) / failed / skipped. The scheduler decides; this only renders.
 */
import { Listr, type ListrTaskWrapper } from 'listr2';
import { formatDuration, type ProgressTracker } from './progress.ts';
import type { StageReport } from './scheduler.ts';
import type { Stage } from './types.ts';
import type { Reporter, StageState } from './ui.ts';

type AnyTask = ListrTaskWrapper<unknown, never, never>;

interface Slot {
  task?: AnyTask;
  done: Promise<{ state: StageState; detail?: string; report?: StageReport }>;
  settle: (v: { state: StageState; detail?: string; report?: StageReport }) => void;
  output?: string;
  tracker?: ProgressTracker;
}

export function listrReporter(): Reporter {
  const slots = new Map<string, Slot>();
  let running: Promise<unknown> = Promise.resolve();

  const stageTask = (stage: Stage, label: string) => ({
    title: label,
    task: async (_ctx: unknown, task: AnyTask) => {
      const slot = slots.get(stage.name)!;
      slot.task = task;
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
              task.newListr(members.map((m) => stageTask(m, m.name)), { concurrent: true, exitOnError: false })) as never,
          });
        }
        groups.get(s.group)!.push(s);
      }
      const list = new Listr(top as never, {
        concurrent: true,
        exitOnError: false,
        rendererOptions: { collapseSubtasks: false, showSkipMessage: true, collapseSkips: true } as never,
      });
      running = list.run().catch(() => undefined);
    },
    update(name, state, detail, report) {
      const slot = slots.get(name);
      if (!slot) return;
      if (state === 'running') {
        slot.output = `running${detail ? ` (${detail})` : ''}`;
        if (slot.task) slot.task.output = slot.output;
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
