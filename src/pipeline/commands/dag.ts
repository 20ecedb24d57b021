/** `grow dag`: the stage graph as ASCII, Mermaid or Graphviz dot. */
import type { Command } from 'commander';
import { renderDag, type DagFormat } from '../show/dag.ts';
import { Project } from '../project/project.ts';
import { out } from './options.ts';

export function registerDag(program: Command): void {
  program
    .command('dag')
    .description('print the stage graph (ASCII by default)')
    .option('--mermaid', 'as a Mermaid flowchart (paste into Markdown)')
    .option('--dot', 'as Graphviz dot (grow dag --dot | dot -Tsvg > dag.svg)')
    .addHelpText(
      'after',
      `
Examples:
  grow dag
  grow dag --mermaid`,
    )
    .action(async (flags: { mermaid?: boolean; dot?: boolean }) => {
      const project = await Project.open();
      const format: DagFormat = flags.mermaid ? 'mermaid' : flags.dot ? 'dot' : 'ascii';
      out(renderDag(project, format));
    });
}
