/** `grow explain <stage>`: every component of a stage's fingerprint, now and in the lock. */
import type { Command } from 'commander';
import { explainStage, formatExplanation } from '../show/explain.ts';
import { Project } from '../project/project.ts';
import { collect, noteOverlays, out } from './options.ts';

export function registerExplain(program: Command): void {
  program
    .command('explain')
    .description("show every component of a stage's fingerprint (cmd, dep hashes, params values, outs) now and in the lock")
    .argument('<stage>', 'a stage name, e.g. train or train_small@1')
    .option('--json', 'print the comparison as JSON')
    .option('--set <key=value>', 'as for run: explain under these params overrides', collect)
    .option('--params <file>', 'as for run: explain under this params overlay', collect)
    .addHelpText(
      'after',
      `
Lines marked ≠ differ from pipeline.lock and are why the stage would re-run.
Examples:
  grow explain train_small@1
  grow explain train --params params/smoke.yaml`,
    )
    .action(async (name: string, flags: { json?: boolean; set?: string[]; params?: string[] }) => {
      const project = await Project.open({ overlays: flags.params, set: flags.set });
      const e = await explainStage(project, name);
      out(flags.json ? JSON.stringify(e, null, 2) : formatExplanation(e));
      noteOverlays(project, flags, `explain ${name}`);
    });
}
