/**
 * The `grow` command line (commander). `bin/grow.js` calls `main(argv)`; it sets
 * process.exitCode: 0 ok, 1 a stage failed, 2 usage or configuration error, 3 stale
 * (`status --check`), 130 interrupted. A GrowError prints its message and hint, never a stack.
 */
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { checkout } from './checkout.ts';
import { ioGrowError } from './io-error.ts';
import { renderDag, type DagFormat } from './dag.ts';
import { diffJson, diffJsonText, formatDiff, formatShow, metricsDiff, metricsShow, paramsDiff, showJson } from './diff.ts';
import { explainStage, formatExplanation } from './explain.ts';
import { EXIT, GrowError } from './errors.ts';
import { collectGarbage, DEFAULT_KEEP_RUNS, parseAge, parseSize } from './gc.ts';
import { acquireProcessLock } from './process-lock.ts';
// issue 6 (watch/verify): commands registered by their own modules
import { registerVerify } from './commands/verify.ts';
import { registerWatch } from './commands/watch.ts';
// issue 7 (shared cache): `grow push` / `grow pull` to a second cache directory
import { registerTransferCommands } from './commands/transfer.ts';
import { registerExp } from './commands/exp.ts';
import { chooseReporter, collect, err, nonNegativeInt, out, positiveInt } from './commands/options.ts';
import { checkName, checkNewName, experimentLockEntries, recordExperiment } from './experiments.ts';
import { overlayNote } from './overlay-note.ts';
import { filterMetrics } from './metrics-view.ts';
import { Project, runOverlays } from './project.ts';
import type { RunSummary } from './events.ts';
import { DEFAULT_SLURM_JOBS, runPipeline, type RunOptions } from './scheduler.ts';
import { handleInterrupts } from './signals.ts';
import { formatStatus, pipelineStatus } from './status-report.ts';
import { plainReporter } from './ui.ts';

function version(): string {
  try {
    return (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  } catch {
    // dist/src/pipeline/cli.js sits one level deeper than src/pipeline/cli.ts
    return (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
  }
}

/**
 * `grow run`'s options as commander parses them: the run options whose flag has the same name,
 * plus the ones the command itself handles (params overlays open the project; quiet and name are
 * about output and recording).
 */
type RunFlags = Pick<RunOptions, 'force' | 'forceDownstream' | 'downstream' | 'singleItem' | 'dry' | 'jobs' | 'slurmJobs' | 'keepGoing' | 'executor'> & {
  /** commander's `--no-run-cache`: always set. */
  runCache: boolean;
  set?: string[];
  params?: string[];
  quiet?: boolean;
  name?: string;
};

function summarize(summary: RunSummary, quiet = false, project?: Project): void {
  const counts = new Map<string, number>();
  for (const s of summary.stages) counts.set(s.outcome, (counts.get(s.outcome) ?? 0) + 1);
  const parts = [...counts].map(([k, n]) => `${n} ${k}`);
  if (!quiet) out(summary.stages.length ? `${summary.stages.length} stage${summary.stages.length === 1 ? '' : 's'}: ${parts.join(', ')}` : 'nothing to run');
  // The outs stages mark `show: true`: what the user ran the pipeline for, now in place.
  const ready = new Set(['done', 'restored', 'up to date']);
  const shown = project && !quiet
    ? summary.stages.filter((s) => ready.has(s.outcome)).flatMap((s) => project.byName.get(s.name)?.outs.filter((o) => o.show).map((o) => o.path) ?? [])
    : [];
  if (shown.length) out(`result${shown.length === 1 ? '' : 's'}: ${shown.join(', ')}`);
  for (const s of summary.stages) if (s.outcome === 'failed') err(`grow: stage \`${s.name}\` failed: ${s.message ?? ''}`);
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
      const e = recordExperiment(project, { name: flags.name, ...runOverlaysOf(project, flags) });
      if (e && !flags.quiet) out(`recorded as experiment ${e.name} (see \`grow exp show\`)`);
    }
  } finally {
    interrupts?.dispose();
    lock?.release();
  }
}

function runOverlaysOf(project: Project, flags: { params?: string[]; set?: string[] }): { overlays: string[]; set: string[] } {
  const o = runOverlays(project.root, { overlays: flags.params, set: flags.set });
  return { overlays: o.params, set: o.set };
}

/** Prints the overlay note for a comparing command: after the text, or on stderr beside JSON. */
function noteOverlays(project: Project, flags: { params?: string[]; set?: string[]; json?: boolean }, command: string): void {
  const note = overlayNote(project, { overlays: flags.params, set: flags.set }, command);
  if (note) (flags.json ? err : out)(note);
}

