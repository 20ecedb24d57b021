/**
 * Carrying AdamW moments across growth (optional; the default is a fresh optimizer and a short
 * re-warmup). At a function-preserving grown point the large model's gradient is a copy of the
 * small one's, scaled per parameter by 1/k, where k is how many times the unit the parameter
 * *feeds* was copied: a copied unit's fan-out is split k ways, so each copy receives 1/k of the
 * upstream gradient. Residual writers, embeddings and ln_1/ln_2 feed residual channels (k = d1/d0);
 * c_attn columns feed a head copied c_h times; c_fc columns an MLP unit copied c_f times; ln_f feeds
 * the tied readout, whose wte columns are copied, not split (k = 1). So m' = m/k and v' = v/k²
 * reproduce, element by element, the moments the large model would have accumulated. Units with no
 * source (LEMON's mean channels, fresh units, off-diagonal merge blocks) start at zero moments.
 */
import type { HostWeights, ModelConfig } from '../core/config.ts';
import type { UnitMap } from './units.ts';
import { planWidth } from './width.ts';
import { LNF_B, LNF_W, type Tensor, WPE, WTE, get, layerNames, zeros } from './weights.ts';

export interface AdamMoments {
  /** First moments, same names and shapes as the weights. */
  m: HostWeights;
  /** Second moments. */
  v: HostWeights;
}

/** How a moment tensor grows: rows copied (not split) per `rows`, columns copied per `cols`. */
function copyGrow(t: Tensor, rows: Int32Array | null, cols: Int32Array, colFactor: Float64Array, power: number): Tensor {
  const vector = t.shape.length === 1;
  const c0 = vector ? t.shape[0] : t.shape[1];
  const r1 = vector ? 1 : rows ? rows.length : t.shape[0];
  const c1 = cols.length;
  const out = zeros(vector ? [c1] : [r1, c1]);
  for (let j = 0; j < r1; j++) {
    const i = vector ? 0 : rows ? rows[j] : j;
    if (i < 0) continue;
    for (let o = 0; o < c1; o++) {
      const s = cols[o];
      if (s >= 0) out.data[j * c1 + o] = t.data[i * c0 + s] * colFactor[o] ** power;
    }
  }
  return out;
}

/** Per new unit: 1/(copies of its source) or 0 when it has none. */
function inverseCounts(map: UnitMap): Float64Array {
  return Float64Array.from(map.src, (s) => (s >= 0 ? 1 / map.groups[s].length : 0));
}

function sections(map: UnitMap, n: number): { cols: Int32Array; factor: Float64Array } {
  const inv = inverseCounts(map);
  const cols = new Int32Array(map.n1 * n);
  const factor = new Float64Array(map.n1 * n);
  for (let s = 0; s < n; s++) {
    for (let u = 0; u < map.n1; u++) {
      const v = map.src[u];
      cols[s * map.n1 + u] = v >= 0 ? s * map.n0 + v : v;
      factor[s * map.n1 + u] = inv[u];
    }
  }
  return { cols, factor };
}

function growMomentWidth(src: ModelConfig, tgt: ModelConfig, w: HostWeights, power: number, fresh: boolean): HostWeights {
  const plan = planWidth(src, tgt, fresh);
  const r = plan.resid.src;
  const rInv = inverseCounts(plan.resid);
  const ones = new Float64Array(r.length).fill(1);
  const qkv = sections(plan.attn, 3);
  const mlp = sections(plan.mlp, 1);
  const out: HostWeights = new Map();
  const g = (name: string) => get(w, name);
  out.set(WTE, copyGrow(g(WTE), null, r, rInv, power));
  out.set(WPE, copyGrow(g(WPE), null, r, rInv, power));
  for (let l = 0; l < src.nLayer; l++) {
    const n = layerNames(l);
    for (const k of [n.ln1w, n.ln1b, n.ln2w, n.ln2b, n.attnProjB, n.mlpProjB]) out.set(k, copyGrow(g(k), null, r, rInv, power));
    out.set(n.attnW, copyGrow(g(n.attnW), r, qkv.cols, qkv.factor, power));
    out.set(n.attnB, copyGrow(g(n.attnB), null, qkv.cols, qkv.factor, power));
    out.set(n.attnProjW, copyGrow(g(n.attnProjW), plan.attn.src, r, rInv, power));
    out.set(n.fcW, copyGrow(g(n.fcW), r, mlp.cols, mlp.factor, power));
    out.set(n.fcB, copyGrow(g(n.fcB), null, mlp.cols, mlp.factor, power));
    out.set(n.mlpProjW, copyGrow(g(n.mlpProjW), plan.mlp.src, r, rInv, power));
  }
  out.set(LNF_W, copyGrow(g(LNF_W), null, r, ones, power));
  out.set(LNF_B, copyGrow(g(LNF_B), null, r, ones, power));
  return out;
}

/** Moments for fpi/lemon growth of one source (same `newUnits` choice as the weights). */
export function carryWidthMoments(
  src: ModelConfig,
  tgt: ModelConfig,
  s: AdamMoments,
  opts: { newUnits?: 'copy' | 'fresh' } = {},
): AdamMoments {
  const fresh = opts.newUnits === 'fresh';
  return { m: growMomentWidth(src, tgt, s.m, 1, fresh), v: growMomentWidth(src, tgt, s.v, 2, fresh) };
}

/**
 * Moments for merge: model i's moments go into its own blocks, scaled as if each model's residual
 * channels were copied n times (the readout averages n models, so each receives 1/n of the
 * gradient), ln_f excepted; off-diagonal blocks start at zero.
 */
export function carryMergeMoments(sources: AdamMoments[]): AdamMoments {
  const n = sources.length;
  const place = (which: 'm' | 'v', power: number): HostWeights => {
    const out: HostWeights = new Map();
    for (const [name, t] of sources[0][which]) out.set(name, zeros(shapeOf(name, t.shape, n)));
    sources.forEach((s, i) => {
      for (const [name, t] of s[which]) {
        const scale = name === LNF_W || name === LNF_B ? 1 : (1 / n) ** power;
        placeBlock(
          out.get(name)!,
          t,
          i,
          n,
          name.endsWith('c_attn.weight') || name.endsWith('c_attn.bias') ? 3 : 1,
          scale,
          isMatrixBlock(name),
        );
      }
    });
    return out;
  };
  return { m: place('m', 1), v: place('v', 2) };
}

function isMatrixBlock(name: string): boolean {
  return /\.(c_attn|c_proj|c_fc)\.weight$/.test(name);
}

function shapeOf(name: string, shape: number[], n: number): number[] {
  if (shape.length === 1) return [shape[0] * n];
  if (isMatrixBlock(name)) return [shape[0] * n, shape[1] * n];
  return [shape[0], shape[1] * n]; // wte, wpe: columns concatenated
}

/** Puts `t` into block i of `out` (same layout as merge.ts: sections hold the n models in order). */
function placeBlock(out: Tensor, t: Tensor, i: number, n: number, nSections: number, scale: number, diagonal: boolean): void {
  const vector = t.shape.length === 1;
  const [r0, c0] = vector ? [1, t.shape[0]] : t.shape;
  const cs = c0 / nSections;
  const c1 = c0 * n;
  for (let r = 0; r < r0; r++) {
    const row = diagonal ? i * r0 + r : r;
    for (let s = 0; s < nSections; s++) {
      for (let c = 0; c < cs; c++) out.data[row * c1 + s * n * cs + i * cs + c] = scale * t.data[r * c0 + s * cs + c];
    }
  }
}
