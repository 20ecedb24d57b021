/**
 * GPT-2-style decoder as a pure function of named weight tensors (no tf.layers, no Variables
 * required): pre-LayerNorm blocks, learned positions, causal multi-head attention, GELU MLP, tied
 * embeddings, no dropout. Names and layouts are fixed in ./config.ts (Hugging Face GPT-2).
 *
 * Growth code calls `logits`/`loss` on weights it computes as differentiable functions of other
 * tensors, so these functions only read `weights` and never dispose or mutate them.
 *
 * Speed notes (they shape the code): the whole batch is processed as [B·T, d] rows so every
 * projection is one GEMM; attention for all heads is one batched matmul on [B·H, T, hs] views made
 * by a single 5-D transpose of the fused q|k|v projection; LayerNorm, GELU, the masked softmax and
 * the cross-entropy are single ops with hand-written gradients (./ops.ts).
 */
import * as tf from '../backend/tf.ts';
import { attnDim, weightShapes, type HostWeights, type ModelConfig } from './config.ts';
import { Rng } from './rng.ts';
import { causalSoftmax, gelu, layerNorm, softmaxCrossEntropy } from './ops.ts';

export type Weights = Record<string, tf.Tensor>;

/** Weights that get the GPT-2 residual scaling 0.02/sqrt(2·nLayer) at init. */
function isResidualProjection(name: string): boolean {
  return name.endsWith('.attn.c_proj.weight') || name.endsWith('.mlp.c_proj.weight');
}

/**
 * GPT-2 initialisation: every matrix and embedding N(0, 0.02), residual output projections
 * N(0, 0.02/sqrt(2·nLayer)), LayerNorm weight 1 and bias 0, all biases 0. Values are drawn from one
 * seeded stream in `weightShapes` order, so (cfg, seed) fixes every bit.
 */
export function initWeights(cfg: ModelConfig, seed: number): HostWeights {
  const rng = new Rng(seed);
  const out: HostWeights = new Map();
  for (const { name, shape } of weightShapes(cfg)) {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    if (shape.length === 2) {
      const std = isResidualProjection(name) ? 0.02 / Math.sqrt(2 * cfg.nLayer) : 0.02;
      for (let i = 0; i < n; i++) data[i] = rng.normal() * std;
    } else if (/\.ln_\d\.weight$|ln_f\.weight$/.test(name)) {
      data.fill(1);
    }
    out.set(name, { shape: [...shape], data });
  }
  return out;
}

/** Host weights → tensors (new tensors the caller owns; dispose them or wrap in tf.tidy). */
export function toTensors(host: HostWeights): Weights {
  const w: Weights = {};
  for (const [name, { shape, data }] of host) w[name] = tf.tensor(data, shape, 'float32');
  return w;
}

/** Tensors → host weights (copies; the tensors are left alone). */
export function toHost(tensors: Weights): HostWeights {
  const out: HostWeights = new Map();
  for (const [name, t] of Object.entries(tensors)) {
    out.set(name, { shape: [...t.shape], data: new Float32Array(t.dataSync() as Float32Array) });
  }
  return out;
}

/** Checks that `weights` holds every tensor the config needs, with the right shape. */
export function checkWeights(cfg: ModelConfig, weights: Weights | HostWeights, where = 'weights'): void {
  const get = (n: string) => (weights instanceof Map ? weights.get(n) : weights[n]);
  for (const { name, shape } of weightShapes(cfg)) {
    const w = get(name);
    if (!w) throw new Error(`${where}: missing tensor ${name} (expected shape [${shape}])`);
    if (w.shape.length !== shape.length || w.shape.some((s, i) => s !== shape[i])) {
      throw new Error(`${where}: ${name} has shape [${w.shape}], config needs [${shape}]`);
    }
  }
}

function linear(x: tf.Tensor2D, w: tf.Tensor, b: tf.Tensor): tf.Tensor2D {
  return tf.fused.matMul({ a: x, b: w as tf.Tensor2D, bias: b }) as tf.Tensor2D;
}

