/**
 * One training step: forward + backward through tfjs, then the AdamW update on the host buffers
 * (./adamw.ts), then fresh parameter tensors for the next step. Parameters are replaced rather than
 * written in place on purpose: the wasm backend caches XNNPACK operators (with packed weights) per
 * tensor id, so mutating a weight tensor's memory would leave stale packed copies in use.
 *
 * Micro-batches and workers (nanoGPT's gradient accumulation and DDP, on one machine):
 * `microBatches` splits each batch into that many equal slices of rows; the step's gradient is the
 * mean of their gradients, summed in slice order. `workers` threads (this one included) compute the
 * slices in parallel (./grad-pool.ts), then share averaging the gradients and the AdamW update
 * tensor by tensor. Only `microBatches` changes the numbers: each slice's gradient is computed by
 * the same kernels on the same inputs wherever it runs and lands in its own buffer, the gradient
 * norm is summed per tensor and then in tensor order, and AdamW is elementwise — so 1 or 4 workers
 * give byte-identical weights. With one micro-batch the step is the plain full-batch step.
 */
import * as tf from '../backend/tf.ts';
import type { ModelConfig } from './config.ts';
import { loss, type Weights } from './model.ts';
import { adamwSlot, reduceSlot, type AdamW, type Slot } from './adamw.ts';
import type { Batch } from './sampler.ts';
import { GradWorkers, type WorkerJob } from './grad-pool.ts';
import { wasmBackend } from '../backend/wasm-internals.ts';
import { asyncReadback } from '../backend/webgpu.ts';

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
  const { value, grads, inputs } = gradientTensors(cfg, slots, params, b);
  const l = value.dataSync()[0];
  const wasm = tf.getBackend() === 'wasm' ? wasmBackend() : null;
  // On wasm, straight from the heap: dataSync would first copy every gradient into a new array.
  grads.forEach((t, i) => out.set((wasm ? wasm.typedArrayFromHeap(t) : t.dataSync()) as Float32Array, slots[i].offset));
  tf.dispose([value, ...grads, ...inputs]);
  return l;
}

/**
 * batchGradient for the training thread: the same computation, but on webgpu the values are read
 * back asynchronously (its synchronous read needs a browser's OffscreenCanvas, absent in Node).
 */
async function batchGradientAsync(cfg: ModelConfig, slots: Slot[], params: tf.Tensor[], b: Batch, out: Float32Array): Promise<number> {
  if (!asyncReadback()) return batchGradient(cfg, slots, params, b, out);
  const { value, grads, inputs } = gradientTensors(cfg, slots, params, b);
  try {
    const [l, ...gs] = await Promise.all([value, ...grads].map((t) => t.data()));
    gs.forEach((g, i) => out.set(g as Float32Array, slots[i].offset));
    return l[0];
  } finally {
    tf.dispose([value, ...grads, ...inputs]);
  }
}

function gradientTensors(cfg: ModelConfig, slots: Slot[], params: tf.Tensor[], b: Batch) {
  const x = tf.tensor2d(b.x, [b.batch, b.seq], 'int32');
  const y = tf.tensor2d(b.y, [b.batch, b.seq], 'int32');
  const f = (...ts: tf.Tensor[]) => loss(cfg, Object.fromEntries(slots.map((s, i) => [s.name, ts[i]])), x as tf.Tensor2D, y as tf.Tensor2D);
  const { value, grads } = tf.valueAndGrads(f)(params);
  return { value, grads, inputs: [x, y] };
}

/** Tensors of the flat parameter buffer, one per slot (new tensors the caller owns). */
export function paramTensors(slots: Slot[], flat: Float32Array): tf.Tensor[] {
  return slots.map((s) => tf.tensor(flat.subarray(s.offset, s.offset + s.size), s.shape, 'float32'));
}

/** Owner thread of each tensor for the reduce and update passes: largest first, to the least loaded. */
function shareOut(slots: Slot[], threads: number): number[][] {
  const load = new Array<number>(threads).fill(0);
  const owned: number[][] = Array.from({ length: threads }, () => []);
  const bySize = slots.map((_slot, i) => i).sort((a, b) => slots[b].size - slots[a].size || a - b);
  for (const i of bySize) {
    const t = load.indexOf(Math.min(...load));
    owned[t].push(i);
    load[t] += slots[i].size;
  }
  return owned;
}

