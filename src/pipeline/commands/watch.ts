/** `grow watch [targets…]`: re-run what each change affects until Ctrl-C (see ../run/watch.ts). */
import type { Command } from 'commander';
import { EXIT } from '../errors.ts';
import { acquireProcessLock } from '../run/runner-mutex.ts';
import { findRoot } from '../project/project.ts';
import { handleInterrupts } from '../run/signals.ts';
import type { Reporter } from '../run/events.ts';
import { plainReporter } from '../show/plain-reporter.ts';
import { collect, liveTerminal, nonNegativeInt, positiveInt } from './options.ts';

interface WatchFlags {
  debounce?: number;
  jobs?: number;
  set?: string[];
  params?: string[];
}

/**
 * On a terminal, one live listr2 view for the whole session (iteration summaries above the current
 * iteration's stages); plain lines in CI and pipes (as `grow run`).
 */
async function sessionView(): Promise<{ makeReporter: () => Reporter; say?: (line: string) => void; close: () => Promise<void> }> {
  if (liveTerminal()) return (await import('../show/live-reporter.ts')).listrWatchSession();
  return { makeReporter: () => plainReporter(), close: async () => {} };
}

export function registerWatch(program: Command): void {
  program
    .command('watch')
    .description(
      'run the stale stages, then watch their deps and params files and re-run exactly what each change affects (Ctrl-C to stop)',
    )
    .argument('[targets...]', 'stage or group names (default: all)')
    .option('--debounce <ms>', 'quiet time after the last change before running', nonNegativeInt('a whole number of milliseconds'), 200)
    .option('-j, --jobs <n>', 'stages to run in parallel', positiveInt)
    .option('--set <key=value>', 'as for run: override a params value for the whole session', collect)
    .option('--params <file>', 'as for run: lay a params file over the default one', collect)
    .addHelpText(
      'after',
      `
Watches every dep (never outs, .grow/ or node_modules/) and params file of the selected stages, and
pipeline.yaml. A params edit re-runs only the stages whose listed keys changed value. A change
during a run queues one more iteration; running stages marked \`interruptible: true\` whose inputs
it changes are stopped (alone: other stages finish) and rescheduled. A stage that failed waits
until one of its inputs really changes.

Examples:
  grow watch
  grow watch report --debounce 500`,
    )
    .action(async (targets: string[], flags: WatchFlags) => {
      const root = findRoot(process.cwd());
      // A watch session is a runner: it holds the process lock for its whole life.
      const lock = acquireProcessLock(root);
      // Ctrl-C stops watching and cancels the running iteration (children killed, finished stages
      // recorded); a second Ctrl-C exits at once.
      const interrupts = handleInterrupts();
      try {
        const { watchPipeline } = await import('../run/watch.ts');
        const view = await sessionView();
        const code = await watchPipeline({
          cwd: root,
          targets,
          debounceMs: flags.debounce,
          jobs: flags.jobs,
          overlays: flags.params,
          set: flags.set,
          makeReporter: view.makeReporter,
          say: view.say,
          signal: interrupts.signal,
        }).finally(() => view.close());
        process.exitCode = code === 130 ? EXIT.interrupted : code;
      } finally {
        interrupts.dispose();
        lock.release();
      }
    });
}
