/**
 * Validation curves as the training stages log them (metrics.jsonl, one JSON object per line) and
 * the two questions the experiment asks of them: how much compute did a model need to reach a
 * given validation loss, and what loss did it have after a given amount of compute. Both are
 * answered by linear interpolation between evaluation points, since a model is evaluated only
 * every N steps.
 */
import { readFileSync } from 'node:fs';
import { mergeTimings, readJsonlTimings } from './timings.ts';

/** One line of a training stage's metrics.jsonl (src/ml/core/train.ts writes these). */
export interface MetricsRow {
  step: number;
  tokens: number;
  /** Cumulative training FLOPs of this stage at this step (forward + backward). */
  flops: number;
  wall_s: number;
  train_loss?: number | null;
  val_loss?: number | null;
  lr?: number;
}

/** An evaluation point: where the validation loss is known. */
export interface CurvePoint {
  step: number;
  flops: number;
  wall_s: number;
  val_loss: number;
}

/** The x axes a curve can be read along. */
export type Axis = 'flops' | 'wall_s' | 'step';

export class MetricsFileError extends Error {}

/** Parses metrics.jsonl; a malformed line is reported with its file and line number. */
export function readMetrics(file: string): MetricsRow[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new MetricsFileError(`cannot read metrics file ${file}: ${(e as Error).message}; run the training stage first`);
  }
  const rows: MetricsRow[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    let row: unknown;
    try {
      row = JSON.parse(line);
    } catch {
      throw new MetricsFileError(`${file}:${i + 1}: not a JSON object; the training stage writes one per line`);
    }
    const r = row as Partial<MetricsRow>;
    if (typeof r !== 'object' || r === null || typeof r.step !== 'number' || typeof r.flops !== 'number') {
      throw new MetricsFileError(`${file}:${i + 1}: a metrics line needs numeric "step" and "flops"`);
    }
    rows.push(r as MetricsRow);
  });
  // Per-row wall times live in the timings mirror (artifacts/timings/…), one line per line.
  const timings = readJsonlTimings(file);
  return timings.length ? rows.map((r, i) => mergeTimings(r, timings[i]) as MetricsRow) : rows;
}

/** The rows that carry a validation loss, in step order. */
export function evalCurve(rows: MetricsRow[]): CurvePoint[] {
  return rows
    .filter((r): r is MetricsRow & { val_loss: number } => typeof r.val_loss === 'number' && Number.isFinite(r.val_loss))
    .map((r) => ({ step: r.step, flops: r.flops, wall_s: r.wall_s, val_loss: r.val_loss }))
    .sort((a, b) => a.step - b.step);
}

/**
 * The x (FLOPs, seconds or steps) at which the curve first reaches `target` (val_loss <= target),
 * interpolated linearly between the last evaluation above the target and the first at or below
 * it. null when the curve never gets there — the caller reports that rather than a number.
 */
export function reachAt(curve: CurvePoint[], target: number, axis: Axis = 'flops'): number | null {
  for (let i = 0; i < curve.length; i++) {
    const p = curve[i];
    if (p.val_loss > target) continue;
    if (i === 0) return p[axis];
    const q = curve[i - 1];
    const t = (q.val_loss - target) / (q.val_loss - p.val_loss);
    return q[axis] + t * (p[axis] - q[axis]);
  }
  return null;
}

/**
 * The validation loss at x along `axis`, interpolated linearly; null outside the curve's range
 * (no extrapolation: a model that stopped early has no loss "at" a larger budget).
 */
export function lossAt(curve: CurvePoint[], x: number, axis: Axis = 'flops'): number | null {
  if (curve.length === 0) return null;
  const first = curve[0];
  const last = curve[curve.length - 1];
  if (x < first[axis] || x > last[axis]) return null;
  for (let i = 1; i < curve.length; i++) {
    const q = curve[i - 1];
    const p = curve[i];
    if (x <= p[axis]) {
      const span = p[axis] - q[axis];
      if (span === 0) return p.val_loss;
      return q.val_loss + ((x - q[axis]) / span) * (p.val_loss - q.val_loss);
    }
  }
  return last.val_loss;
}

/** The last evaluation's loss: a run's final validation loss. */
export function finalLoss(curve: CurvePoint[]): number {
  if (curve.length === 0) throw new MetricsFileError('a training run logged no validation loss');
  return curve[curve.length - 1].val_loss;
}