/**
 * Why the project's cache counts as shared with other clones, or undefined when it is the project's
 * own: set through GROW_CACHE_DIR, or a cache.dir outside the project root.
 */
function sharedCacheSource(root: string, cacheDir: string): string | undefined {
  if (process.env.GROW_CACHE_DIR && resolve(cacheDir) !== join(root, '.grow', 'cache')) return 'set by GROW_CACHE_DIR';
  const rel = relative(root, cacheDir);
  if (rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) return 'cache.dir lies outside the project';
  return undefined;
}

export function buildProgram(): Command {
  const program = new Command('grow')
    .description('A content-hashed, incremental pipeline runner: runs the stages of pipeline.yaml whose inputs changed.')
    .version(version(), '-V, --version')
    .option('--no-color', 'no colors in any output (as NO_COLOR=1)')
    .hook('preAction', (cmd) => {
      // Read by listr2's colors when the live view loads, after this.
      if (cmd.opts().color === false) process.env.NO_COLOR = '1';
    })
    .showHelpAfterError('(run `grow --help` or `grow <command> --help` for usage)')
    .addHelpText('after', `
Exit codes: 0 ok, 1 a stage failed, 2 usage or configuration error, 3 stale (status --check), 130 interrupted.
Docs: docs/cli.md`);

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
    .option('-j, --jobs <n>', `local stages to run in parallel (default: number of cores, ${availableParallelism()} here); given, it also bounds Slurm jobs`, positiveInt)
    .option('--slurm-jobs <n>', `Slurm jobs submitted at once (default: -j if given, else ${DEFAULT_SLURM_JOBS})`, positiveInt)
    .option('-k, --keep-going', 'after a failure, keep running stages that do not depend on it')
    .option('--no-run-cache', 'never restore outs from the run-cache; run stale stages')
    .option('--set <key=value>', 'override a params value for this run (repeatable; file:key=value for another file)', collect)
    .option('--params <file>', 'lay a params file over the default params file (repeatable)', collect)
    .addOption(new Option('--executor <name>', 'where stages without their own `executor` run').choices(['local', 'slurm']))
    .option('-q, --quiet', 'print only failures')
    .option('-n, --name <name>', 'name the experiment this run records (default: a generated name; see `grow exp show`)')
    .addHelpText('after', `
Examples:
  grow run                      run every stale stage
  grow run train_small -j 2     the train_small@* stages (and what they need), two at a time
  grow run evaluate --dry       show what would run and why
  grow run --set train.lr=0.001 try another learning rate without editing params files`)
    .action(runCommand);

  program
    .command('status')
    .description('show which stages are stale and why (runs nothing)')
    .argument('[targets...]', 'stage or group names (default: all)')
    .option('--json', 'print a JSON array of {name, state, reasons}')
    .option('--check', 'exit with code 3 when any stage is stale (for CI)')
    .option('--set <key=value>', 'as for run: status under these params overrides', collect)
    .option('--params <file>', 'as for run: status under this params overlay', collect)
    .addHelpText('after', `
Examples:
  grow status
  grow status --json
  grow status --check            # CI: fails (exit 3) when pipeline.lock is not up to date`)
    .action(async (targets: string[], flags: { json?: boolean; check?: boolean; set?: string[]; params?: string[] }) => {
      const project = await Project.open({ overlays: flags.params, set: flags.set });
      const list = await pipelineStatus(project, targets);
      out(flags.json ? JSON.stringify(list, null, 2) : formatStatus(list));
      noteOverlays(project, flags, ['status', ...targets].join(' '));
      if (flags.check && list.some((s) => s.state === 'stale')) process.exitCode = EXIT.stale;
    });

  program
    .command('explain')
    .description('show every component of a stage\'s fingerprint (cmd, dep hashes, params values, outs) now and in the lock')
    .argument('<stage>', 'a stage name, e.g. train or train_small@1')
    .option('--json', 'print the comparison as JSON')
    .option('--set <key=value>', 'as for run: explain under these params overrides', collect)
    .option('--params <file>', 'as for run: explain under this params overlay', collect)
    .addHelpText('after', `
Lines marked ≠ differ from pipeline.lock and are why the stage would re-run.
Examples:
  grow explain train_small@1
  grow explain train --params params/smoke.yaml`)
    .action(async (name: string, flags: { json?: boolean; set?: string[]; params?: string[] }) => {
      const project = await Project.open({ overlays: flags.params, set: flags.set });
      const e = await explainStage(project, name);
      out(flags.json ? JSON.stringify(e, null, 2) : formatExplanation(e));
      noteOverlays(project, flags, `explain ${name}`);
    });

  program
    .command('dag')
    .description('print the stage graph (ASCII by default)')
    .option('--mermaid', 'as a Mermaid flowchart (paste into Markdown)')
    .option('--dot', 'as Graphviz dot (grow dag --dot | dot -Tsvg > dag.svg)')
    .addHelpText('after', `
Examples:
  grow dag
  grow dag --mermaid`)
    .action(async (flags: { mermaid?: boolean; dot?: boolean }) => {
      const project = await Project.open();
      const format: DagFormat = flags.mermaid ? 'mermaid' : flags.dot ? 'dot' : 'ascii';
      out(renderDag(project, format));
    });

  const params = program.command('params').description('inspect params values');
  params
    .command('diff')
    .description('params values the stages list: pipeline.lock (or a git revision\'s params files) vs the workspace')
    .argument('[rev]', 'a git revision; without it, compare against what pipeline.lock recorded')
    .option('--json', 'print {file: {key: {old, new, change}}}')
    .option('--all', 'include unchanged values')
    .option('--set <key=value>', 'compare under these overrides, as for run', collect)
    .option('--params <file>', 'compare under this params overlay, as for run', collect)
    .addHelpText('after', `
Examples:
  grow params diff                  what changed since the results in pipeline.lock were made
  grow params diff HEAD~1 --json`)
    .action(async (rev: string | undefined, flags: { json?: boolean; all?: boolean; set?: string[]; params?: string[] }) => {
      const project = await Project.open({ overlays: flags.params, set: flags.set });
      const rows = paramsDiff(project, rev, flags.all);
      out(flags.json ? diffJsonText(rows) : formatDiff(rows, rev ?? 'lock'));
      if (rev === undefined) noteOverlays(project, flags, 'params diff');
    });

  const metrics = program.command('metrics').description('inspect the metrics files stages declare under `metrics:`');
  metrics
    .command('show')
    .description('print the metrics in the workspace (numbers, rounded to 5 significant digits)')
    .argument('[targets...]', 'metrics files, or stages whose metrics to show (default: all)')
    .option('-k, --key <glob>', 'only keys matching this glob, e.g. "*loss*" or "models[*].acc" (repeatable)', collect)
    .option('--precision <n>', 'significant digits (default 5; --json is unrounded unless given)', positiveInt)
    .option('--all', 'also values that are not numbers (strings, booleans)')
    .option('--json', 'print {file: {key: value}}')
    .addHelpText('after', `
Examples:
  grow metrics show
  grow metrics show evaluate -k '*.loss' --precision 3
  grow metrics show artifacts/metrics/eval.json --all --json`)
    .action(async (targets: string[], flags: { json?: boolean; key?: string[]; precision?: number; all?: boolean }) => {
      const project = await Project.open();
      const rows = filterMetrics(project, metricsShow(project), {
        targets, keys: flags.key, all: flags.all, precision: flags.precision ?? (flags.json ? undefined : 5),
      });
      out(flags.json ? JSON.stringify(showJson(rows), null, 2) : formatShow(rows));
    });
  metrics
    .command('diff')
    .description('compare metrics at a git revision (default HEAD) with the workspace')
    .argument('[rev]', 'a git revision (default HEAD)')
    .option('--json', 'print {file: {key: {old, new, change}}}')
    .option('--all', 'include unchanged metrics')
    .addHelpText('after', '\nExamples:\n  grow metrics diff\n  grow metrics diff main --json')
    .action(async (rev: string | undefined, flags: { json?: boolean; all?: boolean }) => {
      const project = await Project.open();
      const rows = metricsDiff(project, rev ?? 'HEAD', flags.all);
      out(flags.json ? JSON.stringify(diffJson(rows), null, 2) : formatDiff(rows, rev ?? 'HEAD'));
    });

  program
    .command('checkout')
    .description('restore the outs recorded in pipeline.lock from the cache')
    .argument('[targets...]', 'stage or group names (default: every stage in the lock)')
    .addHelpText('after', `
Examples:
  grow checkout                 make the workspace match pipeline.lock
  grow checkout train_small     only the outs of the train_small@* stages`)
    .action(async (targets: string[]) => {
      const project = await Project.open();
      const lock = acquireProcessLock(project.root);
      try {
        const r = await checkout(project, targets);
        for (const p of r.restored) out(`restored ${p}`);
        for (const [p, why] of r.failed) err(`grow: cannot restore ${p}: ${why}`);
        out(`${r.restored.length} restored, ${r.unchanged.length} already up to date${r.failed.size ? `, ${r.failed.size} missing` : ''}`);
        if (r.failed.size) process.exitCode = EXIT.stageFailed;
      } finally {
        lock.release();
      }
    });

  program
    .command('gc')
    .description('remove cache objects that neither pipeline.lock, an experiment nor a kept run-cache entry references')
    .option('--keep-runs <n>', `run-cache entries kept per stage, most recently used first (default ${DEFAULT_KEEP_RUNS})`, nonNegativeInt())
    .option('--older-than <age>', 'also drop run-cache entries unused for this long: 30d, 12h, 2w, 90m', (v) => {
      const ms = parseAge(v);
      if (ms === null) throw new InvalidArgumentError('expected an age such as 30d, 12h, 2w or 90m');
      return ms;
    })
    .option('--max-size <size>', 'drop least recently used run-cache entries until the cache fits: 2G, 500M (lock outs are always kept)', (v) => {
      const n = parseSize(v);
      if (n === null) throw new InvalidArgumentError('expected a size such as 2G or 500M');
      return n;
    })
    .option('--dry', 'print what would be removed; remove nothing')
    .option('-f, --force', 'proceed on a shared cache (GROW_CACHE_DIR, or cache.dir outside the project)')
    .addHelpText('after', `
A shared cache (GROW_CACHE_DIR, or cache.dir outside the project) also holds other clones' objects,
which this project's lock does not protect: gc then warns and removes nothing without --force.
Policy: objects referenced by pipeline.lock are never removed. Run-cache entries are kept per stage
(the --keep-runs most recently used), minus those older than --older-than, minus the least recently
used ones while the cache exceeds --max-size; then every object no kept entry references is removed.
Examples:
  grow gc
  grow gc --keep-runs 5 --older-than 30d
  grow gc --max-size 2G --dry`)
    .action(async (flags: { keepRuns?: number; olderThan?: number; maxSize?: number; dry?: boolean; force?: boolean }) => {
      const project = await Project.open();
      const shared = sharedCacheSource(project.root, project.config.cacheDir);
      if (shared) {
        // gc only knows this clone's lock: objects other clones' locks need would look unreferenced.
        err(`grow: warning: the cache ${project.config.cacheDir} is shared (${shared}); gc keeps only what this project's pipeline.lock and kept run-cache entries reference, so objects other clones still need may be removed`);
        if (!flags.force && !flags.dry) {
          throw new GrowError('refusing to collect garbage in a shared cache without --force', EXIT.usage,
            'run `grow gc --dry` to see what would go, then `grow gc --force` if no other clone needs it');
        }
      }
      const lock = acquireProcessLock(project.root);
      try {
        // Experiments' results are kept like the lock's, so `grow exp apply` can restore them.
        const keep = [...project.lock.entries().values(), ...experimentLockEntries(project.root)];
        const r = collectGarbage(project.cache, project.runCache, keep, {
          keepRuns: flags.keepRuns,
          olderThanMs: flags.olderThan,
          maxSize: flags.maxSize,
          dry: flags.dry,
        });
        const mb = (b: number) => `${(b / 1024 ** 2).toFixed(1)} MB`;
        out(`${flags.dry ? 'would remove' : 'removed'} ${r.removedObjects} objects (${mb(r.removedBytes)}) and ${r.removedRuns} run-cache entries; kept ${r.keptObjects} objects (${mb(r.keptBytes)})`);
      } finally {
        lock.release();
      }
    });

  // issue 6: `grow verify` (CI reproducibility check) and `grow watch`
  registerVerify(program);
  registerWatch(program);
  // issue 7: `grow push` / `grow pull`
  registerTransferCommands(program);
  registerExp(program);

  return program;
}

export async function main(argv: string[]): Promise<void> {
  // `grow dag | head`: a closed pipe ends the output, not in a stack trace.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
      throw e;
    });
  }
  const program = buildProgram();
  const override = (c: Command): void => {
    c.exitOverride();
    c.commands.forEach(override);
  };
  override(program);
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) {
      // help and --version end with code 0; every other commander error is a usage error.
      process.exitCode = e.exitCode === 0 ? EXIT.ok : EXIT.usage;
      return;
    }
    // A full disk or a permission problem anywhere is the user's to fix: one line, no stack.
    const g = e instanceof GrowError ? e : ioGrowError(e);
    if (g) {
      err(`grow: ${g.message}`);
      if (g.hint) err(`hint: ${g.hint}`);
      process.exitCode = g.exitCode;
      return;
    }
    throw e;
  }
}
