/**
 * Gradient workers: threads that compute micro-batch gradients (./step.ts) next to the training
 * thread, so a step uses every core the way PyTorch's intra-op threads do.
 *
 * Why whole micro-batches per thread rather than the wasm backend's own XNNPACK thread pool: the
 * pool splits single kernels, so the ~200 small kernels of a step each pay a fork/join and the
 * non-GEMM ones run on one thread (measured: 1.4× on 2 cores); a thread per micro-batch runs every
 * kernel in parallel and meets the others a few times per step.
 *
 * All data is in shared memory: the weights and AdamW moments (the optimizer's own buffers), one
 * gradient buffer per micro-batch, the micro-batch losses and per-tensor partial squared norms.
 * Messages only say what to do. Workers run the training thread's backend with one thread each and
 * the very functions the training thread runs (`batchGradient`, `reduceSlot`, `adamwSlot`), so
 * every number is the same bytes whichever thread computed it.
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { activeBackend } from '../backend/index.ts';
import type { ModelConfig } from './config.ts';
import type { Slot, StepConstants } from './adamw.ts';
import type { Batch } from './sampler.ts';

/** The optimizer state the workers share (SharedArrayBuffer-backed, see AdamW). */
export interface SharedState {
  params: Float32Array;
  m: Float32Array;
  v: Float32Array;
}

/** What a worker gets at start (workerData). */
export interface WorkerInit {
  cfg: ModelConfig;
  slots: Slot[];
  backend: 'wasm' | 'cpu';
  microBatches: number;
  params: SharedArrayBuffer;
  m: SharedArrayBuffer;
  v: SharedArrayBuffer;
  grads: SharedArrayBuffer;
  losses: SharedArrayBuffer;
  squares: SharedArrayBuffer;
}

/** One piece of a step for a worker. */
export type WorkerJob =
  /** Gradients and losses of these micro-batches. */
  | { kind: 'gradients'; slices: { index: number; batch: Batch }[] }
  /** Average these tensors' micro-batch gradients into buffer 0; their squared norms into `squares`. */
  | { kind: 'reduce'; slots: number[] }
  /** AdamW-update these tensors. */
  | { kind: 'update'; slots: number[]; constants: StepConstants };

/** A worker's answer: 'ready' once, then 'done' per job; or the error that stopped it. */
export type WorkerReply = { kind: 'ready' } | { kind: 'done' } | { kind: 'error'; message: string };

/**
 * The worker program. Run from TypeScript sources (tsx), a worker does not inherit the parent's
 * loader hooks in Node 20, so it first registers tsx itself.
 */
function spawn(init: WorkerInit): Worker {
  const env = { ...process.env, GROW_WASM_THREADS: '1' }; // the workers are the parallelism
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./grad-thread.js', import.meta.url), { workerData: init, env });
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm/api')).href.replace(/\.cjs$/, '.mjs');
  const entry = new URL('./grad-thread.ts', import.meta.url).href;
  const boot = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); });`;
  return new Worker(boot, { eval: true, workerData: init, env });
}

const shared = (bytes: number) => new SharedArrayBuffer(bytes);

export class GradWorkers {
  /** k flat gradient buffers end to end; buffer 0 receives their mean. */
  readonly grads: Float32Array;
  readonly losses: Float64Array;
  /** Per-tensor sums of squares of the mean gradient. */
  readonly squares: Float64Array;
  private readonly workers: Worker[] = [];
  private pending: { resolve: () => void; reject: (e: Error) => void }[] = [];
  private failure: Error | null = null;

  /** Starts `n` workers (none when n < 1 or the backend cannot run in workers); resolves when all are ready. */
  static async start(cfg: ModelConfig, slots: Slot[], state: SharedState, microBatches: number, n: number): Promise<GradWorkers | null> {
    if (n < 1) return null;
    const active = activeBackend();
    const backend = active?.name;
    if ((active?.threads ?? 1) > 1) {
      process.stderr.write(
        `gradient workers: the training thread runs ${active!.threads} XNNPACK threads as well; unset GROW_WASM_THREADS to give each thread one core\n`,
      );
    }
    if (backend !== 'wasm' && backend !== 'cpu') {
      // Native TensorFlow threads its own kernels, and its addon is not loaded per worker.
      process.stderr.write(`gradient workers: not used on the ${backend ?? 'unset'} backend; micro-batches run on one thread\n`);
      return null;
    }
    if (
      !(
        state.params.buffer instanceof SharedArrayBuffer &&
        state.m.buffer instanceof SharedArrayBuffer &&
        state.v.buffer instanceof SharedArrayBuffer
      )
    ) {
      throw new Error('gradient workers need the optimizer state in shared memory');
    }
    const pool = new GradWorkers(cfg, slots, state, microBatches, n, backend);
    try {
      await Promise.all(pool.workers.map((_, w) => pool.answer(w)));
    } catch (e) {
      pool.dispose();
      throw e;
    }
    return pool;
  }

  private constructor(cfg: ModelConfig, slots: Slot[], state: SharedState, microBatches: number, n: number, backend: 'wasm' | 'cpu') {
    const total = state.params.length;
    this.grads = new Float32Array(shared(microBatches * total * 4));
    this.losses = new Float64Array(shared(microBatches * 8));
    this.squares = new Float64Array(shared(slots.length * 8));
    const init: WorkerInit = {
      cfg,
      slots,
      backend,
      microBatches,
      params: state.params.buffer as SharedArrayBuffer,
      m: state.m.buffer as SharedArrayBuffer,
      v: state.v.buffer as SharedArrayBuffer,
      grads: this.grads.buffer as SharedArrayBuffer,
      losses: this.losses.buffer as SharedArrayBuffer,
      squares: this.squares.buffer as SharedArrayBuffer,
    };
    for (let w = 0; w < n; w++) {
      const worker = spawn(init);
      worker.unref();
      worker.on('message', (r: WorkerReply) => (r.kind === 'error' ? this.fail(w, new Error(r.message)) : this.pending[w].resolve()));
      worker.on('error', (e) => this.fail(w, e));
      worker.on('exit', (code) => this.fail(w, new Error(`exited with code ${code}`)));
      this.workers.push(worker);
      this.pending.push({ resolve: () => {}, reject: () => {} });
    }
  }

  get size(): number {
    return this.workers.length;
  }

  /** Promise of worker w's next answer. */
  private answer(w: number): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => (this.pending[w] = { resolve, reject }));
  }

  private fail(w: number, e: Error): void {
    if (this.failure) return;
    this.failure = new Error(`gradient worker ${w + 1}: ${e.message}`);
    for (const p of this.pending) p.reject(this.failure);
  }

  /** Sends worker w (0-based) its job; resolves when every worker has finished its own. */
  run(jobFor: (w: number) => WorkerJob): Promise<void> {
    return Promise.all(
      this.workers.map((worker, w) => {
        const answered = this.answer(w);
        worker.postMessage(jobFor(w));
        return answered;
      }),
    ).then(() => {});
  }

  dispose(): void {
    this.failure ??= new Error('disposed');
    for (const w of this.workers) {
      w.removeAllListeners('exit');
      void w.terminate();
    }
    this.workers.length = 0;
  }
}
