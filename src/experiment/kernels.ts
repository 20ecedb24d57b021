/**
 * Where a training step's time goes: one forward + backward pass of a model configuration run
 * under `tf.profile`, its kernels grouped by name and ranked by total kernel time. Warm-up steps
 * run first so one-off costs (wasm compilation, first allocations, the JIT compiling the JS
 * kernels for these shapes) do not count: after one warm-up step the JS transposes of a d64 step
 * still took 33 ms, after five 1–2 ms.
 */
const WARMUP_STEPS = 5;
import * as tf from '../ml/backend/tf.ts';
import type { ModelConfig } from '../ml/core/config.ts';
import { initWeights, loss, toTensors } from '../ml/core/model.ts';
import type { KernelTime } from './profile.ts';

/** Groups profiled kernels by name: total milliseconds and calls, largest first. */
export function rankKernels(kernels: { name: string; kernelTimeMs: unknown }[], top: number): KernelTime[] {
  const byName = new Map<string, KernelTime>();
  for (const k of kernels) {
    // tfjs also records an op wrapper ("fusedMatMul__op") around the kernel it dispatches: skip it,
    // the kernel itself is counted.
    if (k.name.endsWith('__op')) continue;
    const ms = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
    const cur = byName.get(k.name) ?? { name: k.name, ms: 0, count: 0 };
    cur.ms += ms;
    cur.count += 1;
    byName.set(k.name, cur);
  }
  return [...byName.values()].sort((a, b) => b.ms - a.ms || a.name.localeCompare(b.name)).slice(0, top);
}

function randomTokens(n: number, vocab: number, seed: number): Int32Array {
  const out = new Int32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = (s >>> 0) % vocab;
  }
  return out;
}

export interface StepProfile {
  kernels: KernelTime[];
  /** Wall milliseconds of the profiled step (profiling itself adds overhead). */
  wall_ms: number;
  kernel_count: number;
}

/** Profiles one forward + backward step of `cfg` on a random batch [batch, cfg.blockSize]. */
export async function profileTrainingStep(cfg: ModelConfig, batch: number, top: number, seed = 1): Promise<StepProfile> {
  const weights = toTensors(initWeights(cfg, seed));
  const vars = Object.fromEntries(Object.entries(weights).map(([k, t]) => [k, tf.variable(t, true, `profile/${k}`)]));
  tf.dispose(Object.values(weights));
  const T = cfg.blockSize;
  const ids = randomTokens(batch * (T + 1), cfg.vocabSize, seed);
  const x = tf.tensor2d(ids.slice(0, batch * T), [batch, T], 'int32');
  const y = tf.tensor2d(ids.slice(batch), [batch, T], 'int32');
  const step = () => {
    const { value, grads } = tf.variableGrads(() => loss(cfg, vars, x, y));
    tf.dispose([value, ...Object.values(grads)]);
  };
  try {
    for (let i = 0; i < WARMUP_STEPS; i++) step();
    const t0 = performance.now();
    const info = await tf.profile(step);
    const wall_ms = performance.now() - t0;
    return {
      kernels: rankKernels(info.kernels as { name: string; kernelTimeMs: unknown }[], top),
      wall_ms,
      kernel_count: info.kernels.length,
    };
  } finally {
    tf.dispose([x, y, ...Object.values(vars)]);
  }
}
