/**
 * Stages `study_select` and `study_report` (the runs themselves are stages/train.ts, as
 * study_tune@… and study_run@…; docs/experiment.md "The study").
 *
 *   node --import tsx stages/study.ts --do select   artifacts/study/tune/<method>/lr<lr>-w<w> → artifacts/study/selected.json
 *   node --import tsx stages/study.ts --do report   artifacts/study/run/b<budget>/s<seed>/<method> → artifacts/study/report/
 *
 * Params keys read: study.{methods, lrs, warmups, tune_seed, seeds, budgets}, continue.source,
 * and for the report's facts backend, report.title.
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import type { TopLevelSpec } from 'vega-lite';
import { readCurve, readGrowthCharge, readTrainSummary } from '../src/experiment/run-files.ts';
import { CONTINUE_METHOD, modelRef } from '../src/experiment/artifacts/layout.ts';
import { type StudyCell, type StudyRun, type TuneRun, endLossOf, selectHyper, summariseStudy } from '../src/experiment/study.ts';
import type { Spread } from '../src/experiment/savings.ts';
import { renderSvg } from '../src/report/charts.ts';
import { bannerFor, describeParams } from '../src/report/provenance.ts';
import { runMain } from './lib/main.ts';
import { loadParams, parseArgs, type Params } from './lib/params.ts';

const SELECTED_FILE = 'artifacts/study/selected.json';
/** The same selection, one file per method (study_run's dep). */
const SELECTED_DIR = 'artifacts/study/selected';
const STUDY_REPORT_DIR = 'artifacts/study/report';

const tuneDir = (method: string, lr: number, warmup: number) => `artifacts/study/tune/${method}/lr${lr}-w${warmup}`;
const runDir = (method: string, budget: number, seed: number) => `artifacts/study/run/b${budget}/s${seed}/${method}`;

function list<T>(p: Params, key: string): T[] {
  const v = p.get<T[]>(key);
  if (!Array.isArray(v) || v.length === 0) throw new Error(`${p.file}: ${key} must be a non-empty list`);
  return v;
}

function checkSeeds(p: Params): void {
  const tune = p.num('study.tune_seed');
  const report = list<number>(p, 'study.seeds');
  if (report.includes(tune)) {
    throw new Error(
      `${p.file}: study.seeds ${JSON.stringify(report)} contains the tuning seed ${tune}; the reporting seeds must be disjoint from it (pick another study.tune_seed)`,
    );
  }
}

function select(p: Params, root: string): void {
  checkSeeds(p);
  const runs: TuneRun[] = [];
  for (const method of list<string>(p, 'study.methods')) {
    for (const lr of list<number>(p, 'study.lrs')) {
      for (const warmup of list<number>(p, 'study.warmups')) {
        const t = readTrainSummary(join(root, tuneDir(method, lr, warmup)));
        runs.push({ method, lr, warmup, final_val_loss: t.full_val_loss ?? t.final_val_loss ?? Number.NaN });
      }
    }
  }
  const sel = selectHyper(runs, p.num('study.tune_seed'));
  mkdirSync(join(root, 'artifacts/study'), { recursive: true });
  writeFileSync(join(root, SELECTED_FILE), JSON.stringify(sel, null, 2) + '\n');
  // One file per method as well, in the same format: each study_run depends on its own method's
  // file only, so a selection that changes for one method re-runs that method's runs, not all.
  mkdirSync(join(root, SELECTED_DIR), { recursive: true });
  for (const [m, s] of Object.entries(sel.selected)) {
    const own = { tune_seed: sel.tune_seed, selected: { [m]: s } };
    writeFileSync(join(root, SELECTED_DIR, `${m}.json`), JSON.stringify(own, null, 2) + '\n');
  }
  for (const [m, s] of Object.entries(sel.selected))
    console.log(`study_select: ${m}: lr ${s.lr}, warmup ${s.warmup} (tuning-seed val loss ${s.val_loss.toFixed(4)})`);
}

/** Training FLOPs of a small model, read from its train.json. */
function smallFlops(root: string, dir: string): number {
  return readTrainSummary(resolve(root, dir)).flops;
}

