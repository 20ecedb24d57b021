/**
 * What the commands share: argument parsers for commander options, the output helpers, the
 * choice between the live terminal view and plain lines, and the note about params overlays.
 * Parsed once here so every command rejects a bad `-j` with the same words.
 */
import { InvalidArgumentError } from 'commander';
import type { Reporter } from '../run/events.ts';
import { overlayNote } from '../show/overlay-note.ts';
import type { Project } from '../project/project.ts';
import { plainReporter } from '../show/plain-reporter.ts';

/** For repeatable options (`--set a=1 --set b=2`): each occurrence is appended. */
export const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

export function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer');
  return n;
}

/** A whole number ≥ 0; `what` names it in the error ("a whole number of milliseconds"). */
export function nonNegativeInt(what = 'a non-negative integer'): (v: string) => number {
  return (v) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < 0) throw new InvalidArgumentError(`expected ${what}`);
    return n;
  };
}

export const out = (text: string): void => {
  process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
};
export const err = (text: string): void => {
  process.stderr.write(text.endsWith('\n') ? text : `${text}\n`);
};
export const warn = (text: string): void => {
  process.stderr.write(`grow: warning: ${text}\n`);
};

/** A terminal that can redraw lines (not CI, not a pipe, not TERM=dumb) gets the live view. */
export function liveTerminal(): boolean {
  return Boolean(process.stdout.isTTY) && !process.env.CI && process.env.TERM !== 'dumb';
}

export async function chooseReporter(quiet: boolean | undefined): Promise<Reporter> {
  // listr2 is only loaded for the live terminal view.
  if (!quiet && liveTerminal()) return (await import('../show/live-reporter.ts')).listrReporter();
  return plainReporter(undefined, quiet);
}

/** Prints the overlay note for a comparing command: after the text, or on stderr beside JSON. */
export function noteOverlays(project: Project, flags: { params?: string[]; set?: string[]; json?: boolean }, command: string): void {
  const note = overlayNote(project, { overlays: flags.params, set: flags.set }, command);
  if (note) (flags.json ? err : out)(note);
}
