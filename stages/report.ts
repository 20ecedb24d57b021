/**
 * Stage `report`: the paper-ready summary of a run, in artifacts/report/:
 *   index.html  self-contained page (inline CSS and SVG charts; opens offline)
 *   report.md   the same in Markdown, with the charts as SVG files beside it
 *   table.tex   the comparison table (booktabs)
 *   *.svg       validation loss vs TFLOPs and vs wall time (large models), small models' curves
 *
 * Reads artifacts/eval/metrics.json, artifacts/profile/profile.json and every model's
 * metrics.jsonl. Params keys read: seeds, small.models, growth.methods, report.title.
 */
import { readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { readEvalMetrics } from '../src/experiment/eval-metrics.ts';
import type { ProfileReport } from '../src/experiment/profile.ts';
import { assembleReport } from '../src/report/assemble.ts';
import { writeReport } from '../src/report/index.ts';
import { experimentRefs } from './lib/experiment.ts';
import { runMain } from './lib/main.ts';
import { loadParams, parseArgs } from './lib/params.ts';

export const REPORT_DIR = 'artifacts/report';

async function main(): Promise<void> {
  const args = parseArgs();
  const params = loadParams(args.params);
  const root = resolve(process.env.GROW_ROOT ?? '.');
  const evalMetrics = readEvalMetrics(join(root, 'artifacts/eval/metrics.json'));
  const profile = JSON.parse(readFileSync(join(root, 'artifacts/profile/profile.json'), 'utf8')) as ProfileReport;
  const input = assembleReport({
    root,
    refs: experimentRefs(params),
    evalMetrics,
    profile,
    title: params.str('report.title'),
    facts: {
      machine: `${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB; Node ${process.version}`,
      'wall time': 'per run as measured by the training loop (steps only), on this machine as loaded at the time',
    },
  });
  const files = await writeReport(input, resolve(root, args.out ?? REPORT_DIR));
  console.log(`report: wrote ${files.join(', ')} to ${args.out ?? REPORT_DIR}`);
}

runMain(import.meta, 'report', main);