/** Final hidden states [B·T, d] after ln_f. */
function hidden(cfg: ModelConfig, w: Weights, tokens: tf.Tensor2D): tf.Tensor2D {
  const [B, T] = tokens.shape;
  if (T > cfg.blockSize) throw new Error(`sequence length ${T} exceeds the model's blockSize ${cfg.blockSize}`);
  const d = cfg.nEmbd;
  const H = cfg.nHead;
  const hs = cfg.headSize;
  const a = attnDim(cfg);
  const wte = w['transformer.wte.weight'];
  const pos = T === cfg.blockSize ? w['transformer.wpe.weight'] : tf.slice(w['transformer.wpe.weight'], [0, 0], [T, d]);
  const tok = tf.reshape(tf.gather(wte, tf.reshape(tokens, [-1])), [B, T, d]);
  let x: tf.Tensor = tf.reshape(tf.add(tok, pos), [B * T, d]);
  const scale = 1 / Math.sqrt(hs);
  for (let i = 0; i < cfg.nLayer; i++) {
    const p = `transformer.h.${i}`;
    const h1 = layerNorm(x as tf.Tensor2D, w[`${p}.ln_1.weight`] as tf.Tensor1D, w[`${p}.ln_1.bias`] as tf.Tensor1D, cfg.lnEps);
    const qkv = linear(h1, w[`${p}.attn.c_attn.weight`], w[`${p}.attn.c_attn.bias`]);
    // [B·T, 3a] → [B, T, 3, H, hs] → [3, B, H, T, hs]: one transpose gives every head's q, k, v.
    const heads = tf.transpose(tf.reshape(qkv, [B, T, 3, H, hs]), [2, 0, 3, 1, 4]);
    const [q, k, v] = tf.split(heads, 3, 0).map((t) => tf.reshape(t, [B * H, T, hs]) as tf.Tensor3D);
    const att = causalSoftmax(tf.matMul(q, k, false, true), scale);
    const y = tf.reshape(tf.transpose(tf.reshape(tf.matMul(att, v), [B, H, T, hs]), [0, 2, 1, 3]), [B * T, a]) as tf.Tensor2D;
    x = tf.add(x, linear(y as tf.Tensor2D, w[`${p}.attn.c_proj.weight`], w[`${p}.attn.c_proj.bias`]));
    const h2 = layerNorm(x as tf.Tensor2D, w[`${p}.ln_2.weight`] as tf.Tensor1D, w[`${p}.ln_2.bias`] as tf.Tensor1D, cfg.lnEps);
    const m = gelu(linear(h2, w[`${p}.mlp.c_fc.weight`], w[`${p}.mlp.c_fc.bias`])) as tf.Tensor2D;
    x = tf.add(x, linear(m, w[`${p}.mlp.c_proj.weight`], w[`${p}.mlp.c_proj.bias`]));
  }
  return layerNorm(x as tf.Tensor2D, w['transformer.ln_f.weight'] as tf.Tensor1D, w['transformer.ln_f.bias'] as tf.Tensor1D, cfg.lnEps);
}

/** Logits as [B·T, vocab] rows (the layout the loss wants; no reshape round trip). */
export function logits2d(cfg: ModelConfig, weights: Weights, tokens: tf.Tensor2D): tf.Tensor2D {
  return tf.matMul(hidden(cfg, weights, tokens), weights['transformer.wte.weight'] as tf.Tensor2D, false, true) as tf.Tensor2D;
}

/** Next-token logits [batch, seq, vocab] for int32 tokens [batch, seq]. */
export function logits(cfg: ModelConfig, weights: Weights, tokens: tf.Tensor2D): tf.Tensor3D {
  const [B, T] = tokens.shape;
  return tf.reshape(logits2d(cfg, weights, tokens), [B, T, cfg.vocabSize]);
}

/** Mean cross-entropy of logits ([B, T, V] or [B·T, V]) against int32 targets [B, T]. */
export function lossFromLogits(logitsT: tf.Tensor, targets: tf.Tensor): tf.Scalar {
  const v = logitsT.shape[logitsT.shape.length - 1];
  const z = logitsT.rank === 2 ? (logitsT as tf.Tensor2D) : (tf.reshape(logitsT, [-1, v]) as tf.Tensor2D);
  const y = tf.reshape(targets.dtype === 'int32' ? targets : tf.cast(targets, 'int32'), [-1]) as tf.Tensor1D;
  return softmaxCrossEntropy(z, y);
}

/** Mean next-token cross-entropy of the model on inputs x and targets y (both int32 [B, T]). */
export function loss(cfg: ModelConfig, weights: Weights, x: tf.Tensor2D, y: tf.Tensor2D): tf.Scalar {
  return lossFromLogits(logits2d(cfg, weights, x), y);
}
