/**
 * One training step: forward + backward through tfjs, then the AdamW update on the host buffers
 * (./optim.ts), then fresh parameter tensors for the next step. Parameters are replaced rather than
 * written in place on purpose: the wasm backend caches XNNPACK operators (with packed weights) per
 * tensor id, so mutating a weight tensor's memory would leave stale packed copies in use.
 *
 * Micro-batches and workers (nanoGPT's gradient accumulation and DDP, on one machine):
 * `microBatches` splits each batch into that many equal slices of rows; the step's gradient is the
 * mean of their gradients, summed in slice order. `workers` threads (this one included) compute the
 * slices in parallel (./grad-workers.ts). Only `microBatches` changes the numbers: each slice's
 * gradient is computed by the same kernels on the same inputs wherever it runs and lands in its
 * own buffer, so 1 or 4 workers give byte-identical weights. With one micro-batch the step is
 * exactly the plain full-batch step.
 */
import * as tf from './tf.ts';
import type { ModelConfig } from './config.ts';
import { loss, type Weights } from './model.ts';
import type { AdamW, Slot } from './optim.ts';
import type { Batch } from './sampler.ts';
import { GradWorkers } from './grad-workers.ts';
import { wasmBackend } from './backend/wasm-internals.ts';

export interface Stepper {
  /** Runs one step on `batch` with learning rate `lr`; resolves to the batch loss before the update. */
  step(batch: Batch, lr: number): Promise<number>;
  /** Current weights as tensors (owned by the stepper; valid until the next step). */
  weights(): Weights;
  /** Threads computing each step's gradient (1 unless micro-batches run on workers). */
  readonly threads: number;
  dispose(): void;
}

export interface StepOptions {
  /** Equal slices each batch is split into (must divide the batch size); default 1. */
  microBatches?: number;
  /** Threads computing micro-batches, the calling one included; capped at microBatches; default 1. */
  workers?: number;
}

/** Rows [first, first+rows) of a batch, as views. */
export function sliceRows(b: Batch, first: number, rows: number): Batch {
  const span = (a: Int32Array) => a.subarray(first * b.seq, (first + rows) * b.seq);
  return { x: span(b.x), y: span(b.y), batch: rows, seq: b.seq };
}

/**
 * Loss of one (micro-)batch, and its gradient written into `out` (flat, at each slot's offset).
 * The one gradient computation every thread runs, so results do not depend on where it ran.
 */
export function batchGradient(cfg: ModelConfig, slots: Slot[], params: tf.Tensor[], b: Batch, out: Float32Array): number {
  const x = tf.tensor2d(b.x, [b.batch, b.seq], 'int32');
  const y = tf.tensor2d(b.y, [b.batch, b.seq], 'int32');
  const f = (...ts: tf.Tensor[]) => loss(cfg, Object.fromEntries(slots.map((s, i) => [s.name, ts[i]])), x as tf.Tensor2D, y as tf.Tensor2D);
  const { value, grads } = tf.valueAndGrads(f)(params);
  const l = value.dataSync()[0];
  const wasm = tf.getBackend() === 'wasm' ? wasmBackend() : null;
  // On wasm, straight from the heap: dataSync would first copy every gradient into a new array.
  grads.forEach((t, i) => out.set((wasm ? wasm.typedArrayFromHeap(t) : t.dataSync()) as Float32Array, slots[i].offset));
  tf.dispose([value, ...grads, x, y]);
  return l;
}

/** Tensors of the flat parameter buffer, one per slot (new tensors the caller owns). */
export function paramTensors(slots: Slot[], flat: Float32Array): tf.Tensor[] {
  return slots.map((s) => tf.tensor(flat.subarray(s.offset, s.offset + s.size), s.shape, 'float32'));
}

export async function createStepper(cfg: ModelConfig, opt: AdamW, options: StepOptions = {}): Promise<Stepper> {
  const slots = opt.slots;
  const total = opt.params.length;
  const k = options.microBatches ?? 1;
  if (!Number.isInteger(k) || k < 1) throw new Error(`microBatches must be a positive integer, got ${k}`);
  const pool = await GradWorkers.start(cfg, slots, total, k, Math.min(options.workers ?? 1, k) - 1);
  // One gradient buffer per micro-batch (shared with the workers), summed in micro-batch order.
  const grads = pool ? pool.grads : new Float32Array(k * total);
  const gradOf = (i: number) => grads.subarray(i * total, (i + 1) * total);
  const participants = (pool?.size ?? 0) + 1;

  let params: tf.Tensor[] = [];
  let dict: Weights = {};
  const refresh = () => {
    tf.dispose(params);
    params = paramTensors(slots, opt.params);
    dict = Object.fromEntries(slots.map((s, i) => [s.name, params[i]]));
  };
  refresh();
  return {
    async step(batch, lr) {
      if (batch.batch % k !== 0) throw new Error(`batch size ${batch.batch} is not divisible by microBatches ${k}`);
      const rows = batch.batch / k;
      const slices = Array.from({ length: k }, (_, i) => sliceRows(batch, i * rows, rows));
      // Slice i runs on participant i mod P (0 is this thread), so every thread has work at once.
      const losses = new Float64Array(k);
      const others = pool?.run(opt.params, slices, (i) => i % participants, losses);
      try {
        for (let i = 0; i < k; i += participants) losses[i] = batchGradient(cfg, slots, params, slices[i], gradOf(i));
      } catch (e) {
        await others?.catch(() => {}); // the workers' outcome no longer matters, but must not go unhandled
        throw e;
      }
      await others;
      const g = gradOf(0);
      if (k > 1) {
        for (let i = 1; i < k; i++) {
          const gi = gradOf(i);
          for (let j = 0; j < total; j++) g[j] += gi[j];
        }
        for (let j = 0; j < total; j++) g[j] /= k;
      }
      let l = 0;
      for (let i = 0; i < k; i++) l += losses[i];
      opt.update(
        slots.map((s) => g.subarray(s.offset, s.offset + s.size)),
        lr,
      );
      refresh();
      return l / k;
    },
    weights: () => dict,
    threads: participants,
    dispose() {
      tf.dispose(params);
      params = [];
      pool?.dispose();
    },
  };
}
