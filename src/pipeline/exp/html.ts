/**
 * `grow exp show --html FILE`: one self-contained page comparing experiments — the `exp show`
 * table, and the per-step curves of the files stages declare under `plots:`, one chart per
 * plotted value with a line per experiment. Each experiment's curve is read from the cache object
 * its recorded lock names for that plots file, so past runs plot without re-running anything.
 *
 * Charts are vega-lite specs rendered to SVG in Node (vega's headless view, as the experiment's
 * report does), inlined, and sized by CSS so the page reads on a phone (390 px) as on a desktop.
 * Loaded only for --html: vega costs ~300 ms to import.
 */
import { existsSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import { experimentLock, type Experiment } from './experiments.ts';
import { yaml } from '../yaml.ts';
import type { Project } from '../project/project.ts';

export type Row = Record<string, number>;

/** Names under which a log's x axis usually goes, in order of preference. */
const X_FIELDS = ['step', 'steps', 'iteration', 'iter', 'epoch', 'tokens', 'x'];
/** Points per line at most: a long log is thinned evenly (its last point kept). */
const MAX_POINTS = 400;
const MAX_CHARTS = 12;

/** A per-step log as numeric rows: JSON (a list of records, or one list of them), JSON lines, CSV or TSV. */
export function parsePlotFile(text: string, file: string): Row[] {
  const ext = extname(file).toLowerCase();
  let records: unknown[] = [];
  if (ext === '.csv' || ext === '.tsv') {
    const sep = ext === '.tsv' ? '\t' : ',';
    const lines = text.split(/\r?\n/).filter((l) => l.trim());
    const header = (lines.shift() ?? '').split(sep).map((h) => h.trim());
    records = lines.map((l) => Object.fromEntries(l.split(sep).map((c, i) => [header[i], Number(c)])));
  } else if (ext === '.jsonl' || ext === '.ndjson') {
    for (const l of text.split('\n')) {
      if (!l.trim()) continue;
      try {
        records.push(JSON.parse(l));
      } catch {
        /* a torn last line of a log still being written */
      }
    }
  } else {
    const data = ext === '.json' ? JSON.parse(text) : yaml().parse(text);
    if (Array.isArray(data)) records = data;
    else if (data && typeof data === 'object') records = Object.values(data).find(Array.isArray) ?? [];
  }
  const rows: Row[] = [];
  for (const r of records) {
    if (!r || typeof r !== 'object' || Array.isArray(r)) continue;
    const row: Row = {};
    for (const [k, v] of Object.entries(r)) if (typeof v === 'number' && Number.isFinite(v)) row[k] = v;
    if (Object.keys(row).length) rows.push(row);
  }
  return rows;
}

export interface Curves {
  file: string;
  x: string;
  /** experiment → rows */
  series: Map<string, Row[]>;
}

const HEX_RE = /^md5:([0-9a-f]{32})$/;

/** The plots files of the current pipeline and, per experiment, the rows its run left in each. */
export function collectCurves(project: Project, exps: Experiment[]): Curves[] {
  const plots = project.pipeline.stages.flatMap((s) =>
    s.outs.filter((o) => o.kind === 'plots').map((o) => ({ stage: s.name, path: o.path })),
  );
  const out: Curves[] = [];
  for (const p of plots) {
    const series = new Map<string, Row[]>();
    for (const e of exps) {
      let entries: ReturnType<typeof experimentLock>;
      try {
        entries = experimentLock(e);
      } catch {
        continue; // a damaged record plots nothing; `exp show` already warned
      }
      const hash = entries.get(p.stage)?.outs.find((o) => o.path === p.path)?.hash;
      const hex = hash ? HEX_RE.exec(hash)?.[1] : undefined; // a directory has no single log
      if (!hex) continue;
      const object = join(project.cache.objectsDir, hex.slice(0, 2), hex.slice(2));
      if (!existsSync(object)) continue;
      try {
        const rows = parsePlotFile(readFileSync(object, 'utf8'), p.path);
        if (rows.length) series.set(e.name, rows);
      } catch {
        /* not a log we can read: no curve */
      }
    }
    if (series.size === 0) continue;
    const fields = new Set([...series.values()].flatMap((rows) => Object.keys(rows[0])));
    const x = X_FIELDS.find((f) => fields.has(f)) ?? '';
    out.push({ file: p.path, x, series });
  }
  return out;
}

function thin(rows: Row[]): Row[] {
  if (rows.length <= MAX_POINTS) return rows;
  const step = rows.length / MAX_POINTS;
  const kept = Array.from({ length: MAX_POINTS - 1 }, (_, i) => rows[Math.floor(i * step)]);
  kept.push(rows[rows.length - 1]);
  return kept;
}

export interface ChartSpec {
  id: string;
  title: string;
  spec: TopLevelSpec;
}

/** One chart per plotted value of each plots file: a line per experiment. */
export function chartSpecs(curves: Curves[], keep: (y: string) => boolean = () => true): ChartSpec[] {
  const charts: ChartSpec[] = [];
  for (const c of curves) {
    const ys = [...new Set([...c.series.values()].flatMap((rows) => rows.flatMap((r) => Object.keys(r))))].filter(
      (k) => k !== c.x && keep(k),
    );
    for (const y of ys) {
      const values = [...c.series].flatMap(([exp, rows]) =>
        thin(rows.filter((r) => y in r)).map((r, i) => ({ experiment: exp, x: c.x ? r[c.x] : i, y: r[y] })),
      );
      if (values.length === 0) continue;
      // Under the chart, in two columns: a side legend would take half of a phone's width.
      const legend = { orient: 'bottom', columns: 2, labelLimit: 240 } as const;
      charts.push({
        id: `chart-${charts.length + 1}`,
        title: `${y} — ${c.file}`,
        spec: {
          $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
          // Drawn small and scaled up by CSS: on a 390 px phone the text then stays ~11 px.
          width: 380,
          height: 220,
          data: { values },
          mark: { type: 'line', point: values.length <= 60, strokeWidth: 2 },
          encoding: {
            // Steps are whole numbers: no `2.0` ticks, and 10k rather than 10,000 on a narrow axis.
            x: {
              field: 'x',
              type: 'quantitative',
              title: c.x || 'row',
              ...(values.every((v) => Number.isInteger(v.x)) ? { axis: { format: '~s', tickMinStep: 1 } } : {}),
            },
            y: { field: 'y', type: 'quantitative', title: y, scale: { zero: false } },
            // Color and dash together (one merged legend): lines stay distinguishable in grey print
            // and for readers who do not tell the colors apart.
            color: { field: 'experiment', type: 'nominal', title: 'experiment', legend },
            strokeDash: { field: 'experiment', type: 'nominal', title: 'experiment', legend },
            tooltip: [{ field: 'experiment' }, { field: 'x', title: c.x || 'row' }, { field: 'y', title: y }],
          },
          config: {
            font: 'system-ui, sans-serif',
            axis: { labelFontSize: 12, titleFontSize: 12 },
            legend: { labelFontSize: 12, titleFontSize: 12 },
          },
        } as TopLevelSpec,
      });
      if (charts.length >= MAX_CHARTS) return charts;
    }
  }
  return charts;
}

async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    // vega may add an XML prolog: not valid inside HTML.
    return (await view.toSVG()).replace(/^<\?xml[^>]*>\s*/, '');
  } finally {
    view.finalize();
  }
}

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

