/**
 * How a run is shown. `plainReporter` prints one line per state change (and throttled progress
 * lines) — what CI logs and tests see; `listrReporter` (live-reporter.ts) draws a live task list on a TTY.
 */
import { formatDuration } from '../run/progress.ts';
import type { Reporter } from '../run/events.ts';

const PROGRESS_EVERY_MS = 2000;

const firstLine = (text: string | undefined): string => (text ?? '').split('\n', 1)[0].trim();

export function plainReporter(write: (line: string) => void = (l) => process.stdout.write(`${l}\n`), quiet = false): Reporter {
  const lastProgress = new Map<string, number>();
  return {
    start() {},
    update(name, state, detail, report) {
      if (quiet && state !== 'failed') return;
      const duration =
        report?.durationMs !== undefined && (state === 'done' || state === 'failed') ? ` in ${formatDuration(report.durationMs)}` : '';
      // Why it ended, in the executor's words ("Slurm job 53 was cancelled (scancel…)", "…exceeded
      // its time limit…"): the first line only, the log tail comes with the final error summary.
      const why = firstLine(report?.message);
      if (state === 'failed') write(`✖ ${name}: failed${duration}${why ? `: ${why}` : ''}`);
      else if (state === 'cancelled') write(`! ${name}: cancelled${why && why !== 'cancelled' ? ` (${why})` : ''}`);
      else if (state === 'skipped') write(`- ${name}: skipped (${detail ?? report?.message ?? ''})`);
      else if (state === 'running') write(`▶ ${name}: running${detail ? ` (${detail})` : ''}`);
      else if (state === 'would run') write(`• ${name}: would run (${detail})`);
      else if (state === 'would restore') write(`• ${name}: would restore from the run-cache (${detail})`);
      else if (state === 'done') write(`✔ ${name}: done${duration}`);
      else if (state === 'restored') write(`✔ ${name}: restored from run-cache`);
      else if (state === 'frozen') write(`❄ ${name}: frozen${detail ? ` (would run: ${detail})` : ''}`);
      else write(`${state === 'up to date' ? '✔' : '!'} ${name}: ${state}`);
    },
    progress(name, tracker) {
      if (quiet) return;
      const now = Date.now();
      const done = tracker.total > 0 && tracker.current >= tracker.total;
      if (!done && now - (lastProgress.get(name) ?? 0) < PROGRESS_EVERY_MS) return;
      lastProgress.set(name, now);
      write(`  ${name}: ${tracker.render()}`);
    },
    async finish() {},
  };
}