export async function createStepper(cfg: ModelConfig, opt: AdamW, options: StepOptions = {}): Promise<Stepper> {
  const slots = opt.slots;
  const total = opt.params.length;
  const k = options.microBatches ?? 1;
  if (!Number.isInteger(k) || k < 1) throw new Error(`microBatches must be a positive integer, got ${k}`);
  const pool = k > 1 ? await GradWorkers.start(cfg, slots, opt, k, Math.min(options.workers ?? 1, k) - 1) : null;
  const threads = (pool?.size ?? 0) + 1;
  const grads = pool?.grads ?? new Float32Array(k * total);
  const losses = pool?.losses ?? new Float64Array(k);
  const squares = pool?.squares ?? new Float64Array(slots.length);
  const owned = shareOut(slots, threads);

  /** Runs the workers' jobs and this thread's share at the same time. */
  const together = async (jobFor: (w: number) => WorkerJob, own: () => void | Promise<void>): Promise<void> => {
    const others = pool?.run(jobFor);
    try {
      await own();
    } catch (e) {
      await others?.catch(() => {}); // their outcome no longer matters, but must not go unhandled
      throw e;
    }
    await others;
  };

  let params: tf.Tensor[] = [];
  let dict: Weights = {};
  const refresh = () => {
    tf.dispose(params);
    params = paramTensors(slots, opt.params);
    dict = Object.fromEntries(slots.map((s, i) => [s.name, params[i]]));
  };
  refresh();

  /** The plain step: one gradient of the whole batch, AdamW with its global norm. */
  const wholeBatch = async (batch: Batch, lr: number): Promise<number> => {
    const g = grads.subarray(0, total);
    const l = await batchGradientAsync(cfg, slots, params, batch, g);
    opt.update(
      slots.map((s) => g.subarray(s.offset, s.offset + s.size)),
      lr,
    );
    return l;
  };

  /** k slices → k gradients (slice i on thread i mod threads) → their mean → AdamW, each pass shared. */
  const microBatched = async (batch: Batch, lr: number): Promise<number> => {
    if (batch.batch % k !== 0) throw new Error(`batch size ${batch.batch} is not divisible by microBatches ${k}`);
    const rows = batch.batch / k;
    const slices = Array.from({ length: k }, (_, i) => sliceRows(batch, i * rows, rows));
    const sliceJobs = (t: number) => slices.flatMap((b, index) => (index % threads === t ? [{ index, batch: b }] : []));
    await together(
      // Copies of just the slice's rows: posting a view would clone the whole batch's buffers.
      (w) => ({
        kind: 'gradients',
        slices: sliceJobs(w + 1).map(({ index, batch: b }) => ({ index, batch: { ...b, x: b.x.slice(), y: b.y.slice() } })),
      }),
      async () => {
        for (const { index, batch: b } of sliceJobs(0))
          losses[index] = await batchGradientAsync(cfg, slots, params, b, grads.subarray(index * total, (index + 1) * total));
      },
    );
    await together(
      (w) => ({ kind: 'reduce', slots: owned[w + 1] }),
      () => {
        for (const i of owned[0]) squares[i] = reduceSlot(grads, total, k, slots[i]);
      },
    );
    let sq = 0;
    for (let i = 0; i < slots.length; i++) sq += squares[i];
    const c = opt.beginStep(Math.sqrt(sq), lr);
    await together(
      (w) => ({ kind: 'update', slots: owned[w + 1], constants: c }),
      () => {
        for (const i of owned[0]) adamwSlot(opt, slots[i], grads, slots[i].offset, c);
      },
    );
    let l = 0;
    for (let i = 0; i < k; i++) l += losses[i];
    return l / k;
  };

  return {
    async step(batch, lr) {
      const l = k === 1 ? await wholeBatch(batch, lr) : await microBatched(batch, lr);
      refresh();
      return l;
    },
    weights: () => dict,
    threads,
    dispose() {
      tf.dispose(params);
      params = [];
      pool?.dispose();
    },
  };
}
