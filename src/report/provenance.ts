/**
 * What produced a report, and whether it may be quoted. Every report states the params file and
 * the overrides laid over it, the commit and whether the tree was clean, the seeds, the backend
 * and the machine; a run that is not a result (a smoke run, the one-seed quick look, too few
 * seeds, uncommitted code) carries a banner above everything else saying so.
 */

/** `report.kind` in the params: what the run is meant to be. */
export type RunKind = 'smoke' | 'quick' | 'study';

export const RUN_KINDS: readonly RunKind[] = ['smoke', 'quick', 'study'];

/** Fewer reporting seeds than this and a mean has no useful interval. */
const MIN_REPORT_SEEDS = 5;

export interface RunFacts {
  kind: RunKind;
  seeds: number[];
  /** Git commit of the code that ran; null outside a git checkout (e.g. `grow verify`'s copy). */
  commit: string | null;
  /** Uncommitted changes to tracked files (pipeline.lock aside); null when unknown. */
  dirty: boolean | null;
}

export function bannerFor(f: RunFacts): string[] {
  const out: string[] = [];
  if (f.kind === 'smoke') {
    out.push(
      'SMOKE RUN — NOT A RESULT. Tiny models on a few thousand sentences (report.kind: smoke); the numbers only show that the pipeline runs end to end and say nothing about growth.',
    );
  } else if (f.kind === 'quick') {
    out.push(
      `QUICK LOOK — NOT THE STUDY. ${f.seeds.length} seed(s), one compute budget, no tuning of its own and no interval (report.kind: quick). ` +
        'Read it as a first look; the study configuration (params/study.yaml) is what answers the question.',
    );
  }
  if (f.kind === 'study' && f.seeds.length < MIN_REPORT_SEEDS) {
    out.push(
      `ONLY ${f.seeds.length} REPORTING SEED(S): a study reports on at least ${MIN_REPORT_SEEDS} seeds disjoint from the tuning seeds; these intervals are not to be quoted.`,
    );
  }
  if (f.dirty === true)
    out.push(
      'UNCOMMITTED CHANGES: the working tree differed from the recorded commit when this ran, so the commit does not identify the code.',
    );
  if (f.commit === null) out.push('NO COMMIT RECORDED: this ran outside a git checkout, so nothing identifies the code that produced it.');
  return out;
}

/** The params as the stages saw them: the file, and the runner's overrides (--params overlays, --set) verbatim. */
export function describeParams(file: string, overridesJson: string | undefined): string {
  if (!overridesJson) return `${file} (no overlay, no --set)`;
  let patch: unknown;
  try {
    patch = (JSON.parse(overridesJson) as Record<string, unknown>)[file];
  } catch {
    return `${file} with unreadable overrides`;
  }
  return patch === undefined
    ? `${file} (no overlay, no --set)`
    : `${file} with these values laid over it (--params overlays and --set): ${JSON.stringify(patch)}`;
}
