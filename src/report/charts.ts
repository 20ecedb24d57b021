/**
 * The report's charts as vega-lite specs, rendered to SVG in Node (vega's headless View), so the
 * page needs no script and no network to show them.
 *
 * - loss vs cumulative TFLOPs and loss vs wall time: every large model on one chart, each with its
 *   own colour and point shape (told apart without colour too). Each M1 is drawn twice:
 *   refine-only (solid) and shifted right by what it cost before refining started — the small
 *   models' training and the growth operator's (dashed). A dotted rule marks M0's final
 *   validation loss, the target of the saving computation; the line-style legend names all three.
 *
 * Every chart is rendered twice: wide (legend at the side) and narrow (legend below, for a phone);
 * the page shows the one that fits.
 * - the small models' curves, on their own chart (they are trained on D1 only, so their losses
 *   are not comparable with the large models').
 */
import * as vega from 'vega';
import { compile, type TopLevelSpec } from 'vega-lite';
import type { ReportInput, Series } from './data.ts';

export type XAxis = 'flops' | 'wall_s';

const REFINE_ONLY = 'refine only';
const WITH_OVERHEAD = 'incl. small models + operator';
export const TARGET = "target: M0's final val loss";

/** Wide: a desktop page, legend at the right. Narrow: about 360 px, legend below the plot. */
export type Layout = 'wide' | 'narrow';

const SIZE: Record<Layout, { width: number; height: number }> = { wide: { width: 560, height: 320 }, narrow: { width: 300, height: 240 } };

function legendPlace(layout: Layout): Record<string, unknown> {
  return layout === 'wide' ? { labelLimit: 260 } : { orient: 'bottom', direction: 'vertical', labelLimit: 320 };
}

interface Datum {
  series: string;
  seed: number;
  cost: string;
  x: number;
  val_loss: number;
}

function xOf(axis: XAxis, value: number): number {
  return axis === 'flops' ? value / 1e12 : value;
}

function seriesRows(s: Series, axis: XAxis): Datum[] {
  const rows: Datum[] = s.points.map((p) => ({
    series: s.label,
    seed: s.seed,
    cost: REFINE_ONLY,
    x: xOf(axis, p[axis]),
    val_loss: p.val_loss,
  }));
  const offset = axis === 'flops' ? s.offset_flops : s.offset_wall_s;
  if (s.role === 'm1' && offset && offset > 0) {
    for (const p of s.points) {
      rows.push({ series: s.label, seed: s.seed, cost: WITH_OVERHEAD, x: xOf(axis, p[axis] + offset), val_loss: p.val_loss });
    }
  }
  return rows;
}

const xTitle: Record<XAxis, string> = { flops: 'cumulative training TFLOPs', wall_s: 'wall time (s)' };

/** Validation loss of M0 and every M1 against compute or time, on one chart. */
export function largeModelsSpec(input: ReportInput, axis: XAxis, layout: Layout = 'wide'): TopLevelSpec {
  const large = input.series.filter((s) => s.role !== 'small');
  const values = large.flatMap((s) => seriesRows(s, axis));
  const targets = large
    .filter((s) => s.role === 'm0' && s.points.length > 0)
    .map((s) => ({ seed: s.seed, target: s.points[s.points.length - 1].val_loss }));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title:
      layout === 'wide'
        ? `Validation loss vs ${axis === 'flops' ? 'training compute' : 'wall time'} (large models)`
        : ['Validation loss vs', `${axis === 'flops' ? 'training compute' : 'wall time'} (large models)`],
    ...SIZE[layout],
    layer: [
      {
        data: { values },
        // Points are their own layer: a line mark with `point` makes the dash legend draw filled
        // dots with no stroke, so the dash patterns would not show.
        layer: [
          {
            mark: { type: 'line' },
            encoding: {
              x: { field: 'x', type: 'quantitative', title: xTitle[axis] },
              y: { field: 'val_loss', type: 'quantitative', title: 'validation loss (nats/token, D1+D2)', scale: { zero: false } },
              // Same title and legend as the point layer's colour and shape: one merged model legend.
              color: { field: 'series', type: 'nominal', title: 'model', legend: legendPlace(layout) },
              strokeDash: {
                field: 'cost',
                type: 'nominal',
                title: 'line',
                // One scale for the curves and the target rule, so the legend names the rule too.
                scale: {
                  domain: [REFINE_ONLY, WITH_OVERHEAD, TARGET],
                  range: [
                    [1, 0],
                    [6, 4],
                    [2, 3],
                  ],
                },
                legend: { symbolType: 'stroke', symbolStrokeColor: '#444', symbolStrokeWidth: 2, ...legendPlace(layout) },
              },
              detail: { field: 'seed', type: 'nominal' },
            },
          },
          {
            mark: { type: 'point', filled: true, size: 36 },
            encoding: {
              x: { field: 'x', type: 'quantitative' },
              y: { field: 'val_loss', type: 'quantitative' },
              color: { field: 'series', type: 'nominal', title: 'model', legend: legendPlace(layout) },
              shape: { field: 'series', type: 'nominal', title: 'model', legend: legendPlace(layout) },
            },
          },
        ],
      },
      {
        data: { values: targets },
        mark: { type: 'rule', color: '#666' },
        encoding: { y: { field: 'target', type: 'quantitative' }, strokeDash: { datum: TARGET, type: 'nominal' } },
      },
    ],
  } as TopLevelSpec;
}

