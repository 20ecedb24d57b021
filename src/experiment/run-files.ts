/**
 * The one reader of each file a training or combine stage writes into a model's directory:
 * train.json (its cost and final losses), metrics.jsonl (its validation curve) and growth.json
 * (what a grown model is charged for). The profile, the report and the study all read runs
 * through these, so they cannot disagree about a file's meaning.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { type CurvePoint, evalCurve, readMetrics } from './curves.ts';
import { readJsonWithTimings } from './timings.ts';

/** The fields of a training run's train.json that the analysis uses. */
export interface TrainSummary {
  backend: string;
  /** The GPU adapter (webgpu runs only). */
  adapter?: string;
  params: number;
  flops_per_step: number;
  steps: number;
  flops: number;
  wall_s: number;
  peak_rss_bytes: number | null;
  final_val_loss: number | null;
  /** Loss of the final model on the whole validation split (null when not scored). */
  full_val_loss: number | null;
}

export class ArtifactError extends Error {}

function readJson(file: string): Record<string, unknown> {
  if (!existsSync(file)) throw new ArtifactError(`${file} is missing; run the stage that writes it first`);
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new ArtifactError(`${file}: not valid JSON (${(e as Error).message})`);
  }
}

function num(o: Record<string, unknown>, file: string, ...keys: string[]): number {
  for (const k of keys) if (typeof o[k] === 'number') return o[k] as number;
  throw new ArtifactError(`${file}: needs a numeric "${keys[0]}"`);
}

/** train.json's `full_val.loss` (stages/train.ts --full-val), or null when the run has none. */
function fullValLoss(o: Record<string, unknown>, file: string): number | null {
  if (o.full_val === undefined) return null;
  const f = o.full_val as Record<string, unknown> | null;
  if (f === null || typeof f !== 'object' || typeof f.loss !== 'number')
    throw new ArtifactError(`${file}: "full_val" must be an object with a numeric "loss"`);
  return f.loss;
}

/** Reads a training run's train.json. */
export function readTrainSummary(dir: string): TrainSummary {
  const file = join(dir, 'train.json');
  readJson(file); // a clear error for a missing or broken file
  // Its wall time and RSS live in the timings mirror (artifacts/timings/…); merged back here.
  const o = readJsonWithTimings(file) as Record<string, unknown>;
  // src/ml/core/train.ts records peak RSS in MB; accept bytes too.
  const rss = typeof o.peak_rss_mb === 'number' ? o.peak_rss_mb * 2 ** 20 : o.peak_rss_bytes;
  return {
    backend: typeof o.backend === 'string' ? o.backend : 'unknown',
    ...(typeof o.adapter === 'string' ? { adapter: o.adapter } : {}),
    params: num(o, file, 'params'),
    flops_per_step: num(o, file, 'flops_per_step'),
    steps: num(o, file, 'steps'),
    flops: num(o, file, 'flops', 'total_flops'),
    wall_s: num(o, file, 'wall_s'),
    peak_rss_bytes: typeof rss === 'number' ? rss : null,
    final_val_loss: typeof o.final_val_loss === 'number' ? o.final_val_loss : null,
    full_val_loss: fullValLoss(o, file),
  };
}

/** What a grown model is charged for besides its refinement (growth.json's `charged`). */
export interface GrowthCharge {
  /** The source checkpoints the method used, as written by combine (paths) with their training FLOPs. */
  sources: { path: string; train_flops: number | null }[];
  operator_flops: number;
}

/** Reads the combine stage's growth.json: which sources the method used, and the operator's cost. */
export function readGrowthCharge(dir: string): GrowthCharge {
  const file = join(dir, 'growth.json');
  const o = readJson(file);
  const c = o.charged as { sources?: unknown; operator_flops?: unknown } | undefined;
  if (!c || !Array.isArray(c.sources)) {
    throw new ArtifactError(
      `${file}: no "charged" record of the sources this method used; re-run its combine stage (grow run --force combine)`,
    );
  }
  return {
    sources: (c.sources as { path: string; train_flops: number | null }[]).map((s) => ({ path: s.path, train_flops: s.train_flops })),
    operator_flops: typeof c.operator_flops === 'number' ? c.operator_flops : typeof o.operator_flops === 'number' ? o.operator_flops : 0,
  };
}

/** Reads a training run's validation curve (its metrics.jsonl). */
export function readCurve(dir: string): CurvePoint[] {
  return evalCurve(readMetrics(join(dir, 'metrics.jsonl')));
}
