/**
 * Single-source width expansion, shared by fpi (integer copy factor) and lemon (any wider size).
 *
 * For a linear map y = x W (W is [in, out]):
 * - fan-out (columns): each new output unit copies its source column; a MEAN unit takes the mean
 *   of the row (so a residual writer keeps the extra channels at the mean); a FRESH unit gets a
 *   random column.
 * - fan-in (rows): each copy j of source input unit i gets W[i,:] times a coefficient c_j with
 *   Σ_j c_j = 1 over the copy group, so Σ_j x_j c_j W[i,:] = x_i W[i,:] as all x_j equal x_i.
 *   MEAN and FRESH input rows are zero (their inputs are 0, or must not reach the output yet).
 * Symmetry breaking keeps Σ_j c_j = 1: `split` draws one c_j per copy (1/k + ε z_j, Σ z_j = 0),
 * `noise` adds independent zero-sum noise to every element (ε·std(W)·(z_jo − mean_j z_jo)), which
 * decorrelates the copies' rows in direction, not only in scale.
 */
import type { HostWeights, ModelConfig } from '../core/config.ts';
import { Rng } from './random.ts';
import { MEAN, type UnitMap, headsToUnits, hiddenMap, residualMap } from './units.ts';
import { GrowthError, LNF_B, LNF_W, type Tensor, WPE, WTE, get, layerNames, std, zeros } from './weights.ts';

export type Symmetry = 'none' | 'split' | 'noise';

export interface WidthOptions {
  /** How copies' fan-in weights are split (all choices are exact). Default none. */
  symmetry?: Symmetry;
  /** Strength of the split: `split` c_j = 1/k + ε z_j; `noise` std ε·std(W). Default 0.01 / 0.1. */
  epsilon?: number;
  /** New heads and MLP units: copies of old ones (default) or FRESH (random in, zero out). */
  newUnits?: 'copy' | 'fresh';
  seed?: number;
}

export interface WidthPlan {
  resid: UnitMap;
  attn: UnitMap;
  mlp: UnitMap;
}

export function planWidth(src: ModelConfig, tgt: ModelConfig, fresh: boolean): WidthPlan {
  const heads = hiddenMap(src.nHead, tgt.nHead, fresh);
  return {
    resid: residualMap(src.nEmbd, tgt.nEmbd),
    attn: headsToUnits(heads, src.headSize),
    mlp: hiddenMap(src.nInner, tgt.nInner, fresh),
  };
}

/** Columns of W [r, c0] → [r, c1] per `cols` (source index, MEAN or FRESH); a 1-D W is one row. */
function expandCols(W: Tensor, cols: ArrayLike<number>, rng: Rng): Tensor {
  const [r, c0] = W.shape.length === 1 ? [1, W.shape[0]] : W.shape;
  const c1 = cols.length;
  const out = zeros(W.shape.length === 1 ? [c1] : [r, c1]);
  const sigma = std(W.data) || 0.02;
  for (let i = 0; i < r; i++) {
    const row = W.data.subarray(i * c0, (i + 1) * c0);
    let mean = 0;
    for (const x of row) mean += x;
    mean /= c0;
    for (let o = 0; o < c1; o++) {
      const s = cols[o];
      // A fresh unit's bias (r = 1) starts at zero, its weights at the source's scale.
      out.data[i * c1 + o] = s >= 0 ? row[s] : s === MEAN ? mean : r === 1 ? 0 : sigma * rng.normal();
    }
  }
  return out;
}

/** Zero-mean draws for one copy group (so Σ_j over the group of the perturbation is 0). */
function zeroSum(n: number, rng: Rng): number[] {
  const z = Array.from({ length: n }, () => rng.normal());
  const m = z.reduce((a, b) => a + b, 0) / n;
  return z.map((x) => x - m);
}

/**
 * Rows of W [r0, c] → [r1, c] per the input unit map: copies get split fan-in weights, MEAN and
 * FRESH rows are zero — except under `noise`, where MEAN rows get noise too (their input, the
 * normalised mean channel, is exactly zero).
 */
