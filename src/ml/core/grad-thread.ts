/**
 * Entry point of a gradient worker thread (see ./grad-pool.ts): initialises the training
 * thread's backend with one thread, then runs the jobs it is sent on the shared buffers.
 */
import { parentPort, workerData } from 'node:worker_threads';
import * as tf from '../backend/tf.ts';
import { initBackend } from '../backend/index.ts';
import type { WorkerInit, WorkerJob, WorkerReply } from './grad-pool.ts';
import { adamwSlot, reduceSlot } from './adamw.ts';
import { batchGradient, paramTensors } from './step.ts';

const init = workerData as WorkerInit;
const state = { params: new Float32Array(init.params), m: new Float32Array(init.m), v: new Float32Array(init.v) };
const grads = new Float32Array(init.grads);
const losses = new Float64Array(init.losses);
const squares = new Float64Array(init.squares);
const total = state.params.length;
const reply = (r: WorkerReply) => parentPort!.postMessage(r);
const message = (e: unknown) => (e instanceof Error ? e.message : String(e));

function perform(job: WorkerJob): void {
  switch (job.kind) {
    case 'gradients': {
      // Fresh tensors each step: the wasm backend caches packed weights per tensor id.
      const ts = paramTensors(init.slots, state.params);
      try {
        for (const { index, batch } of job.slices) {
          losses[index] = batchGradient(init.cfg, init.slots, ts, batch, grads.subarray(index * total, (index + 1) * total));
        }
      } finally {
        tf.dispose(ts);
      }
      return;
    }
    case 'reduce':
      for (const k of job.slots) squares[k] = reduceSlot(grads, total, init.microBatches, init.slots[k]);
      return;
    case 'update':
      for (const k of job.slots) adamwSlot(state, init.slots[k], grads, init.slots[k].offset, job.constants);
      return;
  }
}

try {
  await initBackend(init.backend, { quiet: true });
  parentPort!.on('message', (job: WorkerJob) => {
    try {
      perform(job);
      reply({ kind: 'done' });
    } catch (e) {
      reply({ kind: 'error', message: message(e) });
    }
  });
  reply({ kind: 'ready' });
} catch (e) {
  reply({ kind: 'error', message: message(e) });
}
