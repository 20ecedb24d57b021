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

function layoutOf(cfg: ModelConfig): { slots: Slot[]; total: number } {
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
    // Shared memory, so gradient workers (./grad-pool.ts) can read the weights and update
    // their share of the tensors in place; it costs nothing on a single thread.
    const shared = () => new Float32Array(new SharedArrayBuffer(total * 4));
    this.params = shared();
    this.m = shared();
    this.v = shared();
    this.load(this.params, init, 'initial weights');
  }

  /** Copies named host tensors into one of the flat buffers (params, m or v). */
  load(target: Float32Array, src: HostWeights, what: string): void {
    for (const s of this.slots) {
      const w = src.get(s.name);
      if (!w) throw new Error(`${what}: missing ${s.name}`);
      if (w.data.length !== s.size)
        throw new Error(`${what}: ${s.name} has ${w.data.length} values, expected ${s.size} (shape [${s.shape}])`);
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
    let sq = 0;
    for (const g of grads) for (let i = 0; i < g.length; i++) sq += g[i] * g[i];
    const c = this.beginStep(Math.sqrt(sq), lr);
    for (let k = 0; k < this.slots.length; k++) adamwSlot(this, this.slots[k], grads[k], 0, c);
    return c.norm;
  }

  /** Counts the step and returns its constants, from the global gradient norm. */
  beginStep(norm: number, lr: number): StepConstants {
    const { clip } = this.opt;
    this.step++;
    return {
      ...this.opt,
      lr,
      norm,
      scale: clip > 0 && norm > clip ? clip / norm : 1,
      bc1: 1 - this.opt.beta1 ** this.step,
      bc2: 1 - this.opt.beta2 ** this.step,
    };
  }
}

/** Everything one step's update of any parameter needs besides its gradient and state. */
export interface StepConstants extends AdamWConfig {
  lr: number;
  norm: number;
  /** Clip factor applied to every gradient. */
  scale: number;
  /** Bias corrections 1 − β^t. */
  bc1: number;
  bc2: number;
}

/**
 * The AdamW update of one tensor, in place in `state` (flat buffers), from its gradient
 * g[gOffset ..]. Each element is independent of every other, so tensors can be updated on
 * different threads with identical results.
 */
export function adamwSlot(
  state: { params: Float32Array; m: Float32Array; v: Float32Array },
  s: Slot,
  g: ArrayLike<number>,
  gOffset: number,
  c: StepConstants,
): void {
  const { beta1, beta2, eps, weightDecay, lr, scale, bc1, bc2 } = c;
  const p = state.params;
  const m = state.m;
  const v = state.v;
  const shrink = s.decay ? 1 - lr * weightDecay : 1;
  for (let i = gOffset, j = s.offset, end = s.offset + s.size; j < end; i++, j++) {
    const gi = g[i] * scale;
    const mi = beta1 * m[j] + (1 - beta1) * gi;
    const vi = beta2 * v[j] + (1 - beta2) * gi * gi;
    m[j] = mi;
    v[j] = vi;
    p[j] = p[j] * shrink - (lr * (mi / bc1)) / (Math.sqrt(vi / bc2) + eps);
  }
}

/**
 * For micro-batches: sums tensor `s`'s gradients from `k` flat gradient buffers laid end to end in
 * `grads` (buffer i at i·total), divides by k into buffer 0, and returns the tensor's sum of
 * squares (of the stored float32 values). Per tensor, so threads can share the work; the step's
 * squared norm is these partials added in tensor order. Four interleaved partial sums (combined
 * in a fixed order) keep the float64 adder busy: the result depends only on the tensor's values.
 */
export function reduceSlot(grads: Float32Array, total: number, k: number, s: Slot): number {
  let q0 = 0;
  let q1 = 0;
  let q2 = 0;
  let q3 = 0;
  const end = s.offset + s.size;
  const mean = (j: number): number => {
    let x = grads[j];
    for (let i = 1; i < k; i++) x += grads[i * total + j];
    grads[j] = x / k;
    return grads[j];
  };
  let j = s.offset;
  for (; j + 4 <= end; j += 4) {
    const x0 = mean(j);
    const x1 = mean(j + 1);
    const x2 = mean(j + 2);
    const x3 = mean(j + 3);
    q0 += x0 * x0;
    q1 += x1 * x1;
    q2 += x2 * x2;
    q3 += x3 * x3;
  }
  for (; j < end; j++) {
    const x = mean(j);
    q0 += x * x;
  }
  return q0 + q1 + (q2 + q3);
}
