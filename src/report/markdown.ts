/** report.md: the headline, the tables, and links to the charts' SVG files beside it. */
import type { Chart } from './charts.ts';
import type { ReportInput } from './data.ts';
import { type Table, comparisonTable, equalFlopsTable, headlines, methodTable, profileTable } from './table.ts';

function mdEscape(cell: string): string {
  return cell.replace(/\|/g, '\\|');
}

function markdownTable(t: Table): string {
  const line = (cells: string[]) => `| ${cells.map(mdEscape).join(' | ')} |`;
  const header =
    t.groups.length > 1
      ? t.header.map((h, i) => {
          let col = 0;
          for (const [g, span] of t.groups) {
            if (i < col + span) return g ? `${g} ${h}` : h;
            col += span;
          }
          return h;
        })
      : t.header;
  return [line(header), line(header.map(() => '---')), ...t.rows.map(line)].join('\n');
}

export function renderMarkdown(input: ReportInput, charts: Chart[]): string {
  const facts = Object.entries(input.facts).map(([k, v]) => `- **${k}**: ${v}`);
  const parts = [
    `# ${input.title}`,
    ...(input.banner ? [input.banner.map((b) => `> **${b}**`).join('\n>\n')] : []),
    facts.join('\n'),
    '## Headline',
    headlines(input)
      .map((h) => `- ${h}`)
      .join('\n') || '- no grown model in this run',
    '## Models',
    "Loss is the mean next-token cross-entropy (nats) on each dataset's held-out test split; ppl = exp(loss); acc = next-token accuracy. " +
      "Train TFLOPs and wall time are each model's own training run (for M1: refinement only). " +
      'Saving = 1 − (FLOPs M1 needed to reach M0\'s final validation loss) / (M0\'s FLOPs); "incl. small" also charges M1 for the small models and the growth operator.',
    markdownTable(comparisonTable(input)),
  ];
  if (input.savings.length > 0) {
    parts.push(
      '## Validation loss at equal compute',
      "M0's validation loss interpolated at the FLOPs M1 spent (refine only, and with the small models' and operator's cost added), beside M1's final validation loss. \"–\": M0 never trained that long.",
      markdownTable(equalFlopsTable(input)),
    );
  }
  if (input.byMethod.length > 0) parts.push('## Growth methods over seeds', markdownTable(methodTable(input)));
  parts.push('## Charts', charts.map((c) => `![${c.title}](${c.name}.svg)`).join('\n\n'));
  if (input.profile.length > 0) parts.push('## Profile', markdownTable(profileTable(input)));
  return parts.join('\n\n') + '\n';
}
