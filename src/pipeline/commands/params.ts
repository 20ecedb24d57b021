/** `grow params diff [rev]`: the params values the stages list, then and now. */
import type { Command } from 'commander';
import { diffJsonText, formatDiff, paramsDiff } from '../show/diff.ts';
import { Project } from '../project/project.ts';
import { collect, noteOverlays, out } from './options.ts';

export function registerParams(program: Command): void {
  const params = program.command('params').description('inspect params values');
  params
    .command('diff')
    .description("params values the stages list: pipeline.lock (or a git revision's params files) vs the workspace")
    .argument('[rev]', 'a git revision; without it, compare against what pipeline.lock recorded')
    .option('--json', 'print {file: {key: {old, new, change}}}')
    .option('--all', 'include unchanged values')
    .option('--set <key=value>', 'compare under these overrides, as for run', collect)
    .option('--params <file>', 'compare under this params overlay, as for run', collect)
    .addHelpText(
      'after',
      `
Examples:
  grow params diff                  what changed since the results in pipeline.lock were made
  grow params diff HEAD~1 --json`,
    )
    .action(async (rev: string | undefined, flags: { json?: boolean; all?: boolean; set?: string[]; params?: string[] }) => {
      const project = await Project.open({ overlays: flags.params, set: flags.set });
      const rows = paramsDiff(project, rev, flags.all);
      out(flags.json ? diffJsonText(rows) : formatDiff(rows, rev ?? 'lock'));
      if (rev === undefined) noteOverlays(project, flags, 'params diff');
    });
}
