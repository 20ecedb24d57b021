/**
 * Test-only helpers for the growth tests: random source models and a float64 reference forward
 * written straight from the GPT-2 equations in src/ml/core/config.ts (pre-LN, causal attention,
 * tanh GELU, tied embeddings). It checks the operators independently of the tfjs model.
 */
import type { HostWeights, ModelConfig } from '../../src/ml/core/config.ts';
import { weightShapes } from '../../src/ml/core/config.ts';
import { Rng } from '../../src/ml/growth/random.ts';

/** A random model whose every weight matters (gains ≠ 1, biases ≠ 0), so exactness is tested. */
export function randomModel(cfg: ModelConfig, seed: number): HostWeights {
  const rng = new Rng(seed);
  const w: HostWeights = new Map();
  for (const { name, shape } of weightShapes(cfg)) {
    const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
    const isGain = /ln_\w+\.weight$/.test(name);
    const isBias = name.endsWith('.bias');
    for (let i = 0; i < data.length; i++) {
      data[i] = isGain ? 1 + 0.2 * rng.normal() : isBias ? 0.1 * rng.normal() : 0.3 * rng.normal();
    }
    w.set(name, { shape, data });
  }
  return w;
}

export function randomTokens(cfg: ModelConfig, batch: number, seq: number, seed: number): number[][] {
  const rng = new Rng(seed);
  return Array.from({ length: batch }, () => Array.from({ length: seq }, () => Math.floor(rng.uniform() * cfg.vocabSize)));
}

type M = Float64Array;

function mat(w: HostWeights, name: string): { r: number; c: number; d: Float32Array } {
  const t = w.get(name)!;
  return { r: t.shape[0], c: t.shape.length > 1 ? t.shape[1] : 1, d: t.data };
}

/** x [T, r] @ W [r, c] + b → [T, c] */
function linear(x: M, T: number, w: HostWeights, wn: string, bn: string): M {
  const W = mat(w, wn);
  const b = w.get(bn)!.data;
  const y = new Float64Array(T * W.c);
  for (let t = 0; t < T; t++) {
    for (let o = 0; o < W.c; o++) {
      let s = b[o];
      for (let i = 0; i < W.r; i++) s += x[t * W.r + i] * W.d[i * W.c + o];
      y[t * W.c + o] = s;
    }
  }
  return y;
}

function layerNorm(x: M, T: number, d: number, g: Float32Array, b: Float32Array, eps: number): M {
  const y = new Float64Array(T * d);
  for (let t = 0; t < T; t++) {
    let m = 0;
    for (let i = 0; i < d; i++) m += x[t * d + i];
    m /= d;
    let v = 0;
    for (let i = 0; i < d; i++) v += (x[t * d + i] - m) ** 2;
    v /= d;
    const s = 1 / Math.sqrt(v + eps);
    for (let i = 0; i < d; i++) y[t * d + i] = (x[t * d + i] - m) * s * g[i] + b[i];
  }
  return y;
}

const gelu = (x: number) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3)));

/** Logits [T, V] for one sequence. */
export function referenceLogits(cfg: ModelConfig, w: HostWeights, tokens: number[]): Float64Array {
  const T = tokens.length;
  const d = cfg.nEmbd;
  const a = cfg.nHead * cfg.headSize;
  const wte = w.get('transformer.wte.weight')!.data;
  const wpe = w.get('transformer.wpe.weight')!.data;
  let h = new Float64Array(T * d);
  for (let t = 0; t < T; t++) for (let i = 0; i < d; i++) h[t * d + i] = wte[tokens[t] * d + i] + wpe[t * d + i];
  for (let l = 0; l < cfg.nLayer; l++) {
    const p = `transformer.h.${l}`;
    const x = layerNorm(h, T, d, w.get(`${p}.ln_1.weight`)!.data, w.get(`${p}.ln_1.bias`)!.data, cfg.lnEps);
    const qkv = linear(x, T, w, `${p}.attn.c_attn.weight`, `${p}.attn.c_attn.bias`);
    const att = new Float64Array(T * a);
    const hs = cfg.headSize;
    for (let hd = 0; hd < cfg.nHead; hd++) {
      for (let t = 0; t < T; t++) {
        const scores: number[] = [];
        for (let u = 0; u <= t; u++) {
          let s = 0;
          for (let c = 0; c < hs; c++) s += qkv[t * 3 * a + hd * hs + c] * qkv[u * 3 * a + a + hd * hs + c];
          scores.push(s / Math.sqrt(hs));
        }
        const mx = Math.max(...scores);
        const e = scores.map((s) => Math.exp(s - mx));
        const z = e.reduce((x1, y1) => x1 + y1, 0);
        for (let c = 0; c < hs; c++) {
          let s = 0;
          for (let u = 0; u <= t; u++) s += (e[u] / z) * qkv[u * 3 * a + 2 * a + hd * hs + c];
          att[t * a + hd * hs + c] = s;
        }
      }
    }
    const ao = linear(att, T, w, `${p}.attn.c_proj.weight`, `${p}.attn.c_proj.bias`);
    h = h.map((v, i) => v + ao[i]);
    const x2 = layerNorm(h, T, d, w.get(`${p}.ln_2.weight`)!.data, w.get(`${p}.ln_2.bias`)!.data, cfg.lnEps);
    const f = linear(x2, T, w, `${p}.mlp.c_fc.weight`, `${p}.mlp.c_fc.bias`).map(gelu);
    const mo = linear(f, T, w, `${p}.mlp.c_proj.weight`, `${p}.mlp.c_proj.bias`);
    h = h.map((v, i) => v + mo[i]);
  }
  const xf = layerNorm(h, T, d, w.get('transformer.ln_f.weight')!.data, w.get('transformer.ln_f.bias')!.data, cfg.lnEps);
  const V = cfg.vocabSize;
  const out = new Float64Array(T * V);
  for (let t = 0; t < T; t++) {
    for (let v = 0; v < V; v++) {
      let s = 0;
      for (let i = 0; i < d; i++) s += xf[t * d + i] * wte[v * d + i];
      out[t * V + v] = s;
    }
  }
  return out;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
