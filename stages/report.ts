/**
 * Stage `report`: the paper-ready summary of a run, in artifacts/report/:
 *   index.html  self-contained page (inline CSS and SVG charts; opens offline)
 *   report.md   the same in Markdown, with the charts as SVG files beside it
 *   table.tex   the comparison table (booktabs)
 *   *.svg       validation loss vs TFLOPs and vs wall time (large models), small models' curves
 *
 * Reads artifacts/eval/metrics.json, artifacts/profile/profile.json and every model's
 * metrics.jsonl. Params keys read: seeds, small.models, growth.methods, continue.source, report.{title,
 * kind}, train.{eval_batches, batch_size}, model.block_size, eval.{split, max_tokens}.
 *
 * The report says what produced it (params file and overrides, commit, seeds, backend, machine) and
 * carries a banner when it is not a result (src/report/provenance.ts).
 */
import { execFileSync } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { EVAL_FILE, PROFILE_FILE, REPORT_DIR } from '../src/experiment/artifacts/layout.ts';
import { readEvalMetrics } from '../src/experiment/eval-metrics.ts';
import type { ProfileReport } from '../src/experiment/profile.ts';
import { readJsonWithTimings } from '../src/experiment/timings.ts';
import { assembleReport } from '../src/report/assemble.ts';
import { writeReport } from '../src/report/index.ts';
import { RUN_KINDS, type RunKind, bannerFor, describeParams } from '../src/report/provenance.ts';
import { experimentRefs } from './lib/experiment.ts';
import { runMain } from './lib/main.ts';
import { loadParams, parseArgs } from './lib/params.ts';

function git(root: string, ...args: string[]): string | null {
  try {
    return execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

async function main(): Promise<void> {
  const args = parseArgs();
  const params = loadParams(args.params);
  const root = resolve(process.env.GROW_ROOT ?? '.');
  const evalMetrics = readEvalMetrics(join(root, EVAL_FILE));
  const profile = readJsonWithTimings(join(root, PROFILE_FILE), root) as ProfileReport;
  const kind = params.opt<string>('report.kind', 'quick');
  if (!(RUN_KINDS as readonly string[]).includes(kind))
    throw new Error(`${params.file}: report.kind must be one of ${RUN_KINDS.join(', ')}, got ${JSON.stringify(kind)}`);
  const seeds = params.get<number[]>('seeds');
  const commit = git(root, 'rev-parse', 'HEAD');
  // The run itself rewrites pipeline.lock; anything else uncommitted means the commit is not the code.
  const status = commit === null ? null : git(root, 'status', '--porcelain', '--untracked-files=no', '--', '.', ':!pipeline.lock');
  const dirty = status === null ? null : status !== '';
  const valTokens = params.num('train.eval_batches') * params.num('train.batch_size') * params.num('model.block_size');
  const input = assembleReport({
    root,
    refs: experimentRefs(params),
    evalMetrics,
    profile,
    title: params.str('report.title'),
    banner: bannerFor({ kind: kind as RunKind, seeds, commit, dirty }),
    facts: {
      'run kind': kind,
      params: describeParams(params.file, process.env.GROW_PARAMS_OVERRIDES),
      commit: commit === null ? 'unknown (not a git checkout)' : `${commit}${dirty ? ' + uncommitted changes' : ''}`,
      'headline split':
        `validation: M0's final loss and each model's reach point are read on the trainer's validation set, ` +
        `${valTokens.toLocaleString('en-US')} tokens (${params.num('train.eval_batches')} batches) of the D1 + D2 val stream per evaluation`,
      'table split': `${params.str('eval.split')}, up to ${params.num('eval.max_tokens').toLocaleString('en-US')} tokens per dataset`,
      machine: `${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB; Node ${process.version}`,
      'wall time': 'per run as measured by the training loop (steps only), on this machine as loaded at the time',
    },
  });
  const files = await writeReport(input, resolve(root, args.out ?? REPORT_DIR));
  console.log(`report: wrote ${files.join(', ')} to ${args.out ?? REPORT_DIR}`);
}

runMain(import.meta, 'report', main);
