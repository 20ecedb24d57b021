/**
 * pipeline.lock records the overlays (`--params` files, `--set`s) of the run that wrote it. A
 * command that compares the workspace with the lock under other overlays (typically none, after a
 * smoke run) would call every stage stale for params the user never edited: it says so, and how to
 * compare under the lock's own overlays.
 */
import type { LockOverlays } from '../store/lockfile.ts';
import { runOverlays, type OpenOptions, type Project } from '../project/project.ts';
import { canonicalJson } from '../plan/stale-reasons.ts';

const quote = (s: string) => (/^[\w./:=@+,-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

/** The command-line flags that give these overlays. */
export function overlayFlags(o: LockOverlays): string {
  return [...o.params.map((f) => `--params ${quote(f)}`), ...o.set.map((s) => `--set ${quote(s)}`)].join(' ');
}

/**
 * A note when the lock was written under overlays other than `given` (undefined when they are the
 * same, or the lock records none). `command` is the grow command to repeat, e.g. `status train`.
 */
export function overlayNote(project: Project, given: OpenOptions, command: string): string | undefined {
  const recorded = project.lock.overlays();
  if (recorded.params.length === 0 && recorded.set.length === 0) return undefined;
  const now = runOverlays(project.root, given);
  if (canonicalJson(recorded) === canonicalJson(now)) return undefined;
  const nowText = now.params.length || now.set.length ? `under ${overlayFlags(now)}` : 'against the params files alone';
  return (
    `note: pipeline.lock was written by a run with ${overlayFlags(recorded)}; this compares ${nowText}. ` +
    `To compare with those results: grow ${command} ${overlayFlags(recorded)}`
  );
}
