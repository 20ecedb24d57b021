/**
 * Analytic FLOPs for the growth operator's own training (ligo). A multiply-add is 2 FLOPs; a
 * backward pass costs twice its forward (gradients with respect to both operands of every
 * matmul), so a training step is 3× the forward. Elementwise work (LayerNorm, GELU, softmax) is
 * left out, as in the usual 6·N·D accounting. The forward of a GPT-2 block stack on B×T tokens:
 *   per layer  2BT·(d·3a + a·d + 2·d·f)      projections
 *            + 2·2·B·H·T²·hs                 attention scores and mixing (full T², as computed)
 *   readout    2BT·d·V                        tied logits
 */
import type { ModelConfig } from '../config.ts';
import { attnDim } from '../config.ts';

export function forwardFlops(c: ModelConfig, batch: number, seq: number): number {
  const bt = batch * seq;
  const a = attnDim(c);
  const perLayer = 2 * bt * (c.nEmbd * 3 * a + a * c.nEmbd + 2 * c.nEmbd * c.nInner) + 4 * batch * c.nHead * seq * seq * c.headSize;
  return c.nLayer * perLayer + 2 * bt * c.nEmbd * c.vocabSize;
}

export function trainStepFlops(c: ModelConfig, batch: number, seq: number): number {
  return 3 * forwardFlops(c, batch, seq);
}
