/** `grow status [targets…]`: which stages are stale and why (runs nothing). */
import type { Command } from 'commander';
import { EXIT } from '../errors.ts';
import { Project } from '../project/project.ts';
import { formatStatus, pipelineStatus } from '../show/status.ts';
import { collect, noteOverlays, out } from './options.ts';

export function registerStatus(program: Command): void {
  program
    .command('status')
    .description('show which stages are stale and why (runs nothing)')
    .argument('[targets...]', 'stage or group names (default: all)')
    .option('--json', 'print a JSON array of {name, state, reasons}')
    .option('--check', 'exit with code 3 when any stage is stale (for CI)')
    .option('--set <key=value>', 'as for run: status under these params overrides', collect)
    .option('--params <file>', 'as for run: status under this params overlay', collect)
    .addHelpText(
      'after',
      `
Examples:
  grow status
  grow status --json
  grow status --check            # CI: fails (exit 3) when pipeline.lock is not up to date`,
    )
    .action(async (targets: string[], flags: { json?: boolean; check?: boolean; set?: string[]; params?: string[] }) => {
      const project = await Project.open({ overlays: flags.params, set: flags.set });
      const list = await pipelineStatus(project, targets);
      out(flags.json ? JSON.stringify(list, null, 2) : formatStatus(list));
      noteOverlays(project, flags, ['status', ...targets].join(' '));
      if (flags.check && list.some((s) => s.state === 'stale')) process.exitCode = EXIT.stale;
    });
}
