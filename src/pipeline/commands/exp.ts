/** `grow exp show|diff|apply|remove`: list, compare and restore recorded runs (see ../exp/experiments.ts). */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { EXIT, GrowError } from '../errors.ts';
import {
  applyExperiment,
  checkName,
  checkNewName,
  generateName,
  recordExperiment,
  getExperiment,
  listExperiments,
  removeExperiment,
  type Experiment,
} from '../exp/experiments.ts';
import { rmSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { writeFileAtomic } from '../../util/atomic-write.ts';
import { acquireProcessLock } from '../run/runner-mutex.ts';
import { findRoot, Project, runOverlays } from '../project/project.ts';
import { runPipeline } from '../run/scheduler.ts';
import { handleInterrupts } from '../run/signals.ts';
import { grid, isolatedCopy, parseSweep } from '../exp/sweep.ts';
import type { Reporter } from '../run/events.ts';
import { plainReporter } from '../show/plain-reporter.ts';
import { globToRegExp } from '../show/metrics-view.ts';
import { canonicalJson } from '../plan/stale-reasons.ts';
import { formatTable } from '../show/table.ts';

import { chooseReporter, collect, out, positiveInt, warn } from './options.ts';

function precisionArg(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > 17) throw new InvalidArgumentError('expected significant digits, 1 to 17');
  return n;
}

export interface Column {
  kind: 'param' | 'metric';
  file: string;
  key: string;
  /** The key alone when no other file has it, else `file:key`. */
  label: string;
}

export interface ShowTable {
  columns: Column[];
  rows: { exp: Experiment; values: unknown[] }[];
}

function labelColumns(list: Omit<Column, 'label'>[]): Column[] {
  const count = new Map<string, number>();
  for (const c of list) count.set(`${c.kind}\0${c.key}`, (count.get(`${c.kind}\0${c.key}`) ?? 0) + 1);
  return list.map((c) => ({ ...c, label: count.get(`${c.kind}\0${c.key}`)! > 1 ? `${c.file}:${c.key}` : c.key }));
}

const cellValue = (e: Experiment, c: Omit<Column, 'label'>): unknown => (c.kind === 'param' ? e.params : e.metrics)[c.file]?.[c.key];

/**
 * Experiments as rows; as columns the params that vary between them or that an overlay changed,
 * and the metrics with a numeric value (all metrics with `allMetrics`).
 */
export function buildShowTable(exps: Experiment[], opts: { columns?: string[]; allMetrics?: boolean } = {}): ShowTable {
  const params: Omit<Column, 'label'>[] = [];
  const files = [...new Set(exps.flatMap((e) => Object.keys(e.params)))].sort();
  for (const file of files) {
    const keys = [...new Set(exps.flatMap((e) => Object.keys(e.params[file] ?? {})))].sort();
    for (const key of keys) {
      const values = new Set(exps.map((e) => canonicalJson(e.params[file]?.[key])));
      const changed = exps.some((e) => e.changed[file]?.includes(key));
      if (values.size > 1 || changed) params.push({ kind: 'param', file, key });
    }
  }
  const metrics: Omit<Column, 'label'>[] = [];
  const mfiles = [...new Set(exps.flatMap((e) => Object.keys(e.metrics)))].sort();
  for (const file of mfiles) {
    const keys = [...new Set(exps.flatMap((e) => Object.keys(e.metrics[file] ?? {})))];
    for (const key of keys) {
      if (opts.allMetrics || exps.some((e) => typeof e.metrics[file]?.[key] === 'number')) metrics.push({ kind: 'metric', file, key });
    }
  }
  let columns = labelColumns([...params, ...metrics]);
  if (opts.columns?.length) {
    const res = opts.columns.map(globToRegExp);
    columns = columns.filter((c) => res.some((re) => re.test(c.label) || re.test(c.key) || re.test(`${c.file}:${c.key}`)));
  }
  return { columns, rows: exps.map((exp) => ({ exp, values: columns.map((c) => cellValue(exp, c)) })) };
}

