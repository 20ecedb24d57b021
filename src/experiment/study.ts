/**
 * The study's two analyses (stages/study.ts runs them; pipeline stages study_select and
 * study_report):
 *
 *   select   on the tuning seed, per method, the (lr, warmup) of the grid with the lowest final
 *            validation loss — the same grid and the same rule for M0, the continued small model
 *            and every growth method;
 *   summary  on the reporting seeds (disjoint from the tuning seed), per compute budget and
 *            method: final validation loss, its paired difference to M0 of the same seed and
 *            budget, the total compute (own training + the small models the method used + any
 *            operator), and the saving against M0 counting all of it; each as mean, sample std and
 *            95 % t-interval over the seeds.
 *
 * Only reads what the training stages wrote (train.json, metrics.jsonl, growth.json), so it is
 * tested on hand-made runs.
 */
import { type CurvePoint, finalLoss } from './curves.ts';
import { type Spread, computeSaving, spread } from './savings.ts';

export interface TuneRun {
  method: string;
  lr: number;
  warmup: number;
  final_val_loss: number;
}

export interface Selection {
  /** Per method: the chosen peak lr and warmup, and the tuning-seed final validation loss they gave. */
  selected: Record<string, { lr: number; warmup: number; val_loss: number }>;
  /** Every grid point, for the record. */
  grid: TuneRun[];
  tune_seed: number;
  rule: string;
}

const SELECTION_RULE = 'lowest final validation loss on the tuning seed; ties go to the lower lr, then the shorter warmup';

export function selectHyper(runs: TuneRun[], tuneSeed: number): Selection {
  const selected: Selection['selected'] = {};
  for (const method of [...new Set(runs.map((r) => r.method))]) {
    const rows = runs
      .filter((r) => r.method === method && Number.isFinite(r.final_val_loss))
      .sort((a, b) => a.final_val_loss - b.final_val_loss || a.lr - b.lr || a.warmup - b.warmup);
    if (rows.length === 0) throw new Error(`no finite validation loss for ${method} on the tuning seed: every grid point diverged`);
    selected[method] = { lr: rows[0].lr, warmup: rows[0].warmup, val_loss: rows[0].final_val_loss };
  }
  return { selected, grid: runs, tune_seed: tuneSeed, rule: SELECTION_RULE };
}

export interface StudyRun {
  method: string;
  budget: number;
  seed: number;
  curve: CurvePoint[];
  /** Final model's loss on the whole validation split (null: only the curve's sample exists). */
  val_loss: number | null;
  /** The run's own training FLOPs (for an M1: refinement only). */
  flops: number;
  wall_s: number;
  /** Training FLOPs of the small models it used (0 for M0) plus any operator's. */
  charged_flops: number;
  charged_sources: string[];
}

export interface StudyCell {
  method: string;
  budget: number;
  seeds: number[];
  /** Mean total compute: own training + charged sources and operator. */
  total_flops: number;
  final_val_loss: Spread;
  /** Final val loss minus M0's of the same seed and budget (negative: better than M0). */
  delta_vs_m0: Spread;
  /** 1 − (FLOPs to reach M0's final loss + charged) / M0's FLOPs, over the seeds that reached it. */
  saving_with_small: Spread;
  reached: number;
  charged_sources: string[];
}

/**
 * Which loss a run ends at: the whole validation split when every run was scored on it (the study
 * passes --full-val), else the last point of the curves' periodic sample, never a mix of the two.
 * The saving's reach point is always read on the curves (the sample), M0's target included.
 */
export function endLossOf(runs: StudyRun[]): { split: 'full' | 'sample'; loss: (r: StudyRun) => number } {
  if (runs.length > 0 && runs.every((r) => r.val_loss !== null)) return { split: 'full', loss: (r) => r.val_loss as number };
  return { split: 'sample', loss: (r) => finalLoss(r.curve) };
}

export function summariseStudy(runs: StudyRun[]): StudyCell[] {
  const cells: StudyCell[] = [];
  const end = endLossOf(runs).loss;
  const budgets = [...new Set(runs.map((r) => r.budget))].sort((a, b) => a - b);
  const methods = [...new Set(runs.map((r) => r.method))];
  for (const budget of budgets) {
    for (const method of methods) {
      const rows = runs.filter((r) => r.budget === budget && r.method === method).sort((a, b) => a.seed - b.seed);
      if (rows.length === 0) continue;
      const deltas: (number | null)[] = [];
      const savings: (number | null)[] = [];
      for (const r of rows) {
        const m0 = runs.find((x) => x.method === 'm0' && x.budget === budget && x.seed === r.seed);
        if (!m0) throw new Error(`no M0 run for budget ${budget}, seed ${r.seed}: ${method} has nothing to be compared with`);
        deltas.push(end(r) - end(m0));
        if (method === 'm0') continue;
        const s = computeSaving(
          { name: 'm0', curve: m0.curve, flops: m0.flops, wall_s: m0.wall_s },
          {
            name: method,
            method,
            curve: r.curve,
            flops: r.flops,
            wall_s: r.wall_s,
            small_flops: r.charged_flops,
            small_wall_s: 0,
            operator_flops: 0,
          },
        );
        savings.push(s.saving_with_small);
      }
      cells.push({
        method,
        budget,
        seeds: rows.map((r) => r.seed),
        total_flops: rows.reduce((a, r) => a + r.flops + r.charged_flops, 0) / rows.length,
        final_val_loss: spread(rows.map(end)),
        delta_vs_m0: spread(deltas),
        saving_with_small: spread(savings),
        reached: savings.filter((s) => s !== null).length,
        charged_sources: rows[0].charged_sources,
      });
    }
  }
  return cells;
}
