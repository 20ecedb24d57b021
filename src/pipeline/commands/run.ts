/** `grow run [targets…]` (alias `repro`): run the stale stages and record the run as an experiment. */
import { availableParallelism } from 'node:os';
import { Option, type Command } from 'commander';
import { EXIT } from '../errors.ts';
import type { RunSummary } from '../run/events.ts';
import { checkName, checkNewName, recordExperiment } from '../exp/experiments.ts';
import { overlayNote } from '../show/overlay-note.ts';
import { acquireProcessLock } from '../run/runner-mutex.ts';
import { Project, runOverlays } from '../project/project.ts';
import { DEFAULT_SLURM_JOBS, runPipeline, type RunOptions } from '../run/scheduler.ts';
import { handleInterrupts } from '../run/signals.ts';
import { plainReporter } from '../show/plain-reporter.ts';
import { chooseReporter, collect, err, out, positiveInt } from './options.ts';

/**
 * `grow run`'s options as commander parses them: the run options whose flag has the same name,
 * plus the ones the command itself handles (params overlays open the project; quiet and name are
 * about output and recording).
 */
type RunFlags = Pick<
  RunOptions,
  'force' | 'forceDownstream' | 'downstream' | 'singleItem' | 'dry' | 'jobs' | 'slurmJobs' | 'keepGoing' | 'executor'
> & {
  /** commander's `--no-run-cache`: always set. */
  runCache: boolean;
  set?: string[];
  params?: string[];
  quiet?: boolean;
  name?: string;
};

export function registerRun(program: Command): void {
  program
    .command('run')
    .alias('repro')
    .description('run the stale stages of the pipeline (all, or the given targets and what they depend on)')
    .argument('[targets...]', 'stage names (train_small@1), foreach/matrix groups (train_small)')
    .option('-f, --force', 'run the selected stages even if up to date (bypasses the run-cache)')
    .option('--force-downstream', 'run every stage below a stage that ran, even if its inputs did not change (no early cut-off)')
    .option('--downstream', 'also run the stages that depend on the targets, not the ones they depend on')
    .option('-s, --single-item', 'run only the targets themselves, not their upstream stages')
    .option('--dry', 'print what would run and why; run nothing, write nothing')
    .option(
      '-j, --jobs <n>',
      `local stages to run in parallel (default: number of cores, ${availableParallelism()} here); given, it also bounds Slurm jobs`,
      positiveInt,
    )
    .option('--slurm-jobs <n>', `Slurm jobs submitted at once (default: -j if given, else ${DEFAULT_SLURM_JOBS})`, positiveInt)
    .option('-k, --keep-going', 'after a failure, keep running stages that do not depend on it')
    .option('--no-run-cache', 'never restore outs from the run-cache; run stale stages')
    .option('--set <key=value>', 'override a params value for this run (repeatable; file:key=value for another file)', collect)
    .option('--params <file>', 'lay a params file over the default params file (repeatable)', collect)
    .addOption(new Option('--executor <name>', 'where stages without their own `executor` run').choices(['local', 'slurm']))
    .option('-q, --quiet', 'print only failures')
    .option('-n, --name <name>', 'name the experiment this run records (default: a generated name; see `grow exp show`)')
    .addHelpText(
      'after',
      `
Examples:
  grow run                      run every stale stage
  grow run train_small -j 2     the train_small@* stages (and what they need), two at a time
  grow run evaluate --dry       show what would run and why
  grow run --set train.lr=0.001 try another learning rate without editing params files`,
    )
    .action(runCommand);
}

async function runCommand(targets: string[], flags: RunFlags): Promise<void> {
  if (flags.name !== undefined) checkName(flags.name);
  const project = await Project.open({ overlays: flags.params, set: flags.set, readOnly: flags.dry });
  if (flags.name !== undefined && !flags.dry) checkNewName(project.root, flags.name);
  // --dry writes nothing, so it needs neither the process lock nor interrupt handling.
  const lock = flags.dry ? undefined : acquireProcessLock(project.root);
  const interrupts = flags.dry ? undefined : handleInterrupts();
  try {
    // The flags named as RunOptions pass through; the project is already open with the overlays.
    const summary = await runPipeline({
      ...flags,
      project,
      targets,
      signal: interrupts?.signal,
      reporter: flags.dry ? plainReporter() : await chooseReporter(flags.quiet),
    });
    summarize(summary, flags.quiet, flags.dry ? undefined : project);
    process.exitCode = summary.exitCode;
    if (flags.dry) {
      const note = overlayNote(project, { overlays: flags.params, set: flags.set }, `run ${[...targets, '--dry'].join(' ')}`);
      if (note) out(note);
    }
    if (!flags.dry && summary.exitCode === EXIT.ok) {
      const o = runOverlays(project.root, { overlays: flags.params, set: flags.set });
      const e = recordExperiment(project, { name: flags.name, overlays: o.params, set: o.set });
      if (e && !flags.quiet) out(`recorded as experiment ${e.name} (see \`grow exp show\`)`);
    }
  } finally {
    interrupts?.dispose();
    lock?.release();
  }
}

function summarize(summary: RunSummary, quiet = false, project?: Project): void {
  const counts = new Map<string, number>();
  for (const s of summary.stages) counts.set(s.outcome, (counts.get(s.outcome) ?? 0) + 1);
  const parts = [...counts].map(([k, n]) => `${n} ${k}`);
  if (!quiet)
    out(
      summary.stages.length
        ? `${summary.stages.length} stage${summary.stages.length === 1 ? '' : 's'}: ${parts.join(', ')}`
        : 'nothing to run',
    );
  // The outs stages mark `show: true`: what the user ran the pipeline for, now in place.
  const ready = new Set(['done', 'restored', 'up to date']);
  const shown =
    project && !quiet
      ? summary.stages
          .filter((s) => ready.has(s.outcome))
          .flatMap(
            (s) =>
              project.byName
                .get(s.name)
                ?.outs.filter((o) => o.show)
                .map((o) => o.path) ?? [],
          )
      : [];
  if (shown.length) out(`result${shown.length === 1 ? '' : 's'}: ${shown.join(', ')}`);
  for (const s of summary.stages) if (s.outcome === 'failed') err(`grow: stage \`${s.name}\` failed: ${s.message ?? ''}`);
}