export function sortTable(t: ShowTable, by: string, descending = false): void {
  const i = t.columns.findIndex((c) => c.label === by || c.key === by || `${c.file}:${c.key}` === by);
  const key = (r: ShowTable['rows'][number]): unknown => (by === 'name' ? r.exp.name : by === 'time' ? r.exp.time : r.values[i]);
  if (i < 0 && by !== 'name' && by !== 'time') {
    throw new GrowError(
      `--sort-by: no column \`${by}\``,
      EXIT.usage,
      `sort by name, time or one of: ${t.columns.map((c) => c.label).join(', ') || '(no params or metrics columns)'}`,
    );
  }
  const cmp = (a: unknown, b: unknown): number => {
    // Experiments without the value go last whichever the order.
    if (a === undefined || a === null) return b === undefined || b === null ? 0 : 1;
    if (b === undefined || b === null) return -1;
    const d = typeof a === 'number' && typeof b === 'number' ? a - b : String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0;
    return descending ? -d : d;
  };
  t.rows.sort((x, y) => cmp(key(x), key(y)));
}

/** A value as text: numbers to `precision` significant digits when given. */
export function formatValue(v: unknown, precision?: number): string {
  if (v === undefined || v === null) return '-';
  if (typeof v === 'number')
    return precision === undefined || (Number.isInteger(v) && Math.abs(v) < 10 ** precision)
      ? String(v)
      : String(Number(v.toPrecision(precision)));
  return typeof v === 'string' ? v : JSON.stringify(v);
}

const shortTime = (iso: string) => iso.slice(0, 16).replace('T', ' ');