function studyRun(p: Params, root: string, method: string, budget: number, seed: number): StudyRun {
  const dir = join(root, runDir(method, budget, seed));
  const t = readTrainSummary(dir);
  let sources: string[] = [];
  let charged = 0;
  if (method === CONTINUE_METHOD) {
    sources = [modelRef('small', seed, { index: p.num('continue.source') }).dir];
  } else if (method !== 'm0') {
    const g = readGrowthCharge(join(root, modelRef('m1p', seed, { method }).dir));
    sources = g.sources.map((s) => s.path);
    charged = g.operator_flops;
  }
  charged += sources.reduce((a, s) => a + smallFlops(root, s), 0);
  return {
    method,
    budget,
    seed,
    curve: readCurve(dir),
    val_loss: t.full_val_loss,
    flops: t.flops,
    wall_s: t.wall_s,
    charged_flops: charged,
    charged_sources: sources,
  };
}

const pct = (x: number | null) => (x === null ? '–' : `${x >= 0 ? '+' : '−'}${Math.abs(100 * x).toFixed(1)} %`);
const nats = (x: number | null) => (x === null ? '–' : `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(4)}`);

function cellText(s: Spread, fmt: (x: number | null) => string): string {
  if (s.mean === null) return '–';
  if (s.n === 1) return `${fmt(s.mean)} (1 seed)`;
  return `${fmt(s.mean)} ± ${fmt(s.std).replace(/^[+−]/, '')}${s.ci95 ? ` [${fmt(s.ci95[0])}, ${fmt(s.ci95[1])}]` : ''}`;
}

/** Main figure: final validation loss vs total compute (small models included), mean and 95 % interval over seeds. */
function figureSpec(cells: StudyCell[]): TopLevelSpec {
  const values = cells.map((c) => ({
    method: c.method,
    budget: c.budget,
    tflops: c.total_flops / 1e12,
    loss: c.final_val_loss.mean,
    lo: c.final_val_loss.ci95?.[0] ?? c.final_val_loss.mean,
    hi: c.final_val_loss.ci95?.[1] ?? c.final_val_loss.mean,
  }));
  const x = {
    field: 'tflops',
    type: 'quantitative',
    title: 'total training TFLOPs (small models the method used included)',
    scale: { type: 'log' },
  };
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: 'Final validation loss vs total compute (mean and 95 % t-interval over the reporting seeds)',
    width: 560,
    height: 320,
    data: { values },
    layer: [
      {
        mark: { type: 'line', point: true },
        encoding: {
          x,
          y: { field: 'loss', type: 'quantitative', title: 'validation loss (nats/token, D1+D2)', scale: { zero: false } },
          color: { field: 'method', type: 'nominal' },
        },
      },
      {
        mark: { type: 'rule' },
        encoding: { x, y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' }, color: { field: 'method', type: 'nominal' } },
      },
    ],
  } as TopLevelSpec;
}