function expandRows(W: Tensor, map: UnitMap, sym: Symmetry, eps: number, rng: Rng, scale = 1): Tensor {
  const c = W.shape[1];
  const out = zeros([map.n1, c]);
  const sigma = std(W.data);
  for (let i = 0; i < map.n0; i++) {
    const group = map.groups[i];
    const k = group.length;
    const row = W.data.subarray(i * c, (i + 1) * c);
    const split = sym === 'split' && k > 1 ? zeroSum(k, rng) : undefined;
    group.forEach((j, g) => {
      const coef = (1 / k + (split ? eps * split[g] : 0)) * scale;
      for (let o = 0; o < c; o++) out.data[j * c + o] = coef * row[o];
    });
    if (sym === 'noise' && k > 1) {
      for (let o = 0; o < c; o++) {
        const z = zeroSum(k, rng);
        group.forEach((j, g) => (out.data[j * c + o] += eps * sigma * z[g] * scale));
      }
    }
  }
  if (sym === 'noise') {
    map.src.forEach((s, j) => {
      if (s === MEAN) for (let o = 0; o < c; o++) out.data[j * c + o] = eps * sigma * rng.normal();
    });
  }
  return out;
}

function sectionCols(map: UnitMap, sections: number): Int32Array {
  const cols = new Int32Array(map.n1 * sections);
  for (let s = 0; s < sections; s++) {
    for (let u = 0; u < map.n1; u++) {
      const v = map.src[u];
      cols[s * map.n1 + u] = v >= 0 ? s * map.n0 + v : v;
    }
  }
  return cols;
}

/**
 * LayerNorm over the grown residual: copies keep mean μ and scale the variance by ρ² = q·d0/d1
 * (the MEAN channels add no deviation); with ε' = ρ²ε the normalised copies are 1/ρ times the
 * original, so the gain is multiplied by ρ. MEAN channels normalise to 0: gain mean(γ)·ρ, bias 0.
 */
function expandLn(g: Tensor, b: Tensor, resid: UnitMap, rho: number): [Tensor, Tensor] {
  const meanG = g.data.reduce((a, x) => a + x, 0) / g.data.length;
  const g1 = zeros([resid.n1]);
  const b1 = zeros([resid.n1]);
  resid.src.forEach((s, j) => {
    g1.data[j] = rho * (s >= 0 ? g.data[s] : meanG);
    b1.data[j] = s >= 0 ? b.data[s] : 0;
  });
  return [g1, b1];
}

/**
 * The final LayerNorm feeds the tied readout logits = ln_f(h)·wteᵀ, whose wte columns are copied:
 * it is a fan-in like any other, so its gain and bias are split over each copy group (Σ c_j = 1)
 * — that is the 1/k of the issue — with the same symmetry options.
 */
function expandLnFinal(g: Tensor, b: Tensor, resid: UnitMap, rho: number, sym: Symmetry, eps: number, rng: Rng): [Tensor, Tensor] {
  const both: Tensor = { shape: [g.data.length, 2], data: new Float32Array(g.data.length * 2) };
  g.data.forEach((x, i) => {
    both.data[2 * i] = x * rho;
    both.data[2 * i + 1] = b.data[i];
  });
  // Reuse the row splitter: each channel is a row holding (γ, β); noise scale from the gains.
  const rows = expandRows(both, resid, sym === 'noise' ? 'none' : sym, eps, rng);
  if (sym === 'noise') {
    const sigma = std(g.data) || 1;
    for (const group of resid.groups) {
      if (group.length < 2) continue;
      for (let col = 0; col < 2; col++) {
        const z = zeroSum(group.length, rng);
        group.forEach((j, gi) => (rows.data[2 * j + col] += eps * sigma * z[gi]));
      }
    }
  }
  const g1 = zeros([resid.n1]);
  const b1 = zeros([resid.n1]);
  for (let j = 0; j < resid.n1; j++) {
    g1.data[j] = rows.data[2 * j];
    b1.data[j] = rows.data[2 * j + 1];
  }
  return [g1, b1];
}

