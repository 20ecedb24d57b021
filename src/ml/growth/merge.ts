/**
 * merge — all n small models side by side in width (our construction; no published growth method
 * uses several sources this way). Residual stream h' = [h_1 | … | h_n]: embeddings concatenated,
 * every projection block-diagonal (model m's heads become heads m·H0 … m·H0+H0−1, its MLP units
 * m·F0 …), LayerNorm gains and biases concatenated, and the final LayerNorm divided by n so the
 * tied readout Σ_m ln_f(h_m)·W_mᵀ / n is the average of the small models' logits.
 *
 * Not exact for different models: each LayerNorm now takes mean and variance over all n·d0
 * channels instead of each model's own d0 — the pooled-statistics effect that tests and
 * growth.json measure. For n identical models the pooled statistics equal each model's, so the
 * result is exact (and equals fpi with k = n). Optional noise in the off-diagonal blocks lets the
 * models start talking to each other at once.
 */
import type { HostWeights, ModelConfig } from '../core/config.ts';
import { Rng } from './random.ts';
import { GrowthError, LNF_B, LNF_W, type Tensor, WPE, WTE, checkWeights, get, layerNames, std, zeros } from './weights.ts';

export interface MergeOptions {
  /** Off-diagonal blocks ~ N(0, (offDiagonal·std(W))²); 0 (default) keeps them zero. */
  offDiagonal?: number;
  seed?: number;
}

export function mergedConfig(src: ModelConfig, n: number): ModelConfig {
  return { ...src, nEmbd: n * src.nEmbd, nHead: n * src.nHead, nInner: n * src.nInner };
}

/**
 * Places n matrices [r0, c0] block-diagonally; columns come in `sections` (c_attn's q|k|v) each
 * holding the n models' blocks in order.
 */
function blockDiag(ws: Tensor[], sections: number, offDiag: number, rng: Rng): Tensor {
  const n = ws.length;
  const [r0, c0] = ws[0].shape;
  const cs = c0 / sections;
  const out = zeros([n * r0, n * c0]);
  const c1 = n * c0;
  if (offDiag > 0) {
    const sigma = offDiag * (ws.reduce((a, w) => a + std(w.data), 0) / n);
    for (let i = 0; i < out.data.length; i++) out.data[i] = sigma * rng.normal();
  }
  ws.forEach((w, m) => {
    for (let i = 0; i < r0; i++) {
      for (let s = 0; s < sections; s++) {
        for (let c = 0; c < cs; c++) {
          out.data[(m * r0 + i) * c1 + s * n * cs + m * cs + c] = w.data[i * c0 + s * cs + c];
        }
      }
    }
  });
  return out;
}

/** Concatenates vectors (or the columns of matrices with equal rows), `sections` as above. */
function concatCols(ws: Tensor[], sections = 1, scale = 1): Tensor {
  const n = ws.length;
  const vector = ws[0].shape.length === 1;
  const [r, c0] = vector ? [1, ws[0].shape[0]] : ws[0].shape;
  const cs = c0 / sections;
  const c1 = n * c0;
  const out = zeros(vector ? [c1] : [r, c1]);
  ws.forEach((w, m) => {
    for (let i = 0; i < r; i++) {
      for (let s = 0; s < sections; s++) {
        for (let c = 0; c < cs; c++) out.data[i * c1 + s * n * cs + m * cs + c] = scale * w.data[i * c0 + s * cs + c];
      }
    }
  });
  return out;
}

export function merge(src: ModelConfig, sources: HostWeights[], opts: MergeOptions = {}) {
  const n = sources.length;
  if (n < 1) throw new GrowthError('merge needs at least one source model');
  sources.forEach((w, i) => checkWeights(src, w, `merge source ${i + 1}`));
  const rng = new Rng(opts.seed ?? 0);
  const off = opts.offDiagonal ?? 0;
  const all = (name: string) => sources.map((w) => get(w, name));
  const out: HostWeights = new Map();
  out.set(WTE, concatCols(all(WTE)));
  out.set(WPE, concatCols(all(WPE)));
  for (let l = 0; l < src.nLayer; l++) {
    const k = layerNames(l);
    out.set(k.ln1w, concatCols(all(k.ln1w))).set(k.ln1b, concatCols(all(k.ln1b)));
    out.set(k.attnW, blockDiag(all(k.attnW), 3, off, rng)).set(k.attnB, concatCols(all(k.attnB), 3));
    out.set(k.attnProjW, blockDiag(all(k.attnProjW), 1, off, rng)).set(k.attnProjB, concatCols(all(k.attnProjB)));
    out.set(k.ln2w, concatCols(all(k.ln2w))).set(k.ln2b, concatCols(all(k.ln2b)));
    out.set(k.fcW, blockDiag(all(k.fcW), 1, off, rng)).set(k.fcB, concatCols(all(k.fcB)));
    out.set(k.mlpProjW, blockDiag(all(k.mlpProjW), 1, off, rng)).set(k.mlpProjB, concatCols(all(k.mlpProjB)));
  }
  out.set(LNF_W, concatCols(all(LNF_W), 1, 1 / n)).set(LNF_B, concatCols(all(LNF_B), 1, 1 / n));
  return { cfg: mergedConfig(src, n), weights: out };
}