export interface PageInput {
  title: string;
  header: string[];
  rows: string[][];
  /** Which header cells are numbers (right-aligned). */
  numeric: boolean[];
  charts: ChartSpec[];
  footer: string;
}

export async function renderPage(input: PageInput): Promise<string> {
  const figures: string[] = [];
  for (const c of input.charts) {
    figures.push(`<figure class="chart" id="${c.id}"><figcaption>${esc(c.title)}</figcaption>${await renderSvg(c.spec)}</figure>`);
  }
  const th = input.header.map((h, i) => `<th${input.numeric[i] ? ' class="num"' : ''} scope="col">${esc(h)}</th>`).join('');
  const trs = input.rows
    .map(
      (r) =>
        `<tr>${r.map((c, i) => (i === 0 ? `<th scope="row">${esc(c)}</th>` : `<td${input.numeric[i] ? ' class="num"' : ''}>${esc(c)}</td>`)).join('')}</tr>`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(input.title)}</title>
<style>
  :root { color-scheme: light; }
  body { font: 15px/1.45 system-ui, sans-serif; margin: 0 auto; padding: 12px; max-width: 1100px; color: #222; }
  h1 { font-size: 1.3rem; margin: 0.2rem 0 0.8rem; }
  h2 { font-size: 1.1rem; margin: 1.4rem 0 0.6rem; }
  .scroll { overflow-x: auto; -webkit-overflow-scrolling: touch; border: 1px solid #ddd; border-radius: 4px; }
  table { border-collapse: collapse; font-size: 0.9rem; white-space: nowrap; }
  th, td { padding: 4px 10px; border-bottom: 1px solid #eee; text-align: left; }
  thead th { background: #f6f6f6; position: sticky; top: 0; }
  tbody th { font-weight: 600; position: sticky; left: 0; background: #fff; }
  .num { text-align: right; font-variant-numeric: tabular-nums; }
  .charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(min(100%, 480px), 1fr)); gap: 16px; }
  figure.chart { margin: 0; min-width: 0; }
  figure.chart svg { width: 100%; height: auto; display: block; }
  figcaption { font-weight: 600; font-size: 0.95rem; margin-bottom: 4px; overflow-wrap: anywhere; }
  footer { color: #666; font-size: 0.8rem; margin-top: 1.5rem; }
</style>
</head>
<body>
<h1>${esc(input.title)}</h1>
<div class="scroll"><table id="experiments">
<thead><tr>${th}</tr></thead>
<tbody>
${trs}
</tbody>
</table></div>
${figures.length ? `<h2>Curves</h2>\n<div class="charts">\n${figures.join('\n')}\n</div>` : "<p>No curves: declare a per-step log (JSON, JSON lines, CSV) under a stage's <code>plots:</code> to compare them here.</p>"}
<footer>${esc(input.footer)}</footer>
</body>
</html>
`;
}
