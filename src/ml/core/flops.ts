/**
 * Analytic matmul FLOPs of one training step (formula and derivation in docs/flops.md).
 * A product of [M, K] by [K, N] costs 2·M·N·K FLOPs (one multiply and one add per term).
 * Backward computes, for every product, the gradient of both operands: 2× the forward FLOPs.
 * Elementwise work (LayerNorm, GELU, softmax, AdamW) is not counted: it is a few percent of the
 * total at these widths and its cost per element depends on the backend.
 */
import { attnDim, type ModelConfig } from './config.ts';

export interface StepFlops {
  /** Forward FLOPs per step, by term. */
  forward: {
    qkv: number;
    attnScores: number;
    attnMix: number;
    attnProj: number;
    mlp: number;
    logits: number;
    total: number;
  };
  backward: number;
  /** forward + backward. */
  training: number;
}

/** FLOPs of one step on `batch` sequences of `seq` tokens. */
export function stepFlops(cfg: ModelConfig, batch: number, seq: number): StepFlops {
  const N = batch * seq; // tokens (rows of every projection)
  const d = cfg.nEmbd;
  const a = attnDim(cfg);
  const L = cfg.nLayer;
  const qkv = L * 2 * N * d * 3 * a;
  // Full T×T score matrix per head, as computed (the causal mask is applied after the product).
  const attnScores = L * 2 * batch * cfg.nHead * seq * seq * cfg.headSize;
  const attnMix = L * 2 * batch * cfg.nHead * seq * seq * cfg.headSize;
  const attnProj = L * 2 * N * a * d;
  const mlp = L * 2 * (2 * N * d * cfg.nInner);
  const logits = 2 * N * d * cfg.vocabSize;
  const total = qkv + attnScores + attnMix + attnProj + mlp + logits;
  return {
    forward: { qkv, attnScores, attnMix, attnProj, mlp, logits, total },
    backward: 2 * total,
    training: 3 * total,
  };
}
