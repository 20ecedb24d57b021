/**
 * Evaluation: mean next-token cross-entropy, perplexity and next-token accuracy. Deterministic:
 * fixed windows, no sampling.
 */
import * as tf from '../backend/tf.ts';
import type { ModelConfig } from './config.ts';
import { logits2d, lossFromLogits, type Weights } from './model.ts';
import type { Batch } from './sampler.ts';

export interface EvalResult {
  loss: number;
  perplexity: number;
  accuracy: number;
  /** Number of predicted tokens the figures average over. */
  tokens: number;
}

/**
 * Loss and accuracy summed over one batch (not averaged, so batches of any size combine). Async:
 * on webgpu the two numbers can only be read back asynchronously.
 */
async function batchSums(cfg: ModelConfig, weights: Weights, b: Batch): Promise<{ loss: number; correct: number; n: number }> {
  const [lossT, correctT] = tf.tidy(() => {
    const x = tf.tensor2d(b.x, [b.batch, b.seq], 'int32');
    const y = tf.tensor1d(b.y, 'int32');
    const z = logits2d(cfg, weights, x);
    return [lossFromLogits(z, y), tf.sum(tf.cast(tf.equal(tf.argMax(z, 1), y), 'int32'))];
  });
  try {
    const [loss, correct] = await Promise.all([lossT.data(), correctT.data()]);
    const n = b.batch * b.seq;
    return { loss: loss[0] * n, correct: correct[0], n };
  } finally {
    tf.dispose([lossT, correctT]);
  }
}

export async function evaluateBatches(cfg: ModelConfig, weights: Weights, batches: Batch[]): Promise<EvalResult> {
  let loss = 0;
  let correct = 0;
  let n = 0;
  for (const b of batches) {
    const s = await batchSums(cfg, weights, b);
    loss += s.loss;
    correct += s.correct;
    n += s.n;
  }
  const mean = n ? loss / n : NaN;
  return { loss: mean, perplexity: Math.exp(mean), accuracy: n ? correct / n : NaN, tokens: n };
}

/**
 * Evaluates a whole token stream in non-overlapping windows: window k predicts tokens
 * k·seq+1 .. k·seq+seq from the seq tokens before each. The tail shorter than a window is not
 * scored (at most seq tokens). Windows are batched `batch` at a time; the last batch may be short.
 */
export async function evaluateStream(
  cfg: ModelConfig,
  weights: Weights,
  tokens: Uint16Array,
  opts: { seq: number; batch: number },
): Promise<EvalResult> {
  const { seq, batch } = opts;
  if (seq > cfg.blockSize) throw new Error(`evaluation seq ${seq} exceeds the model's blockSize ${cfg.blockSize}`);
  const windows = Math.floor((tokens.length - 1) / seq);
  if (windows < 1) throw new Error(`token stream of ${tokens.length} tokens is shorter than one window of ${seq + 1}`);
  const batches: Batch[] = [];
  for (let w0 = 0; w0 < windows; w0 += batch) {
    const rows = Math.min(batch, windows - w0);
    const x = new Int32Array(rows * seq);
    const y = new Int32Array(rows * seq);
    for (let r = 0; r < rows; r++) {
      const o = (w0 + r) * seq;
      for (let t = 0; t < seq; t++) {
        x[r * seq + t] = tokens[o + t];
        y[r * seq + t] = tokens[o + t + 1];
      }
    }
    batches.push({ x, y, batch: rows, seq });
  }
  return evaluateBatches(cfg, weights, batches);
}
