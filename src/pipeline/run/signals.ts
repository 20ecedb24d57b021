/**
 * SIGINT/SIGTERM → a clean stop. The first signal aborts the run's AbortSignal: executors stop
 * their stages (process group SIGTERM, SIGKILL after a grace period), stages that already finished
 * are recorded, and the command exits 130. A second signal means "now": the stages' process groups
 * get SIGKILL and we exit 130 at once (exit handlers still release the process lock), leaving only
 * what is already recorded.
 *
 * Stage processes run in their own process groups, so a terminal's Ctrl-C reaches only the runner,
 * which is what lets it decide the order: stop children, record, release, exit.
 */
import { EXIT } from '../errors.ts';
import { killStageGroups, ownStageGroups } from './orphans.ts';

export type StopSignal = 'SIGINT' | 'SIGTERM' | 'SIGHUP';

/** The abort reason: lets callers tell an interruption from other aborts. */
export class Interrupted extends Error {
  readonly exitCode = EXIT.interrupted;
  constructor(readonly signal: StopSignal) {
    super(`interrupted by ${signal}`);
    this.name = 'Interrupted';
  }
}

export interface InterruptHandling {
  readonly signal: AbortSignal;
  /** The signal that stopped us, if any. */
  readonly received: () => StopSignal | undefined;
  /** Removes the handlers (call when the command is done). */
  dispose(): void;
}

export interface InterruptOptions {
  /** Where the one-line messages go (default stderr). */
  say?: (line: string) => void;
  /** What "again" means (default: exit 130 now). Tests and watch may override. */
  onSecondSignal?: (sig: StopSignal) => void;
}

export function handleInterrupts(opts: InterruptOptions = {}): InterruptHandling {
  const controller = new AbortController();
  const say = opts.say ?? ((line: string) => process.stderr.write(line + '\n'));
  let received: StopSignal | undefined;
  // Stage groups as they were when the first signal came. A group outlives its leader (the stage's
  // shell may die of SIGTERM while a child that ignores it lives on), and then it is no longer
  // recognisable as ours; remembering it lets a second signal still SIGKILL it.
  let groupsAtFirstSignal: number[] = [];
  const onSignal = (sig: StopSignal) => {
    if (received) {
      say(`grow: ${sig} again: killing running stages and exiting now`);
      if (opts.onSecondSignal) opts.onSecondSignal(sig);
      else {
        // No time for the grace period: SIGKILL what we started, so nothing outlives us.
        killStageGroups(groupsAtFirstSignal);
        process.exit(EXIT.interrupted);
      }
      return;
    }
    received = sig;
    groupsAtFirstSignal = ownStageGroups();
    say(`grow: ${sig}: stopping running stages and recording finished ones (send it again to exit at once)`);
    controller.abort(new Interrupted(sig));
  };
  const signals: StopSignal[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  const handlers = signals.map((sig) => {
    const h = () => onSignal(sig);
    process.on(sig, h);
    return [sig, h] as const;
  });
  return {
    signal: controller.signal,
    received: () => received,
    dispose: () => {
      for (const [sig, h] of handlers) process.off(sig, h);
    },
  };
}
