/**
 * A deliberately naive float64 GPT-2 forward in plain JavaScript — loops straight from the
 * definitions (tanh GELU, per-head attention with an explicit causal loop, LayerNorm by formula) —
 * used as an independent reference for the tfjs model and for finite differences.
 */
import type { HostWeights, ModelConfig } from '../../src/ml/core/config.ts';

type M = Float64Array;

function mm(x: M, rows: number, k: number, w: ArrayLike<number>, n: number, b?: ArrayLike<number>): M {
  const out = new Float64Array(rows * n);
  for (let r = 0; r < rows; r++) {
    for (let j = 0; j < n; j++) {
      let s = b ? b[j] : 0;
      for (let t = 0; t < k; t++) s += x[r * k + t] * w[t * n + j];
      out[r * n + j] = s;
    }
  }
  return out;
}

function ln(x: M, rows: number, d: number, w: ArrayLike<number>, b: ArrayLike<number>, eps: number): M {
  const out = new Float64Array(x.length);
  for (let r = 0; r < rows; r++) {
    let mu = 0;
    for (let j = 0; j < d; j++) mu += x[r * d + j];
    mu /= d;
    let v = 0;
    for (let j = 0; j < d; j++) v += (x[r * d + j] - mu) ** 2;
    v /= d;
    for (let j = 0; j < d; j++) out[r * d + j] = ((x[r * d + j] - mu) / Math.sqrt(v + eps)) * w[j] + b[j];
  }
  return out;
}

/** Mean next-token cross-entropy and the logits, for one sequence batch (tokens[b][t]). */
export function referenceLoss(cfg: ModelConfig, hw: HostWeights, xs: number[][], ys: number[][]): { loss: number; logits: Float64Array } {
  const W = (n: string) => hw.get(n)!.data;
  const d = cfg.nEmbd;
  const H = cfg.nHead;
  const hs = cfg.headSize;
  const a = H * hs;
  const V = cfg.vocabSize;
  const allLogits: number[] = [];
  let total = 0;
  let count = 0;
  for (let bi = 0; bi < xs.length; bi++) {
    const T = xs[bi].length;
    let x: M = new Float64Array(T * d);
    for (let t = 0; t < T; t++) {
      for (let j = 0; j < d; j++) x[t * d + j] = W('transformer.wte.weight')[xs[bi][t] * d + j] + W('transformer.wpe.weight')[t * d + j];
    }
    for (let l = 0; l < cfg.nLayer; l++) {
      const p = `transformer.h.${l}`;
      const h = ln(x, T, d, W(`${p}.ln_1.weight`), W(`${p}.ln_1.bias`), cfg.lnEps);
      const qkv = mm(h, T, d, W(`${p}.attn.c_attn.weight`), 3 * a, W(`${p}.attn.c_attn.bias`));
      const y = new Float64Array(T * a);
      for (let hh = 0; hh < H; hh++) {
        for (let i = 0; i < T; i++) {
          const sc: number[] = [];
          for (let j = 0; j <= i; j++) {
            let s = 0;
            for (let c = 0; c < hs; c++) s += qkv[i * 3 * a + hh * hs + c] * qkv[j * 3 * a + a + hh * hs + c];
            sc.push(s / Math.sqrt(hs));
          }
          const mx = Math.max(...sc);
          const e = sc.map((s) => Math.exp(s - mx));
          const z = e.reduce((u, v) => u + v, 0);
          for (let c = 0; c < hs; c++) {
            let s = 0;
            for (let j = 0; j <= i; j++) s += (e[j] / z) * qkv[j * 3 * a + 2 * a + hh * hs + c];
            y[i * a + hh * hs + c] = s;
          }
        }
      }
      const o = mm(y, T, a, W(`${p}.attn.c_proj.weight`), d, W(`${p}.attn.c_proj.bias`));
      x = x.map((v, i) => v + o[i]);
      const h2 = ln(x, T, d, W(`${p}.ln_2.weight`), W(`${p}.ln_2.bias`), cfg.lnEps);
      const f = mm(h2, T, d, W(`${p}.mlp.c_fc.weight`), cfg.nInner, W(`${p}.mlp.c_fc.bias`));
      const g = f.map((u) => 0.5 * u * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (u + 0.044715 * u ** 3))));
      const o2 = mm(g, T, cfg.nInner, W(`${p}.mlp.c_proj.weight`), d, W(`${p}.mlp.c_proj.bias`));
      x = x.map((v, i) => v + o2[i]);
    }
    const hf = ln(x, T, d, W('transformer.ln_f.weight'), W('transformer.ln_f.bias'), cfg.lnEps);
    const wte = W('transformer.wte.weight');
    for (let t = 0; t < T; t++) {
      const z = new Float64Array(V);
      for (let v = 0; v < V; v++) {
        let s = 0;
        for (let j = 0; j < d; j++) s += hf[t * d + j] * wte[v * d + j];
        z[v] = s;
      }
      const mx = Math.max(...z);
      const lse = mx + Math.log(z.reduce((u, v) => u + Math.exp(v - mx), 0));
      total += lse - z[ys[bi][t]];
      count++;
      allLogits.push(...z);
    }
  }
  return { loss: total / count, logits: Float64Array.from(allLogits) };
}
