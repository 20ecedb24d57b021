/** `grow metrics show` and `grow metrics diff`: the metrics files stages declare. */
import type { Command } from 'commander';
import { diffJson, formatDiff, formatShow, metricsDiff, metricsShow, showJson } from '../show/diff.ts';
import { filterMetrics } from '../show/metrics-view.ts';
import { Project } from '../project/project.ts';
import { collect, out, positiveInt } from './options.ts';

export function registerMetrics(program: Command): void {
  const metrics = program.command('metrics').description('inspect the metrics files stages declare under `metrics:`');
  metrics
    .command('show')
    .description('print the metrics in the workspace (numbers, rounded to 5 significant digits)')
    .argument('[targets...]', 'metrics files, or stages whose metrics to show (default: all)')
    .option('-k, --key <glob>', 'only keys matching this glob, e.g. "*loss*" or "models[*].acc" (repeatable)', collect)
    .option('--precision <n>', 'significant digits (default 5; --json is unrounded unless given)', positiveInt)
    .option('--all', 'also values that are not numbers (strings, booleans)')
    .option('--json', 'print {file: {key: value}}')
    .addHelpText(
      'after',
      `
Examples:
  grow metrics show
  grow metrics show evaluate -k '*.loss' --precision 3
  grow metrics show artifacts/metrics/eval.json --all --json`,
    )
    .action(async (targets: string[], flags: { json?: boolean; key?: string[]; precision?: number; all?: boolean }) => {
      const project = await Project.open();
      const rows = filterMetrics(project, metricsShow(project), {
        targets,
        keys: flags.key,
        all: flags.all,
        precision: flags.precision ?? (flags.json ? undefined : 5),
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
}
