/**
 * Gradient workers: threads that compute micro-batch gradients (./step.ts) next to the training
 * thread, so a step uses every core the way PyTorch's intra-op threads do.
 *
 * Why whole micro-batches per thread rather than the wasm backend's own XNNPACK thread pool: the
 * pool splits single kernels, so the ~200 small kernels of a step each pay a fork/join and the
 * non-GEMM ones run on one thread (measured: 1.4× on 2 cores); a thread per micro-batch runs every
 * kernel in parallel and meets the others once per step.
 *
 * Each step the training thread publishes the weights in shared memory, posts each worker its
 * slices, computes its own, then awaits the workers, whose gradients and losses land in shared
 * memory. Workers run the training thread's backend with one thread each and `batchGradient` — the
 * very function the training thread runs — so a slice's gradient is the same bytes on any thread.
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import { activeBackend } from './backend/index.ts';
import type { ModelConfig } from './config.ts';
import type { Slot } from './optim.ts';
import type { Batch } from './sampler.ts';

/** What a worker gets at start (workerData). */
export interface WorkerInit {
  cfg: ModelConfig;
  slots: Slot[];
  backend: 'wasm' | 'cpu';
  params: SharedArrayBuffer;
  grads: SharedArrayBuffer;
  losses: SharedArrayBuffer;
}

/** One step's work for a worker: micro-batch indices and their rows. */
export interface WorkerJob {
  slices: { index: number; batch: Batch }[];
}

/** A worker's answer: 'ready' once, then 'done' per job; or the error that stopped it. */
export type WorkerReply = { kind: 'ready' } | { kind: 'done' } | { kind: 'error'; message: string };

/**
 * The worker program. Run from TypeScript sources (tsx), a worker does not inherit the parent's
 * loader hooks in Node 20, so it first registers tsx itself.
 */
function spawn(init: WorkerInit): Worker {
  const env = { ...process.env, GROW_WASM_THREADS: '1' }; // the workers are the parallelism
  if (!import.meta.url.endsWith('.ts')) return new Worker(new URL('./grad-worker.js', import.meta.url), { workerData: init, env });
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx/esm/api')).href.replace(/\.cjs$/, '.mjs');
  const entry = new URL('./grad-worker.ts', import.meta.url).href;
  const boot = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); });`;
  return new Worker(boot, { eval: true, workerData: init, env });
}

export class GradWorkers {
  readonly grads: Float32Array;
  private readonly params: Float32Array;
  private readonly losses: Float64Array;
  private pending: { resolve: () => void; reject: (e: Error) => void }[] = [];
  private failure: Error | null = null;

  /** Starts `n` workers (none when n < 1 or the backend cannot run in workers); resolves when all are ready. */
  static async start(cfg: ModelConfig, slots: Slot[], total: number, microBatches: number, n: number): Promise<GradWorkers | null> {
    if (n < 1) return null;
    const backend = activeBackend()?.name;
    if (backend !== 'wasm' && backend !== 'cpu') {
      // Native TensorFlow threads its own kernels, and its addon is not loaded per worker.
      process.stderr.write(`gradient workers: not used on the ${backend ?? 'unset'} backend; micro-batches run on one thread\n`);
      return null;
    }
    const pool = new GradWorkers(cfg, slots, total, microBatches, n, backend);
    try {
      await Promise.all(pool.workers.map((_, w) => pool.answer(w)));
    } catch (e) {
      pool.dispose();
      throw e;
    }
    return pool;
  }

  private readonly workers: Worker[] = [];

  private constructor(cfg: ModelConfig, slots: Slot[], total: number, microBatches: number, n: number, backend: 'wasm' | 'cpu') {
    this.params = new Float32Array(new SharedArrayBuffer(total * 4));
    this.grads = new Float32Array(new SharedArrayBuffer(microBatches * total * 4));
    this.losses = new Float64Array(new SharedArrayBuffer(microBatches * 8));
    for (let w = 0; w < n; w++) {
      const init: WorkerInit = { cfg, slots, backend, params: this.params.buffer as SharedArrayBuffer, grads: this.grads.buffer as SharedArrayBuffer, losses: this.losses.buffer as SharedArrayBuffer };
      const worker = spawn(init);
      worker.unref();
      worker.on('message', (r: WorkerReply) => (r.kind === 'error' ? this.fail(w, new Error(r.message)) : this.settle(w)));
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

  private settle(w: number): void {
    this.pending[w].resolve();
  }

  private fail(w: number, e: Error): void {
    if (this.failure) return;
    this.failure = new Error(`gradient worker ${w + 1}: ${e.message}`);
    for (const p of this.pending) p.reject(this.failure);
  }

  /**
   * Publishes the weights and hands worker w the slices `owner` maps to w+1 (0 is the caller);
   * resolves when all have written their gradients (`grads`) and losses (into `losses`).
   */
  run(params: Float32Array, slices: Batch[], owner: (i: number) => number, losses: Float64Array): Promise<void> {
    this.params.set(params);
    const answers = this.workers.map((worker, w) => {
      const job: WorkerJob = { slices: slices.flatMap((batch, index) => (owner(index) === w + 1 ? [{ index, batch }] : [])) };
      const a = this.answer(w);
      worker.postMessage(job);
      return a;
    });
    return Promise.all(answers).then(() => {
      slices.forEach((_, i) => {
        if (owner(i) !== 0) losses[i] = this.losses[i];
      });
    });
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
