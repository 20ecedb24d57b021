/**
 * The experiment's headline: did the grown model M1 reach the from-scratch baseline M0's final
 * validation loss with less compute, and how much less?
 *
 *   reach      = refine FLOPs M1 needed to first reach M0's final val loss (interpolated)
 *   saving     = 1 − reach / FLOPs(M0)                               (refine only)
 *   saving_all = 1 − (reach + FLOPs(small models) + FLOPs(operator)) / FLOPs(M0)
 *
 * The second figure charges M1 for everything it was built from: the training of the small models
 * its growth used (merge all n, fpi the one it widened) and any learned growth operator's training.
 * Evaluation (of M1', of the sources, of any model) is measurement and is never charged. It is negative when growing cost more than it saved.
 * Both are null when M1 never reached the target (the gap at the end is reported instead).
 */
import { type CurvePoint, finalLoss, lossAt, reachAt } from './curves.ts';

export interface BaselineRun {
  name: string;
  curve: CurvePoint[];
  /** Total training FLOPs of the run (its last metrics row). */
  flops: number;
  wall_s: number;
}

export interface GrownRun extends BaselineRun {
  method: string;
  /** Training FLOPs of the small models M1 was grown from, summed. */
  small_flops: number;
  small_wall_s: number;
  /** FLOPs spent training the growth operator itself (LiGO); 0 for closed-form operators. */
  operator_flops: number;
  /** The small models charged (those the method used), each with its training FLOPs. */
  charged_sources?: { id: string; flops: number }[];
}

export interface EqualFlopsPoint {
  /** The budget compared at. */
  flops: number;
  m0_val_loss: number | null;
  m1_val_loss: number | null;
}

export interface Saving {
  model: string;
  method: string;
  baseline: string;
  target_val_loss: number;
  m0_flops: number;
  m0_wall_s: number;
  reached: boolean;
  refine_flops_to_target: number | null;
  refine_wall_s_to_target: number | null;
  /** Training FLOPs of the sources this model used (and only those). */
  small_flops: number;
  /** Which small models those are, each with its FLOPs. */
  charged_sources: { id: string; flops: number }[];
  operator_flops: number;
  saving_refine_only: number | null;
  saving_with_small: number | null;
  /** Wall-clock analogue of saving_refine_only (noisy on a shared machine; FLOPs are the measure). */
  saving_wall_refine_only: number | null;
  m1_final_val_loss: number;
  /** M1's final loss minus the target: negative means M1 ended better than M0. */
  final_gap: number;
  /** Val loss of both models after M1's refine budget (refine only). */
  at_refine_budget: EqualFlopsPoint;
  /** Val loss of both models after M1's whole budget, small models and operator included. */
  at_total_budget: EqualFlopsPoint;
}

export function computeSaving(m0: BaselineRun, m1: GrownRun): Saving {
  const target = finalLoss(m0.curve);
  const reach = reachAt(m1.curve, target, 'flops');
  const reachWall = reachAt(m1.curve, target, 'wall_s');
  const overhead = m1.small_flops + m1.operator_flops;
  const m1Final = finalLoss(m1.curve);
  const totalBudget = m1.flops + overhead;
  return {
    model: m1.name,
    method: m1.method,
    baseline: m0.name,
    target_val_loss: target,
    m0_flops: m0.flops,
    m0_wall_s: m0.wall_s,
    reached: reach !== null,
    refine_flops_to_target: reach,
    refine_wall_s_to_target: reachWall,
    small_flops: m1.small_flops,
    charged_sources: m1.charged_sources ?? [],
    operator_flops: m1.operator_flops,
    saving_refine_only: reach === null ? null : 1 - reach / m0.flops,
    saving_with_small: reach === null ? null : 1 - (reach + overhead) / m0.flops,
    saving_wall_refine_only: reachWall === null ? null : 1 - reachWall / m0.wall_s,
    m1_final_val_loss: m1Final,
    final_gap: m1Final - target,
    at_refine_budget: {
      flops: m1.flops,
      m0_val_loss: lossAt(m0.curve, m1.flops, 'flops'),
      m1_val_loss: m1Final,
    },
    at_total_budget: {
      flops: totalBudget,
      m0_val_loss: lossAt(m0.curve, totalBudget, 'flops'),
      // M1's curve shifted right by its overhead: at totalBudget it has done all its refining.
      m1_val_loss: m1Final,
    },
  };
}

export interface Spread {
  n: number;
  mean: number | null;
  std: number | null;
  min: number | null;
  max: number | null;
  /** Two-sided 95 % Student-t interval of the mean, [low, high]; null below two values. */
  ci95: [number, number] | null;
}

/** t_{0.975, df} for df = 1 … 30 (standard tables); beyond 30 the normal value plus a small correction. */
const T975 = [
  12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101, 2.093, 2.086,
  2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042,
];

function tQuantile975(df: number): number {
  if (!Number.isInteger(df) || df < 1) throw new RangeError(`degrees of freedom must be a positive integer, got ${df}`);
  return df <= 30 ? T975[df - 1] : 1.96 + 2.4 / df;
}

/**
 * Mean, sample standard deviation, range and 95 % t-interval of the values that exist (null = not
 * reached). Dropping the nulls biases a saving's mean upwards; `n` against the seed count says how
 * many were dropped.
 */
export function spread(values: (number | null)[]): Spread {
  const xs = values.filter((v): v is number => v !== null && Number.isFinite(v));
  if (xs.length === 0) return { n: 0, mean: null, std: null, min: null, max: null, ci95: null };
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  const std = xs.length < 2 ? 0 : Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1));
  const half = xs.length < 2 ? null : (tQuantile975(xs.length - 1) * std) / Math.sqrt(xs.length);
  return { n: xs.length, mean, std, min: Math.min(...xs), max: Math.max(...xs), ci95: half === null ? null : [mean - half, mean + half] };
}

export interface MethodSummary {
  method: string;
  seeds: number;
  reached: number;
  saving_refine_only: Spread;
  saving_with_small: Spread;
  final_gap: Spread;
}

/** Per growth method, the spread of its savings over seeds (the study configuration). */
export function summariseByMethod(savings: Saving[]): MethodSummary[] {
  const methods = [...new Set(savings.map((s) => s.method))];
  return methods.map((method) => {
    const rows = savings.filter((s) => s.method === method);
    return {
      method,
      seeds: rows.length,
      reached: rows.filter((s) => s.reached).length,
      saving_refine_only: spread(rows.map((s) => s.saving_refine_only)),
      saving_with_small: spread(rows.map((s) => s.saving_with_small)),
      final_gap: spread(rows.map((s) => s.final_gap)),
    };
  });
}
