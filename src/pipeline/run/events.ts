/**
 * What a run tells its reporters: each stage's state as it changes, its progress, its output
 * lines, and the final report. The scheduler emits these and knows nothing of how they are shown;
 * the reporters (show/plain-reporter.ts: plain lines; show/live-reporter.ts: the live terminal view) only consume them.
 */
import type { ProgressTracker } from './progress.ts';
import type { Stage } from '../types.ts';

export type Outcome = 'up to date' | 'restored' | 'done' | 'failed' | 'skipped' | 'frozen' | 'would run' | 'would restore' | 'cancelled';

export interface StageReport {
  name: string;
  outcome: Outcome;
  reasons: string[];
  /** Why it failed or was skipped. */
  message?: string;
  durationMs?: number;
  /** For `skipped`: the upstream stage that failed, was skipped or was cancelled. */
  blockedBy?: string;
  /** The input signature (cmd, dep hashes, params values, out paths) it ran or failed with. */
  signature?: string;
}

export interface RunSummary {
  stages: StageReport[];
  exitCode: number;
}

export type StageState = Outcome | 'running';

export interface Reporter {
  start(stages: Stage[]): void;
  update(name: string, state: StageState, detail?: string, report?: StageReport): void;
  progress(name: string, tracker: ProgressTracker): void;
  /** A line the stage printed (not a ::progress line); views may show the latest one. */
  output?(name: string, line: string): void;
  finish(): Promise<void>;
}

export const silentReporter: Reporter = {
  start() {},
  update() {},
  progress() {},
  async finish() {},
};
