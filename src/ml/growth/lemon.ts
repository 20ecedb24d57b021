/**
 * lemon — lossless width expansion to any d1 > d0 (LEMON, Wang et al., ICLR 2024): ⌊d1/d0⌋ whole
 * copies of the residual channels plus d1 mod d0 channels that carry the mean of the others. Every
 * residual writer (embeddings, output projections) writes the mean of its columns into those
 * channels, so they stay at the mean through the network; LayerNorm then sees the same mean and a
 * variance scaled by ρ² = q·d0/d1, which a gain ×ρ and epsilon ×ρ² undo exactly. Heads and MLP
 * units grow by copies (or fresh units with zero fan-out); the same exact symmetry options apply.
 */
import type { HostWeights, ModelConfig } from '../core/config.ts';
import { type WidthOptions, expandWidth } from './width.ts';

export function lemon(src: ModelConfig, w: HostWeights, tgt: ModelConfig, opts: WidthOptions = {}) {
  return expandWidth(src, w, tgt, opts);
}
