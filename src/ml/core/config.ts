/**
 * One config type for every model in the experiment (small m_i, large M0/M1), and the names of
 * its weights. Weights are plain named tensors so growth operators can read and write them; the
 * names and layouts are Hugging Face GPT-2's, so a checkpoint (model.safetensors + config.json)
 * loads in `transformers.GPT2LMHeadModel` as well.
 *
 * Layout (x is a row vector, y = x @ W + b, i.e. weights are [in, out] like GPT-2's Conv1D):
 *   transformer.wte.weight            [vocabSize, nEmbd]   token embedding, tied with the LM head
 *   transformer.wpe.weight            [blockSize, nEmbd]   learned positions
 *   transformer.h.{i}.ln_1.weight     [nEmbd]   .bias [nEmbd]
 *   transformer.h.{i}.attn.c_attn.weight [nEmbd, 3*attnDim] .bias [3*attnDim]
 *        columns: [q | k | v], each attnDim = nHead*headSize wide; head h uses columns
 *        h*headSize .. (h+1)*headSize - 1 inside each of q, k, v.
 *   transformer.h.{i}.attn.c_proj.weight [attnDim, nEmbd]   .bias [nEmbd]
 *   transformer.h.{i}.ln_2.weight     [nEmbd]   .bias [nEmbd]
 *   transformer.h.{i}.mlp.c_fc.weight   [nEmbd, nInner]   .bias [nInner]
 *   transformer.h.{i}.mlp.c_proj.weight [nInner, nEmbd]   .bias [nEmbd]
 *   transformer.ln_f.weight           [nEmbd]   .bias [nEmbd]
 * Logits = ln_f(h) @ wte^T (no separate lm_head tensor). GELU is the tanh form ("gelu_new").
 */
export interface ModelConfig {
  vocabSize: number;
  /** Context length (number of learned positions). */
  blockSize: number;
  nLayer: number;
  nHead: number;
  /** Model width d. */
  nEmbd: number;
  /** Per-head width; nHead*headSize need not equal nEmbd (lossless growth to any width). */
  headSize: number;
  /** MLP hidden width (GPT-2: 4*nEmbd). */
  nInner: number;
  /** LayerNorm epsilon. */
  lnEps: number;
}

export type WeightName = string;

export interface NamedShape {
  name: WeightName;
  shape: number[];
}

export function attnDim(c: ModelConfig): number {
  return c.nHead * c.headSize;
}

/** A GPT-2-style config from the few numbers people actually choose. */
export function gptConfig(p: {
  vocabSize: number;
  blockSize: number;
  nLayer: number;
  nHead: number;
  nEmbd: number;
  headSize?: number;
  nInner?: number;
  lnEps?: number;
}): ModelConfig {
  const headSize = p.headSize ?? p.nEmbd / p.nHead;
  if (!Number.isInteger(headSize)) {
    throw new Error(`nEmbd ${p.nEmbd} is not divisible by nHead ${p.nHead}; give headSize explicitly`);
  }
  return {
    vocabSize: p.vocabSize,
    blockSize: p.blockSize,
    nLayer: p.nLayer,
    nHead: p.nHead,
    nEmbd: p.nEmbd,
    headSize,
    nInner: p.nInner ?? 4 * p.nEmbd,
    lnEps: p.lnEps ?? 1e-5,
  };
}

/** Every weight of a model in a fixed order (the order checkpoints and optimizers use). */
export function weightShapes(c: ModelConfig): NamedShape[] {
  const d = c.nEmbd;
  const a = attnDim(c);
  const out: NamedShape[] = [
    { name: 'transformer.wte.weight', shape: [c.vocabSize, d] },
    { name: 'transformer.wpe.weight', shape: [c.blockSize, d] },
  ];
  for (let i = 0; i < c.nLayer; i++) {
    const p = `transformer.h.${i}`;
    out.push(
      { name: `${p}.ln_1.weight`, shape: [d] },
      { name: `${p}.ln_1.bias`, shape: [d] },
      { name: `${p}.attn.c_attn.weight`, shape: [d, 3 * a] },
      { name: `${p}.attn.c_attn.bias`, shape: [3 * a] },
      { name: `${p}.attn.c_proj.weight`, shape: [a, d] },
      { name: `${p}.attn.c_proj.bias`, shape: [d] },
      { name: `${p}.ln_2.weight`, shape: [d] },
      { name: `${p}.ln_2.bias`, shape: [d] },
      { name: `${p}.mlp.c_fc.weight`, shape: [d, c.nInner] },
      { name: `${p}.mlp.c_fc.bias`, shape: [c.nInner] },
      { name: `${p}.mlp.c_proj.weight`, shape: [c.nInner, d] },
      { name: `${p}.mlp.c_proj.bias`, shape: [d] },
    );
  }
  out.push({ name: 'transformer.ln_f.weight', shape: [d] }, { name: 'transformer.ln_f.bias', shape: [d] });
  return out;
}

export function paramCount(c: ModelConfig): number {
  return weightShapes(c).reduce((n, w) => n + w.shape.reduce((x, y) => x * y, 1), 0);
}

/**
 * Weights on the host, as growth operators and checkpoints see them: row-major Float32Arrays.
 * src/ml/core/model.ts converts to and from tf.Variables.
 */
export type HostWeights = Map<WeightName, { shape: number[]; data: Float32Array }>;