/** The small models' validation curves (their own data: D1). */
function smallModelsSpec(input: ReportInput, layout: Layout = 'wide'): TopLevelSpec {
  const values = input.series.filter((s) => s.role === 'small').flatMap((s) => seriesRows(s, 'flops'));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: 'Validation loss of the small models (D1)',
    ...SIZE[layout],
    height: layout === 'wide' ? 260 : 220,
    data: { values },
    layer: [
      {
        mark: { type: 'line' },
        encoding: {
          x: { field: 'x', type: 'quantitative', title: xTitle.flops },
          y: { field: 'val_loss', type: 'quantitative', title: 'validation loss (nats/token, D1)', scale: { zero: false } },
          color: { field: 'series', type: 'nominal', title: 'model', legend: legendPlace(layout) },
          detail: { field: 'seed', type: 'nominal' },
        },
      },
      {
        mark: { type: 'point', filled: true, size: 36 },
        encoding: {
          x: { field: 'x', type: 'quantitative' },
          y: { field: 'val_loss', type: 'quantitative' },
          color: { field: 'series', type: 'nominal', title: 'model', legend: legendPlace(layout) },
          shape: { field: 'series', type: 'nominal', title: 'model', legend: legendPlace(layout) },
        },
      },
    ],
  } as TopLevelSpec;
}

/** Renders a vega-lite spec to a standalone SVG string, without a browser. */
export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

export interface Chart {
  /** File stem: the SVG is written as `<name>.svg` beside the report. */
  name: string;
  title: string;
  spec: TopLevelSpec;
  svg: string;
  /** The same chart laid out for a phone-width screen (legend below). */
  narrowSvg: string;
}

/** Every chart of the report, rendered. */
export async function buildCharts(input: ReportInput): Promise<Chart[]> {
  const defs: (Omit<Chart, 'svg' | 'narrowSvg'> & { narrow: TopLevelSpec })[] = [
    {
      name: 'loss-vs-tflops',
      title: 'Validation loss vs cumulative TFLOPs',
      spec: largeModelsSpec(input, 'flops'),
      narrow: largeModelsSpec(input, 'flops', 'narrow'),
    },
    {
      name: 'loss-vs-wall',
      title: 'Validation loss vs wall time',
      spec: largeModelsSpec(input, 'wall_s'),
      narrow: largeModelsSpec(input, 'wall_s', 'narrow'),
    },
  ];
  if (input.series.some((s) => s.role === 'small')) {
    defs.push({ name: 'small-models', title: 'Small models', spec: smallModelsSpec(input), narrow: smallModelsSpec(input, 'narrow') });
  }
  const out: Chart[] = [];
  for (const { narrow, ...d } of defs) out.push({ ...d, svg: await renderSvg(d.spec), narrowSvg: await renderSvg(narrow) });
  return out;
}
