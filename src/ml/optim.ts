/**
 * AdamW (decoupled weight decay, Loshchilov & Hutter; PyTorch's torch.optim.AdamW semantics) with
 * global-norm gradient clipping, as one pass over flat host buffers.
 *
 * Why on the host: tfjs's optimizers issue ~10 kernels per weight tensor per step; one JavaScript
 * loop over a flat Float32Array does the whole update (clip, moments, bias correction, decay) in a
 * few milliseconds, is identical on every backend, and its state (params, m, v, step) is three
 * buffers and a counter — trivially checkpointed and restored bit-exactly.
 *
 * Weight decay rule (nanoGPT's): decay every parameter with two or more dimensions — the
 * projection matrices and the token and position embeddings — and never biases or LayerNorm
 * gains/biases.
 */
import { weightShapes, type HostWeights, type ModelConfig } from './config.ts';

export interface AdamWConfig {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** Global gradient-norm clip; 0 or Infinity disables. */
  clip: number;
}

export interface Slot {
  name: string;
  shape: number[];
  offset: number;
  size: number;
  decay: boolean;
}

export function layoutOf(cfg: ModelConfig): { slots: Slot[]; total: number } {
  let offset = 0;
  const slots = weightShapes(cfg).map(({ name, shape }) => {
    const size = shape.reduce((a, b) => a * b, 1);
    const s = { name, shape: [...shape], offset, size, decay: shape.length >= 2 };
    offset += size;
    return s;
  });
  return { slots, total: offset };
}

export class AdamW {
  readonly slots: Slot[];
  readonly params: Float32Array;
  readonly m: Float32Array;
  readonly v: Float32Array;
  /** Number of updates applied so far (bias correction uses step+1 for the next one). */
  step = 0;

  constructor(
    cfg: ModelConfig,
    readonly opt: AdamWConfig,
    init: HostWeights,
  ) {
    const { slots, total } = layoutOf(cfg);
    this.slots = slots;
    this.params = new Float32Array(total);
    this.m = new Float32Array(total);
    this.v = new Float32Array(total);
    this.load(this.params, init, 'initial weights');
  }

  /** Copies named host tensors into one of the flat buffers (params, m or v). */
  load(target: Float32Array, src: HostWeights, what: string): void {
    for (const s of this.slots) {
      const w = src.get(s.name);
      if (!w) throw new Error(`${what}: missing ${s.name}`);
      if (w.data.length !== s.size) throw new Error(`${what}: ${s.name} has ${w.data.length} values, expected ${s.size} (shape [${s.shape}])`);
      target.set(w.data, s.offset);
    }
  }

  /** Named views (no copy) of a flat buffer. */
  view(buf: Float32Array): HostWeights {
    const out: HostWeights = new Map();
    for (const s of this.slots) out.set(s.name, { shape: s.shape, data: buf.subarray(s.offset, s.offset + s.size) });
    return out;
  }

  /**
   * One update from per-slot gradients (same order as `slots`). Returns the global gradient norm
   * before clipping.
   */
  update(grads: ArrayLike<number>[], lr: number): number {
    const { beta1, beta2, eps, weightDecay, clip } = this.opt;
    let sq = 0;
    for (const g of grads) for (let i = 0; i < g.length; i++) sq += g[i] * g[i];
    const norm = Math.sqrt(sq);
    const scale = clip > 0 && norm > clip ? clip / norm : 1;
    this.step++;
    const bc1 = 1 - Math.pow(beta1, this.step);
    const bc2 = 1 - Math.pow(beta2, this.step);
    const p = this.params;
    const m = this.m;
    const v = this.v;
    for (let k = 0; k < this.slots.length; k++) {
      const s = this.slots[k];
      const g = grads[k];
      const shrink = s.decay ? 1 - lr * weightDecay : 1;
      for (let i = 0, j = s.offset; i < s.size; i++, j++) {
        const gi = g[i] * scale;
        const mi = beta1 * m[j] + (1 - beta1) * gi;
        const vi = beta2 * v[j] + (1 - beta2) * gi * gi;
        m[j] = mi;
        v[j] = vi;
        p[j] = p[j] * shrink - (lr * (mi / bc1)) / (Math.sqrt(vi / bc2) + eps);
      }
    }
    return norm;
  }
}
