/**
 * artifacts/eval/metrics.json, written by the evaluate stage: every model's held-out loss,
 * perplexity and next-token accuracy on every dataset's test split. A grow `metrics:` file.
 */
import { existsSync, readFileSync } from 'node:fs';
import type { ModelRef } from './artifacts/layout.ts';

export interface DatasetScore {
  loss: number;
  ppl: number;
  accuracy: number;
  tokens: number;
}

/** A model of the run (its ModelRef without the directory) and its scores. */
export interface EvaluatedModel extends Omit<ModelRef, 'dir'> {
  params: number;
  /** dataset name → scores; "combined" is the token-weighted mean over the datasets. */
  datasets: Record<string, DatasetScore>;
}

export interface EvalMetrics {
  schema: 1;
  backend: string;
  /** The GPU adapter, on webgpu only. */
  adapter?: string;
  split: string;
  datasets: string[];
  models: EvaluatedModel[];
}

export function readEvalMetrics(file: string): EvalMetrics {
  if (!existsSync(file)) throw new Error(`${file} is missing; run the evaluate stage first (grow run evaluate)`);
  const o = JSON.parse(readFileSync(file, 'utf8')) as EvalMetrics;
  if (o.schema !== 1 || !Array.isArray(o.models) || !Array.isArray(o.datasets)) {
    throw new Error(`${file}: not an evaluate metrics file (schema 1 with datasets and models); re-run evaluate`);
  }
  return o;
}

/** Token-weighted mean of per-dataset scores (the loss of the concatenated test splits). */
export function combineScores(scores: DatasetScore[]): DatasetScore {
  const tokens = scores.reduce((a, s) => a + s.tokens, 0);
  const w = (f: (s: DatasetScore) => number) => (tokens === 0 ? NaN : scores.reduce((a, s) => a + f(s) * s.tokens, 0) / tokens);
  const loss = w((s) => s.loss);
  return { loss, ppl: Math.exp(loss), accuracy: w((s) => s.accuracy), tokens };
}
