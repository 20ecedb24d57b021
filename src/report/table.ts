/**
 * The comparison table, as rows of already-formatted cells, shared by the Markdown, HTML and LaTeX
 * writers so that all three show the same figures. Order: M0, the M1 variants, the small models,
 * each group by seed.
 */
import { fmtAcc, fmtLoss, fmtParams, fmtPpl, fmtSaving, fmtSpread, fmtTflops, fmtWall } from './format.ts';
import type { Spread } from '../experiment/savings.ts';
import type { ModelRow, ReportInput } from './data.ts';

export interface Table {
  /** Column groups for a two-level header: [label, span]. */
  groups: [string, number][];
  header: string[];
  rows: string[][];
}

const roleOrder = { m0: 0, m1: 1, small: 2 } as const;

function sortedModels(models: ModelRow[]): ModelRow[] {
  return [...models].sort((a, b) => roleOrder[a.role] - roleOrder[b.role] || a.seed - b.seed || a.id.localeCompare(b.id));
}

export function comparisonTable(input: ReportInput): Table {
  const fixed = ['Model', 'Seed', 'Params', 'Train TFLOPs', 'Wall s'];
  const perDataset = ['loss', 'ppl', 'acc'];
  const tail = ['Saving (refine)', 'Saving (incl. small)'];
  const header = [...fixed, ...input.datasets.flatMap(() => perDataset), ...tail];
  const groups: [string, number][] = [['', fixed.length], ...input.datasets.map((d): [string, number] => [d, 3]), ['vs M0', 2]];
  const rows = sortedModels(input.models).map((m) => [
    m.label,
    String(m.seed),
    fmtParams(m.params),
    fmtTflops(m.flops),
    fmtWall(m.wall_s),
    ...input.datasets.flatMap((d) => {
      const e = m.eval[d];
      return [fmtLoss(e?.loss), fmtPpl(e?.ppl), fmtAcc(e?.accuracy)];
    }),
    m.role === 'm1' ? fmtSaving(m.saving_refine_only ?? null) : '',
    m.role === 'm1' ? fmtSaving(m.saving_with_small ?? null) : '',
  ]);
  return { groups, header, rows };
}

/** mean ± sample std over the seeds that reached M0; a single seed has no spread to show. */
function spreadCell(s: Spread): string {
  if (s.n === 1) return `${fmtSaving(s.mean)} (1 seed)`;
  return fmtSpread(s.mean, s.std, s.ci95);
}

/** Per growth method over seeds: mean ± standard deviation of the savings (the study's spread). */
export function methodTable(input: ReportInput): Table {
  // mean ± sample std [95 % t-interval], over the seeds that reached M0 (the third column says how many).
  const header = [
    'Method',
    'Seeds',
    'Reached M0',
    'Saving (refine) mean ± sd [95 % CI]',
    'Saving (incl. small) mean ± sd [95 % CI]',
    'Final gap (nats)',
  ];
  const rows = input.byMethod.map((m) => [
    m.method,
    String(m.seeds),
    `${m.reached}/${m.seeds}`,
    spreadCell(m.saving_refine_only),
    spreadCell(m.saving_with_small),
    m.final_gap.mean === null
      ? '–'
      : `${m.final_gap.mean >= 0 ? '+' : '−'}${Math.abs(m.final_gap.mean).toFixed(4)} ± ${(m.final_gap.std ?? 0).toFixed(4)}`,
  ]);
  return { groups: [['', header.length]], header, rows };
}

export function profileTable(input: ReportInput): Table {
  const header = ['Stage', 'Backend', 'Steps', 'GFLOP/step', 'TFLOPs', 'Wall s', 'TFLOP/s', 'Peak RSS MB', 'Top kernels'];
  const rows = input.profile.map((p) => [
    p.id,
    p.backend,
    String(p.steps),
    (p.flops_per_step / 1e9).toFixed(3),
    fmtTflops(p.flops),
    fmtWall(p.wall_s),
    p.tflops_per_s.toFixed(4),
    p.peak_rss_mb === null ? '–' : p.peak_rss_mb.toFixed(0),
    p.top_kernels
      .slice(0, 3)
      .map((k) => `${k.name} ${k.ms.toFixed(1)} ms`)
      .join(', '),
  ]);
  return { groups: [['', header.length]], header, rows };
}

/** Validation loss of M0 and M1 at equal training FLOPs, per M1 variant and seed. */
export function equalFlopsTable(input: ReportInput): Table {
  const header = ['Model', 'Seed', 'Budget', 'TFLOPs', 'M0 val loss', 'M1 val loss'];
  const rows: string[][] = [];
  for (const s of input.savings) {
    const m = input.models.find((x) => x.id === s.model);
    const label = m?.label ?? s.model;
    const seed = String(m?.seed ?? '');
    rows.push([
      label,
      seed,
      'refine only',
      fmtTflops(s.at_refine_budget.flops),
      fmtLoss(s.at_refine_budget.m0_val_loss),
      fmtLoss(s.at_refine_budget.m1_val_loss),
    ]);
    rows.push([
      label,
      seed,
      'incl. small models + operator',
      fmtTflops(s.at_total_budget.flops),
      fmtLoss(s.at_total_budget.m0_val_loss),
      fmtLoss(s.at_total_budget.m1_val_loss),
    ]);
  }
  return { groups: [['', header.length]], header, rows };
}

/** Plain-language headline sentences: one per M1 variant and seed. */
export function headlines(input: ReportInput): string[] {
  return input.savings.map((s) => {
    const seed = input.models.find((m) => m.id === s.model)?.seed;
    const who = `${s.method}${seed === undefined ? '' : ` (seed ${seed})`}`;
    if (!s.reached) {
      return `${who}: did not reach M0's final validation loss ${fmtLoss(s.target_val_loss)}; it ended ${fmtLoss(s.m1_final_val_loss)} (gap ${s.final_gap >= 0 ? '+' : ''}${s.final_gap.toFixed(4)}).`;
    }
    return (
      `${who}: reached M0's final validation loss ${fmtLoss(s.target_val_loss)} after ${fmtTflops(s.refine_flops_to_target)} of M0's ${fmtTflops(s.m0_flops)} TFLOPs — ` +
      `saving ${fmtSaving(s.saving_refine_only)} counting its own training only (an M1's refinement), ${fmtSaving(s.saving_with_small)} counting also the small models it used and the operator ` +
      `(${s.charged_sources.length === 0 ? 'none' : s.charged_sources.map((c) => c.id).join(' + ')}${s.operator_flops > 0 ? ' + operator' : ''}: ${fmtTflops(s.small_flops + s.operator_flops)} TFLOPs).`
    );
  });
}