export function formatShowTable(t: ShowTable, format: 'table' | 'csv' | 'md', precision?: number): string {
  const header = ['Experiment', 'Created', ...t.columns.map((c) => c.label)];
  const rows = t.rows.map((r) => [
    r.exp.name,
    format === 'csv' ? r.exp.time : shortTime(r.exp.time),
    ...r.values.map((v) => formatValue(v, precision)),
  ]);
  if (format === 'csv') {
    const q = (s: string) => (/[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
    return [header, ...rows].map((r) => r.map((c) => q(c === '-' ? '' : c)).join(',')).join('\n');
  }
  if (format === 'md') {
    const esc = (s: string) => s.replace(/\|/g, '\\|');
    return [header, header.map(() => '---'), ...rows].map((r) => `| ${r.map(esc).join(' | ')} |`).join('\n');
  }
  return formatTable(header, rows);
}

export function showJson(t: ShowTable, precision?: number): unknown {
  const round = (v: unknown) => (typeof v === 'number' && precision !== undefined ? Number(v.toPrecision(precision)) : (v ?? null));
  return t.rows.map((r) => ({
    name: r.exp.name,
    time: r.exp.time,
    commit: r.exp.commit,
    overlays: r.exp.overlays,
    params: Object.fromEntries(t.columns.flatMap((c, i) => (c.kind === 'param' ? [[c.label, round(r.values[i])]] : []))),
    metrics: Object.fromEntries(t.columns.flatMap((c, i) => (c.kind === 'metric' ? [[c.label, round(r.values[i])]] : []))),
  }));
}

export interface ExpDiffRow {
  kind: 'param' | 'metric';
  file: string;
  key: string;
  a: unknown;
  b: unknown;
  change?: number;
}

export function diffExperiments(a: Experiment, b: Experiment, all = false): ExpDiffRow[] {
  const rows: ExpDiffRow[] = [];
  for (const kind of ['param', 'metric'] as const) {
    const pa = kind === 'param' ? a.params : a.metrics;
    const pb = kind === 'param' ? b.params : b.metrics;
    for (const file of [...new Set([...Object.keys(pa), ...Object.keys(pb)])].sort()) {
      for (const key of [...new Set([...Object.keys(pa[file] ?? {}), ...Object.keys(pb[file] ?? {})])].sort()) {
        const x = pa[file]?.[key];
        const y = pb[file]?.[key];
        if (!all && canonicalJson(x) === canonicalJson(y)) continue;
        const row: ExpDiffRow = { kind, file, key, a: x, b: y };
        if (typeof x === 'number' && typeof y === 'number') row.change = Number((y - x).toPrecision(12));
        rows.push(row);
      }
    }
  }
  return rows;
}

interface ShowFlags {
  sortBy?: string;
  desc?: boolean;
  columns?: string[];
  precision?: number;
  json?: boolean;
  csv?: boolean;
  md?: boolean;
  allMetrics?: boolean;
  html?: string;
  plot?: string[];
}

/** The page for --html: the table as shown, and the curves of the plots files. */
async function writeHtml(file: string, t: ShowTable, exps: Experiment[], flags: ShowFlags): Promise<void> {
  const { chartSpecs, collectCurves, renderPage } = await import('../exp/html.ts');
  const project = await Project.open();
  const ys = (flags.plot ?? []).map(globToRegExp);
  const charts = chartSpecs(collectCurves(project, exps), (k) => ys.length === 0 || ys.some((re) => re.test(k)));
  const precision = flags.precision ?? 5;
  const header = ['Experiment', 'Created', ...t.columns.map((c) => c.label)];
  const numeric = [false, false, ...t.columns.map((_, i) => t.rows.some((r) => typeof r.values[i] === 'number'))];
  const rows = t.rows.map((r) => [
    r.exp.name,
    r.exp.time.slice(0, 16).replace('T', ' '),
    ...r.values.map((v) => formatValue(v, precision)),
  ]);
  const commits = [...new Set(exps.map((e) => e.commit?.slice(0, 10)).filter(Boolean))];
  const html = await renderPage({
    title: `Experiments — ${basename(project.root)}`,
    header,
    rows,
    numeric,
    charts,
    footer: `${exps.length} experiment${exps.length === 1 ? '' : 's'}${commits.length ? `; commits ${commits.join(', ')}` : ''}; written by grow exp show on ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC`,
  });
  writeFileAtomic(resolve(file), html);
  out(`wrote ${file}: ${exps.length} experiment${exps.length === 1 ? '' : 's'}, ${charts.length} chart${charts.length === 1 ? '' : 's'}`);
}

function loadAll(root: string): Experiment[] {
  const { experiments, ignored } = listExperiments(root);
  for (const [file, why] of ignored) warn(`ignoring ${file}: ${why}`);
  return experiments;
}

interface SweepFlags {
  sweep?: string[];
  name?: string;
  jobs?: number;
  executor?: 'local' | 'slurm';
  params?: string[];
  set?: string[];
  runCache: boolean;
  quiet?: boolean;
  parallel?: number;
}

/** Runs every point of the grid in turn, recording each as an experiment `<base>-<n>`. */
async function sweepCommand(targets: string[], flags: SweepFlags): Promise<void> {
  const axes = (flags.sweep ?? []).map(parseSweep);
  if (axes.length === 0)
    throw new GrowError('`grow exp run` needs at least one --sweep key=v1,v2', EXIT.usage, 'e.g. grow exp run --sweep train.lr=0.001,0.01');
  const points = grid(axes);
  if (flags.name !== undefined) checkName(flags.name);
  const root = findRoot(process.cwd());
  const base = flags.name ?? generateName(root);
  const names = points.map((_, i) => `${base}-${i + 1}`);
  for (const n of names) checkNewName(root, n);
  // Every point's params must load before anything runs: a typo in a key fails now, not at point 7.
  for (const point of points) await Project.open({ overlays: flags.params, set: [...(flags.set ?? []), ...point], readOnly: true });

  const lock = acquireProcessLock(root);
  const interrupts = handleInterrupts();
  const done: string[] = [];
  const failed: string[] = [];
  const parallel = Math.min(flags.parallel ?? 1, points.length);
  /** Runs one point in `cwd` (the project, or an isolated copy), recording it into the project. */
  const runPoint = async (i: number, cwd: string, reporter: Reporter): Promise<void> => {
    const set = [...(flags.set ?? []), ...points[i]];
    const project = await Project.open({ cwd, overlays: flags.params, set });
    const summary = await runPipeline({
      project,
      targets,
      jobs: flags.jobs,
      executor: flags.executor,
      runCache: flags.runCache,
      signal: interrupts.signal,
      reporter,
    });
    if (summary.exitCode === EXIT.ok) {
      const o = runOverlays(project.root, { overlays: flags.params, set });
      recordExperiment(project, { into: root, name: names[i], overlays: o.params, set: o.set });
      done.push(names[i]);
    } else if (summary.exitCode === EXIT.stageFailed) {
      failed.push(names[i]);
      for (const r of summary.stages)
        if (r.outcome === 'failed') process.stderr.write(`grow: ${names[i]}: stage \`${r.name}\` failed: ${r.message ?? ''}\n`);
    }
  };
  const announce = (i: number) => out(`sweep: [${i + 1}/${points.length}] ${names[i]}: ${points[i].map((a) => `--set ${a}`).join(' ')}`);
  try {
    // The first point runs in the workspace: the stages all points share run there once, and
    // the other points find them in the run-cache.
    for (let i = 0; i < (parallel > 1 ? 1 : points.length); i++) {
      if (interrupts.signal.aborted) break;
      announce(i);
      await runPoint(i, root, await chooseReporter(flags.quiet));
    }
    if (parallel > 1 && !interrupts.signal.aborted) {
      // The other points in isolated copies, `parallel` at a time, sharing this project's cache.
      const { cacheDir } = (await Project.open({ cwd: root, readOnly: true })).config;
      process.env.GROW_CACHE_DIR = cacheDir;
      const outs = (await Project.open({ cwd: root, readOnly: true })).pipeline.stages.flatMap((s) => s.outs.map((o) => o.path));
      let next = 1;
      const worker = async () => {
        while (next < points.length && !interrupts.signal.aborted) {
          const i = next++;
          announce(i);
          const copy = isolatedCopy(root, outs);
          try {
            await runPoint(
              i,
              copy,
              plainReporter((l) => out(`[${names[i]}] ${l}`), flags.quiet),
            );
          } finally {
            rmSync(copy, { recursive: true, force: true });
          }
        }
      };
      await Promise.all(Array.from({ length: parallel }, worker));
    }
  } finally {
    interrupts.dispose();
    lock.release();
  }
  done.sort((a, b) => names.indexOf(a) - names.indexOf(b));
  failed.sort((a, b) => names.indexOf(a) - names.indexOf(b));
  const stopped = points.length - done.length - failed.length;
  out(
    `sweep: ${done.length} of ${points.length} points recorded${done.length ? ` (${done[0]}…${done.at(-1)})` : ''}` +
      `${failed.length ? `; failed: ${failed.join(', ')}` : ''}${stopped ? `; ${stopped} not run (interrupted)` : ''}; compare with \`grow exp show ${done.join(' ')}\``,
  );
  process.exitCode = interrupts.received() ? EXIT.interrupted : failed.length ? EXIT.stageFailed : EXIT.ok;
}

export function registerExp(program: Command): void {
  const exp = program
    .command('exp')
    .description('list, compare and restore experiments: every `grow run` records one (name it with `grow run --name NAME`)');

  exp
    .command('run')
    .description('run a grid of params values (--sweep), each point recorded as an experiment')
    .argument('[targets...]', 'stage or group names, as for `grow run` (default: all)')
    .option('--sweep <key=v1,v2,…>', 'one axis of the grid (repeatable; every combination runs)', collect)
    .option('-n, --name <base>', 'points are named <base>-1, <base>-2, … (default: a generated base)')
    .option('-j, --jobs <n>', 'local stages in parallel within a point, as for run', positiveInt)
    .option(
      '-P, --parallel <n>',
      'points at once, each after the first in an isolated copy of the project (default 1: one after another here)',
      positiveInt,
    )
    .addOption(new Option('--executor <name>', 'where stages without their own `executor` run').choices(['local', 'slurm']))
    .option('--set <key=value>', 'an override for every point (repeatable)', collect)
    .option('--params <file>', 'an overlay for every point (repeatable)', collect)
    .option('--no-run-cache', 'never restore from the run-cache')
    .option('-q, --quiet', 'print only the sweep lines and failures')
    .addHelpText(
      'after',
      `
Points run one after another in this workspace (with -P, the first here and the others in isolated
copies sharing this project's cache); stages a point does not change stay up to date or are
restored from the run-cache, so the work they share runs once. A failed point is reported and the
sweep goes on; Ctrl-C stops the running points, and the points finished before are kept.
Examples:
  grow exp run --sweep train.lr=0.001,0.003,0.01
  grow exp run -n width --sweep model.d=32,64 --sweep seed=1,2 --params params/smoke.yaml
  grow exp run -n seeds -P 4 --sweep seed=1,2,3,4,5,6,7,8`,
    )
    .action(sweepCommand);

  exp
    .command('show')
    .description('one table: experiments as rows, the params that vary and the metrics as columns')
    .argument('[names...]', 'only these experiments (default: all, oldest first)')
    .option('--sort-by <column>', 'sort by a column (a params or metrics key, `name` or `time`)')
    .option('--desc', 'with --sort-by: largest first')
    .option('-c, --columns <glob>', 'only the params and metrics columns matching this glob, e.g. "*loss*" (repeatable)', collect)
    .option('--precision <n>', 'significant digits of numbers (default 5 in tables; JSON and CSV unrounded unless given)', precisionArg)
    .option('--all-metrics', 'also show metrics whose values are not numbers')
    .option('--json', 'print a JSON array of {name, time, commit, overlays, params, metrics}')
    .option('--csv', 'print CSV')
    .option('--md', 'print a Markdown table')
    .option('--html <file>', 'write a self-contained page: the table and the curves of the plots files, a line per experiment')
    .option('--plot <glob>', 'with --html: only chart the logged values matching this glob, e.g. "*loss*" (repeatable)', collect)
    .addHelpText(
      'after',
      `
Examples:
  grow exp show
  grow exp show --sort-by val_loss -c 'train.*' -c '*loss*'
  grow exp show --md > results.md
  grow exp show --html experiments.html --plot '*loss*'`,
    )
    .action(async (names: string[], flags: ShowFlags) => {
      const root = findRoot(process.cwd());
      let exps = loadAll(root);
      if (names.length) exps = names.map((n) => getExperiment(root, n));
      if (exps.length === 0) {
        out(flags.json ? '[]' : 'no experiments yet: every `grow run` records one (see `grow exp --help`)');
        return;
      }
      const t = buildShowTable(exps, { columns: flags.columns, allMetrics: flags.allMetrics });
      if (flags.sortBy) sortTable(t, flags.sortBy, flags.desc);
      if (flags.html)
        await writeHtml(
          flags.html,
          t,
          t.rows.map((r) => r.exp),
          flags,
        );
      else if (flags.json) out(JSON.stringify(showJson(t, flags.precision), null, 2));
      else if (flags.csv) out(formatShowTable(t, 'csv', flags.precision));
      else out(formatShowTable(t, flags.md ? 'md' : 'table', flags.precision ?? 5));
    });

  exp
    .command('diff')
    .description('the params and metrics that differ between two experiments')
    .argument('<a>', 'an experiment name')
    .argument('<b>', 'another experiment name')
    .option('--all', 'include equal values')
    .option('--precision <n>', 'significant digits of numbers', precisionArg)
    .option('--json', 'print [{kind, file, key, a, b, change?}]')
    .addHelpText('after', '\nExample:\n  grow exp diff lr-0.01 lr-0.001')
    .action((a: string, b: string, flags: { all?: boolean; json?: boolean; precision?: number }) => {
      const root = findRoot(process.cwd());
      const rows = diffExperiments(getExperiment(root, a), getExperiment(root, b), flags.all);
      if (flags.json) {
        out(
          JSON.stringify(
            rows.map((r) => ({ ...r, a: r.a ?? null, b: r.b ?? null })),
            null,
            2,
          ),
        );
        return;
      }
      if (rows.length === 0) {
        out('no differences in params or metrics');
        return;
      }
      const p = flags.precision ?? 5;
      const change = (r: ExpDiffRow) =>
        r.change === undefined
          ? r.a === undefined
            ? 'added'
            : r.b === undefined
              ? 'removed'
              : 'changed'
          : `${r.change > 0 ? '+' : ''}${formatValue(r.change, p)}`;
      out(
        formatTable(
          ['', 'file', 'key', a, b, 'change'],
          rows.map((r) => [
            r.kind,
            r.file,
            r.key || '(whole file)',
            formatValue(r.a, p),
            formatValue(r.b, p),
            canonicalJson(r.a) === canonicalJson(r.b) ? '' : change(r),
          ]),
        ),
      );
    });

  exp
    .command('apply')
    .description("make an experiment's results current: restore its outs from the cache and its pipeline.lock (runs nothing)")
    .argument('<name>', 'an experiment name (see `grow exp show`)')
    .addHelpText(
      'after',
      `
Params files are not edited: an experiment made with --params/--set shows as stale under the plain
params files; compare under its overlays with \`grow status --params FILE --set k=v\`.
Example:
  grow exp apply lr-0.01`,
    )
    .action(async (name: string) => {
      const project = await Project.open();
      const e = getExperiment(project.root, name);
      const lock = acquireProcessLock(project.root);
      try {
        const r = await applyExperiment(project, e);
        for (const p of r.restored) out(`restored ${p}`);
        out(
          `applied \`${e.name}\`: ${r.restored.length} restored, ${r.unchanged.length} already up to date; pipeline.lock is the experiment's`,
        );
        const overlay = [...e.overlays.params.map((f) => `--params ${f}`), ...e.overlays.set.map((s) => `--set ${s}`)];
        if (overlay.length) out(`it was made with ${overlay.join(' ')}: compare with \`grow status ${overlay.join(' ')}\``);
      } finally {
        lock.release();
      }
    });

  exp
    .command('remove')
    .alias('rm')
    .description('delete experiment records (their cache objects go at the next `grow gc`)')
    .argument('<names...>', 'experiment names')
    .action((names: string[]) => {
      const root = findRoot(process.cwd());
      for (const n of names) getExperiment(root, n); // all exist, or remove none
      for (const n of names) {
        removeExperiment(root, n);
        out(`removed ${n}`);
      }
    });
}