function git(root: string, ...args: string[]): string | null {
  try {
    return execFileSync('git', args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

async function report(p: Params, root: string): Promise<void> {
  checkSeeds(p);
  const seeds = list<number>(p, 'study.seeds');
  const runs: StudyRun[] = [];
  for (const budget of list<number>(p, 'study.budgets')) {
    for (const seed of seeds) for (const method of list<string>(p, 'study.methods')) runs.push(studyRun(p, root, method, budget, seed));
  }
  const cells = summariseStudy(runs);
  const endLoss = endLossOf(runs);
  const selected = JSON.parse(readFileSync(join(root, SELECTED_FILE), 'utf8'));
  const commit = git(root, 'rev-parse', 'HEAD');
  const status = commit === null ? null : git(root, 'status', '--porcelain', '--untracked-files=no', '--', '.', ':!pipeline.lock');
  const kind = p.opt<string>('report.kind', 'study');
  const banner = bannerFor({ kind: kind === 'smoke' ? 'smoke' : 'study', seeds, commit, dirty: status === null ? null : status !== '' });
  const out = join(root, STUDY_REPORT_DIR);
  mkdirSync(out, { recursive: true });
  writeFileSync(
    join(out, 'study.json'),
    JSON.stringify(
      {
        schema: 1,
        selected,
        cells,
        loss_split: endLoss.split,
        runs: runs.map(({ curve, ...r }) => ({ ...r, sample_val_loss: curve.at(-1)?.val_loss ?? null })),
      },
      null,
      2,
    ) + '\n',
  );
  writeFileSync(join(out, 'loss-vs-compute.svg'), await renderSvg(figureSpec(cells)));
  const lines = [
    `# Study: ${p.opt<string>('report.title', 'growing a large GPT from small ones')}`,
    '',
    ...banner.map((b) => `> **${b}**\n>`),
    '',
    `- **params**: ${describeParams(p.file, process.env.GROW_PARAMS_OVERRIDES)}`,
    `- **commit**: ${commit ?? 'unknown (not a git checkout)'}${status ? ' + uncommitted changes' : ''}`,
    `- **tuning seed**: ${p.num('study.tune_seed')}; **reporting seeds**: ${seeds.join(', ')}`,
    `- **backend**: ${p.opt<string>('backend', 'auto')}; **machine**: ${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`,
    endLoss.split === 'full'
      ? "- **split**: final losses, their differences and the selection are on the whole validation split (D1 + D2); the saving's reach point is read on the curves' periodic sample (train.eval_batches batches), M0's target included"
      : "- **split**: every loss here is on the curves' periodic validation sample (train.eval_batches batches of D1 + D2 val), not the whole split",
    '',
    '## Protocol: hyper-parameters selected on the tuning seed',
    '',
    `Grid lr ∈ {${list<number>(p, 'study.lrs').join(', ')}} × warmup ∈ {${list<number>(p, 'study.warmups').join(', ')}}, the same for every method; rule: ${selected.rule}.`,
    '',
    '| Method | lr | warmup | tuning-seed val loss |',
    '| --- | --- | --- | --- |',
    ...Object.entries(selected.selected as Record<string, { lr: number; warmup: number; val_loss: number }>).map(
      ([m, s]) => `| ${m} | ${s.lr} | ${s.warmup} | ${s.val_loss.toFixed(4)} |`,
    ),
    '',
    '## Per budget and method (reporting seeds): mean ± sd [95 % t-interval]',
    '',
    "Total compute counts the method's own training plus the small models it used (merge all, fpi and the continued small model one) and any operator. Saving = 1 − (FLOPs to reach M0's final loss + charged FLOPs) / M0's FLOPs, over the seeds that reached it.",
    '',
    '| Budget (× M0 steps) | Method | Charged sources | Total TFLOPs | Final val loss | Δ vs M0 (nats) | Reached M0 | Saving incl. small |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
    ...cells.map(
      (c) =>
        `| ${c.budget} | ${c.method} | ${c.charged_sources.map((s) => s.replace(/^artifacts\/models\//, '').replace(/\/s\d+\//, '/s<seed>/')).join(' + ') || '–'} | ${(c.total_flops / 1e12).toFixed(4)} | ${cellText(c.final_val_loss, (x) => (x === null ? '–' : x.toFixed(4)))} | ${c.method === 'm0' ? '0' : cellText(c.delta_vs_m0, nats)} | ${c.method === 'm0' ? '–' : `${c.reached}/${c.seeds.length}`} | ${c.method === 'm0' ? '–' : cellText(c.saving_with_small, pct)} |`,
    ),
    '',
    '## Per seed: final validation loss',
    '',
    `| Budget | Seed | ${list<string>(p, 'study.methods').join(' | ')} |`,
    `| --- | --- | ${list<string>(p, 'study.methods')
      .map(() => '---')
      .join(' | ')} |`,
    ...list<number>(p, 'study.budgets').flatMap((b) =>
      seeds.map(
        (seed) =>
          `| ${b} | ${seed} | ${list<string>(p, 'study.methods')
            .map((m) => {
              const r = runs.find((x) => x.method === m && x.budget === b && x.seed === seed);
              return r ? endLoss.loss(r).toFixed(4) : '–';
            })
            .join(' | ')} |`,
      ),
    ),
    '',
    '![Final validation loss vs total compute](loss-vs-compute.svg)',
    '',
  ];
  writeFileSync(join(out, 'study.md'), lines.join('\n'));
  console.log(`study_report: ${cells.length} cells over ${seeds.length} seeds → ${STUDY_REPORT_DIR}/study.md`);
}

async function main(): Promise<void> {
  const args = parseArgs();
  const p = loadParams(args.params);
  const root = resolve(process.env.GROW_ROOT ?? '.');
  if (args.do === 'select') return select(p, root);
  if (args.do === 'report') return report(p, root);
  throw new Error(`stages/study.ts: --do must be select or report, got ${JSON.stringify(args.do)}`);
}

runMain(import.meta, 'study', main);
