/**
 * stack — depth growth. G_stack (Du et al., 2024): layer i of the grown model is a copy of layer
 * i mod L0, i.e. the whole small stack repeated. The zero variant keeps the L0 source layers in
 * place and appends copies whose attn.c_proj and mlp.c_proj weights and biases are zero: each new
 * block adds nothing to the residual stream, so the function is exactly the source's, yet its
 * LayerNorms and input projections start from trained values.
 */
import type { HostWeights, ModelConfig } from '../core/config.ts';
import { GrowthError, cloneWeights, get, layerNames } from './weights.ts';

export interface StackOptions {
  /** New blocks start as identities (exact) instead of plain copies. */
  zero?: boolean;
}

export function stack(src: ModelConfig, w: HostWeights, nLayer: number, opts: StackOptions = {}) {
  if (nLayer < src.nLayer) throw new GrowthError(`stack cannot shrink ${src.nLayer} layers to ${nLayer}`);
  const out: HostWeights = new Map();
  for (const [k, t] of cloneWeights(w)) if (!k.startsWith('transformer.h.')) out.set(k, t);
  for (let l = 0; l < nLayer; l++) {
    const from = layerNames(l % src.nLayer);
    const to = layerNames(l);
    for (const key of Object.keys(from) as (keyof typeof from)[]) {
      const t = get(w, from[key]);
      const data = new Float32Array(t.data);
      const isOutput = key === 'attnProjW' || key === 'attnProjB' || key === 'mlpProjW' || key === 'mlpProjB';
      if (opts.zero && l >= src.nLayer && isOutput) data.fill(0);
      out.set(to[key], { shape: [...t.shape], data });
    }
  }
  return { cfg: { ...src, nLayer }, weights: out };
}