function defaultEpsilon(sym: Symmetry): number {
  return sym === 'noise' ? 0.1 : sym === 'split' ? 0.01 : 0;
}

/**
 * Grows `w` (config `src`) to the width of `tgt` (its nLayer must equal src's). Returns the grown
 * weights and the grown config, whose lnEps is ρ²·eps (equal to eps when d1 is a multiple of d0).
 */
export function expandWidth(
  src: ModelConfig,
  w: HostWeights,
  tgt: ModelConfig,
  opts: WidthOptions = {},
): { cfg: ModelConfig; weights: HostWeights } {
  if (tgt.nEmbd < src.nEmbd || tgt.nHead < src.nHead || tgt.nInner < src.nInner) {
    throw new GrowthError(
      `width growth needs a target at least as wide as the source in every dimension: ` +
        `nEmbd ${src.nEmbd}→${tgt.nEmbd}, nHead ${src.nHead}→${tgt.nHead}, nInner ${src.nInner}→${tgt.nInner}`,
    );
  }
  if (tgt.headSize !== src.headSize) {
    throw new GrowthError(
      `width growth keeps the head size (${src.headSize}); the target has headSize ${tgt.headSize}. Grow nHead instead.`,
    );
  }
  if (tgt.vocabSize !== src.vocabSize)
    throw new GrowthError(`source and target vocabSize differ (${src.vocabSize} vs ${tgt.vocabSize}); they must share the tokenizer`);
  const sym = opts.symmetry ?? 'none';
  const eps = opts.epsilon ?? defaultEpsilon(sym);
  const rng = new Rng(opts.seed ?? 0);
  const plan = planWidth(src, tgt, opts.newUnits === 'fresh');
  const q = Math.floor(tgt.nEmbd / src.nEmbd);
  const rho = Math.sqrt((q * src.nEmbd) / tgt.nEmbd);
  const cfg: ModelConfig = { ...tgt, nLayer: src.nLayer, blockSize: src.blockSize, lnEps: src.lnEps * rho * rho };
  const out: HostWeights = new Map();
  const residCols = plan.resid.src;

  out.set(WTE, expandCols(get(w, WTE), residCols, rng));
  out.set(WPE, expandCols(get(w, WPE), residCols, rng));
  for (let l = 0; l < src.nLayer; l++) {
    const n = layerNames(l);
    const [g1, b1] = expandLn(get(w, n.ln1w), get(w, n.ln1b), plan.resid, rho);
    out.set(n.ln1w, g1).set(n.ln1b, b1);
    const qkvCols = sectionCols(plan.attn, 3);
    out.set(n.attnW, expandRows(expandCols(get(w, n.attnW), qkvCols, rng), plan.resid, sym, eps, rng));
    out.set(n.attnB, expandCols(get(w, n.attnB), qkvCols, rng));
    out.set(n.attnProjW, expandRows(expandCols(get(w, n.attnProjW), residCols, rng), plan.attn, sym, eps, rng));
    out.set(n.attnProjB, expandCols(get(w, n.attnProjB), residCols, rng));
    const [g2, b2] = expandLn(get(w, n.ln2w), get(w, n.ln2b), plan.resid, rho);
    out.set(n.ln2w, g2).set(n.ln2b, b2);
    out.set(n.fcW, expandRows(expandCols(get(w, n.fcW), plan.mlp.src, rng), plan.resid, sym, eps, rng));
    out.set(n.fcB, expandCols(get(w, n.fcB), plan.mlp.src, rng));
    out.set(n.mlpProjW, expandRows(expandCols(get(w, n.mlpProjW), residCols, rng), plan.mlp, sym, eps, rng));
    out.set(n.mlpProjB, expandCols(get(w, n.mlpProjB), residCols, rng));
  }
  const [gf, bf] = expandLnFinal(get(w, LNF_W), get(w, LNF_B), plan.resid, rho, sym, eps, rng);
  out.set(LNF_W, gf).set(LNF_B, bf);
  return { cfg, weights: out };
}
