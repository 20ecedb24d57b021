/**
 * What a report is made of, independent of where it came from: the report stage assembles this
 * from the evaluation metrics, the profile and each run's metrics.jsonl; the HTML, Markdown and
 * LaTeX writers and the charts only read it. Numbers are carried unrounded; the writers round
 * them the same way (format.ts) so every rendering shows the same figures.
 */
import type { CurvePoint } from '../experiment/curves.ts';
import type { MethodSummary, Saving } from '../experiment/savings.ts';

export type Role = 'small' | 'm0' | 'm1';

/** Held-out metrics of one model on one dataset (src/ml/core/score.ts computes them). */
export interface DatasetMetrics {
  loss: number;
  ppl: number;
  accuracy: number;
  tokens?: number;
}

/** One row of the comparison table. */
export interface ModelRow {
  /** Unique id, e.g. "s1/m1/merge". */
  id: string;
  /** Display name without the seed, e.g. "M1 (merge)"; the series name in charts. */
  label: string;
  role: Role;
  seed: number;
  method?: string;
  params: number;
  /** FLOPs of this model's own training run (for M1: refinement only). */
  flops: number;
  wall_s: number;
  /** For M1: the small models' and the growth operator's FLOPs, charged in "saving incl. small". */
  overhead_flops?: number;
  overhead_wall_s?: number;
  eval: Record<string, DatasetMetrics>;
  saving_refine_only?: number | null;
  saving_with_small?: number | null;
}

/** A validation curve to plot. */
export interface Series {
  id: string;
  label: string;
  role: Role;
  seed: number;
  points: CurvePoint[];
  /** For M1: cost paid before refinement started (small models + operator). */
  offset_flops?: number;
  offset_wall_s?: number;
}

export interface ProfileRow {
  id: string;
  role: Role;
  backend: string;
  flops_per_step: number;
  steps: number;
  flops: number;
  wall_s: number;
  tflops_per_s: number;
  peak_rss_mb: number | null;
  top_kernels: { name: string; ms: number; count?: number }[];
}

export interface ReportInput {
  title: string;
  /** Dataset names in display order (D1 first). */
  datasets: string[];
  models: ModelRow[];
  series: Series[];
  savings: Saving[];
  byMethod: MethodSummary[];
  profile: ProfileRow[];
  /** Free-form facts printed under the title: backend, seeds, machine, date. */
  facts: Record<string, string>;
  /**
   * Printed above everything else when the run is not a result (a smoke run, too few seeds, a
   * dirty tree): what it is and why its numbers must not be quoted.
   */
  banner?: string[];
}
