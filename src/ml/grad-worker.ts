/**
 * Entry point of a gradient worker thread (see ./grad-workers.ts): initialises the training
 * thread's backend with one thread, then for each job makes tensors of the published weights and
 * writes each assigned micro-batch's gradient and loss into shared memory.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as tf from './tf.ts';
import { initBackend } from './backend/index.ts';
import type { WorkerInit, WorkerJob, WorkerReply } from './grad-workers.ts';
import { batchGradient, paramTensors } from './step.ts';

const init = workerData as WorkerInit;
const params = new Float32Array(init.params);
const grads = new Float32Array(init.grads);
const losses = new Float64Array(init.losses);
const total = params.length;
const reply = (r: WorkerReply) => parentPort!.postMessage(r);
const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

try {
  await initBackend(init.backend, { quiet: true });
  parentPort!.on('message', (job: WorkerJob) => {
    try {
      const ts = paramTensors(init.slots, params);
      try {
        for (const { index, batch } of job.slices) {
          losses[index] = batchGradient(init.cfg, init.slots, ts, batch, grads.subarray(index * total, (index + 1) * total));
        }
      } finally {
        tf.dispose(ts);
      }
      reply({ kind: 'done' });
    } catch (e) {
      reply({ kind: 'error', message: message(e) });
    }
  });
  reply({ kind: 'ready' });
} catch (e) {
  reply({ kind: 'error', message: message(e) });
}
