/**
 * fpi — function-preserving width expansion of one model (Net2Net; bert2BERT's FPI; Staged
 * Training's width operator): every residual channel copied k = d1/d0 times so LayerNorm sees the
 * same mean and variance, whole heads copied (head size fixed), MLP units copied, fan-in weights
 * split over the copies, the final LayerNorm split so the tied logits are unchanged.
 */
import type { HostWeights, ModelConfig } from '../core/config.ts';
import { type WidthOptions, expandWidth } from './width.ts';
import { GrowthError } from './weights.ts';

export function fpi(src: ModelConfig, w: HostWeights, tgt: ModelConfig, opts: WidthOptions = {}) {
  if (tgt.nEmbd % src.nEmbd !== 0) {
    throw new GrowthError(
      `fpi copies every residual channel the same number of times, so nEmbd ${tgt.nEmbd} must be a multiple of ${src.nEmbd}; use growth.method lemon for any wider size`,
    );
  }
  return expandWidth(src, w, tgt, opts);
}
