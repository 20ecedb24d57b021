/**
 * Loss measurements combine writes into growth.json: a model's mean next-token loss on fixed
 * batches, and — for several sources — the loss of their exact ensemble (the average of their
 * logits), which is what merge approximates; the gap is the pooled-LayerNorm effect.
 */
import * as tf from '../backend/tf.ts';
import type { HostWeights, ModelConfig } from '../core/config.ts';
import { logits2d, lossFromLogits, toTensors } from '../core/model.ts';
import type { Batch } from '../core/sampler.ts';

export interface LossReport {
  /** Mean token loss of the model. */
  loss: number;
  tokens: number;
}

async function withTensors<T>(w: HostWeights, f: (t: Record<string, tf.Tensor>) => Promise<T>): Promise<T> {
  const ts = toTensors(w);
  try {
    return await f(ts);
  } finally {
    tf.dispose(Object.values(ts));
  }
}

/** Reads scalars back (asynchronously: webgpu cannot read synchronously in Node) and disposes them. */
async function scalars(ts: tf.Tensor[]): Promise<number[]> {
  try {
    return (await Promise.all(ts.map((t) => t.data()))).map((d) => d[0]);
  } finally {
    tf.dispose(ts);
  }
}

/** Mean loss over `batches` (every batch has the same number of tokens, so a plain mean). */
export async function meanLoss(cfg: ModelConfig, w: HostWeights, batches: Batch[]): Promise<LossReport> {
  return withTensors(w, async (ts) => {
    let sum = 0;
    for (const b of batches) {
      const [l] = await scalars([
        tf.tidy(() =>
          lossFromLogits(logits2d(cfg, ts, tf.tensor2d(b.x, [b.batch, b.seq], 'int32')), tf.tensor2d(b.y, [b.batch, b.seq], 'int32')),
        ),
      ]);
      sum += l;
    }
    return { loss: sum / batches.length, tokens: batches.reduce((n, b) => n + b.batch * b.seq, 0) };
  });
}

export interface EnsembleGap {
  /** Loss of the average of the sources' logits (the exact ensemble merge aims at). */
  ensembleLoss: number;
  /** Mean and max |logit(grown) − logit(ensemble)| over every position and vocabulary entry. */
  meanAbsLogitDiff: number;
  maxAbsLogitDiff: number;
}

/** Compares a grown model with the logit average of its sources on the same batches. */
export async function ensembleGap(
  grown: { cfg: ModelConfig; weights: HostWeights },
  sources: { cfg: ModelConfig; weights: HostWeights }[],
  batches: Batch[],
): Promise<EnsembleGap> {
  const all = [grown, ...sources].map((m) => ({ cfg: m.cfg, ts: toTensors(m.weights) }));
  try {
    let loss = 0;
    let meanDiff = 0;
    let maxDiff = 0;
    for (const b of batches) {
      const [l, mean, max] = await scalars(
        tf.tidy(() => {
          const x = tf.tensor2d(b.x, [b.batch, b.seq], 'int32');
          const [g, ...s] = all.map((m) => logits2d(m.cfg, m.ts, x));
          const avg = tf.div(tf.addN(s), s.length);
          const diff = tf.abs(tf.sub(g, avg));
          return [lossFromLogits(avg, tf.tensor2d(b.y, [b.batch, b.seq], 'int32')), tf.mean(diff), tf.max(diff)];
        }),
      );
      loss += l;
      meanDiff += mean;
      maxDiff = Math.max(maxDiff, max);
    }
    return { ensembleLoss: loss / batches.length, meanAbsLogitDiff: meanDiff / batches.length, maxAbsLogitDiff: maxDiff };
  } finally {
    for (const m of all) tf.dispose(Object.values(m.ts));
  }
}
