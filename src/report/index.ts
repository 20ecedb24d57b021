/** Writes a whole report directory: index.html, report.md, table.tex and one SVG per chart. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildCharts } from './charts.ts';
import type { ReportInput } from './data.ts';
import { renderHtml } from './html.ts';
import { renderLatex } from './latex.ts';
import { renderMarkdown } from './markdown.ts';

export async function writeReport(input: ReportInput, dir: string): Promise<string[]> {
  mkdirSync(dir, { recursive: true });
  const charts = await buildCharts(input);
  const files: Record<string, string> = {
    'index.html': renderHtml(input, charts),
    'report.md': renderMarkdown(input, charts),
    'table.tex': renderLatex(input),
  };
  for (const c of charts) files[`${c.name}.svg`] = c.svg;
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return Object.keys(files);
}
