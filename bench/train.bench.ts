/**
 * Training-step benchmark: one JSON line per config with ms/step, tokens/s and achieved GFLOP/s
 * (analytic FLOPs from src/ml/core/flops.ts), plus — when Debian's python3-torch is installed — the same
 * model's step in PyTorch measured in the same run (`torch_ms_per_step`, `ratio` = ours / torch).
 *
 * Each config is measured twice: the plain step on one thread (`ms_per_step_1thread`, against
 * 1-thread PyTorch) and the step split into one micro-batch per core, each on its own thread
 * (`ms_per_step`, against PyTorch with as many threads) — how `train.micro_batches` runs.
 *
 *   npm run bench:train                       # backend from GROW_BACKEND (default auto)
 *   GROW_BENCH_WORKERS=1 npm run bench:train  # only the single-thread step
 *   GROW_BENCH_PROFILE=1 npm run bench:train  # also per-kernel times of one step on stderr
 *   GROW_BENCH_CONFIGS=large npm run bench:train
 *   GROW_BENCH_STEPS=5 GROW_WASM_FIXES=0 npm run bench:train   # stock wasm kernels, fewer steps
 *   GROW_BENCH_TORCH=0 npm run bench:train                      # skip the PyTorch reference
 *   GROW_GEMM=xnnpack npm run bench:train     # tfjs's XNNPACK GEMM instead of growline's own
 *
 * When the main backend is not webgpu and a GPU adapter exists, one more line per config measures
 * the plain step on webgpu (`backend: "webgpu"`, the adapter, and `speedup` over the main backend's
 * step). A software adapter (Mesa llvmpipe) is measured only with GROW_BENCH_WEBGPU=1;
 * GROW_BENCH_WEBGPU=0 skips webgpu.
 */
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { fileURLToPath } from 'node:url';
import * as tf from '../src/ml/backend/tf.ts';
import { initBackend } from '../src/ml/backend/index.ts';
import { describeAdapter, releaseWebgpu, startWebgpu } from '../src/ml/backend/webgpu.ts';
import { gptConfig, paramCount, type ModelConfig } from '../src/ml/core/config.ts';
import { stepFlops } from '../src/ml/core/flops.ts';
import { initWeights } from '../src/ml/core/model.ts';
import { AdamW } from '../src/ml/core/adamw.ts';
import { createStepper } from '../src/ml/core/step.ts';
import { Rng } from '../src/ml/core/rng.ts';

const BATCH = 16;
const SEQ = 64;
const CONFIGS: Record<string, { cfg: ModelConfig; steps: number }> = {
  small: { cfg: gptConfig({ vocabSize: 2048, blockSize: SEQ, nLayer: 2, nHead: 2, nEmbd: 64 }), steps: 20 },
  large: { cfg: gptConfig({ vocabSize: 2048, blockSize: SEQ, nLayer: 4, nHead: 4, nEmbd: 128 }), steps: 10 },
};
const WARMUP = 3;
const OPENBLAS_OMP = '/usr/lib/x86_64-linux-gnu/openblas-openmp';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function torchStep(
  cfg: ModelConfig,
  steps: number,
  threads = 2,
): { torch_ms_per_step: number; torch_min_ms_per_step: number; torch_version: string } | { torch_error: string } {
  const script = fileURLToPath(new URL('./torch_step.py', import.meta.url));
  const args = JSON.stringify({
    vocab: cfg.vocabSize,
    d: cfg.nEmbd,
    layers: cfg.nLayer,
    heads: cfg.nHead,
    seq: SEQ,
    batch: BATCH,
    steps,
    warmup: WARMUP,
    threads,
  });
  const env = { ...process.env, ...(existsSync(OPENBLAS_OMP) ? { LD_LIBRARY_PATH: OPENBLAS_OMP } : {}) };
  // Debian's python3-torch lives under the system interpreter; a pyenv/venv python3 on PATH may not see it.
  const python = process.env.GROW_TORCH_PYTHON ?? (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');
  const r = spawnSync(python, [script, args], { encoding: 'utf8', env });
  if (r.error || r.status !== 0) {
    const why = r.error ? r.error.message : r.stderr.trim().split('\n').pop();
    return { torch_error: `python3-torch unavailable (${why}); apt-get install python3-torch libopenblas0-openmp` };
  }
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

async function profileStep(step: () => Promise<unknown>): Promise<void> {
  const t0 = performance.now();
  const prof = await tf.profile(async () => {
    await step();
  });
  const total = performance.now() - t0;
  const byKernel = new Map<string, { ms: number; n: number }>();
  for (const k of prof.kernels) {
    const e = byKernel.get(k.name) ?? { ms: 0, n: 0 };
    e.ms += Number(k.kernelTimeMs) || 0;
    e.n++;
    byKernel.set(k.name, e);
  }
  const rows = [...byKernel].sort((a, b) => b[1].ms - a[1].ms);
  const inKernels = rows.reduce((s, [, e]) => s + e.ms, 0);
  process.stderr.write(
    `profile: ${prof.kernels.length} kernel calls, ${inKernels.toFixed(1)} ms in kernels of ${total.toFixed(1)} ms (profiling adds overhead)\n`,
  );
  for (const [name, e] of rows.slice(0, 15))
    process.stderr.write(`  ${name.padEnd(22)} ${e.ms.toFixed(1).padStart(8)} ms  ${String(e.n).padStart(5)} calls\n`);
}

// Threads for the parallel step, one micro-batch each, so their number must divide the batch: by
// default the most cores that do. PyTorch gets the same number of threads.
const workers = Number(
  process.env.GROW_BENCH_WORKERS ?? Math.max(...[1, 2, 4, 8, 16].filter((n) => BATCH % n === 0 && n <= availableParallelism())),
);
if (!Number.isInteger(workers) || workers < 1 || BATCH % workers !== 0) {
  throw new Error(
    `GROW_BENCH_WORKERS=${process.env.GROW_BENCH_WORKERS}: the threads (one micro-batch each) must divide the batch of ${BATCH}`,
  );
}
const backend = await initBackend();
const only = process.env.GROW_BENCH_CONFIGS?.split(',');

/** Step times (ms) of `steps` steps after WARMUP, and the stepper's thread count. */
async function measure(
  cfg: ModelConfig,
  steps: number,
  microBatches: number,
  profile: boolean,
): Promise<{ times: number[]; cpu: number[]; threads: number }> {
  const opt = new AdamW(cfg, { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, clip: 1 }, initWeights(cfg, 1));
  const stepper = await createStepper(cfg, opt, { microBatches, workers: microBatches });
  const rng = new Rng(7);
  const batch = () => {
    const x = Int32Array.from({ length: BATCH * SEQ }, () => rng.int(cfg.vocabSize));
    const y = Int32Array.from({ length: BATCH * SEQ }, () => rng.int(cfg.vocabSize));
    return { x, y, batch: BATCH, seq: SEQ };
  };
  try {
    for (let i = 0; i < WARMUP; i++) await stepper.step(batch(), 1e-3);
    const times: number[] = [];
    // CPU time of the whole process (all its threads): on a shared machine, the step's cost
    // without the wait for a core; comparable with PyTorch's for one thread.
    const cpu: number[] = [];
    for (let i = 0; i < steps; i++) {
      const b = batch();
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      await stepper.step(b, 1e-3);
      times.push(performance.now() - t0);
      const c = process.cpuUsage(c0);
      cpu.push((c.user + c.system) / 1000);
    }
    if (profile) await profileStep(() => stepper.step(batch(), 1e-3));
    return { times, cpu, threads: stepper.threads };
  } finally {
    stepper.dispose();
  }
}

const round = (x: number) => Number(x.toFixed(2));
/** Main backend's ms per step (as the trainer runs it), per config: the base of webgpu's speedup. */
const measured = new Map<string, number>();

for (const [name, { cfg, steps: defaultSteps }] of Object.entries(CONFIGS)) {
  if (only && !only.includes(name)) continue;
  const steps = Number(process.env.GROW_BENCH_STEPS ?? defaultSteps);
  const profile = process.env.GROW_BENCH_PROFILE === '1';
  const single = await measure(cfg, steps, 1, profile);
  const parallel = workers > 1 ? await measure(cfg, steps, workers, false) : single;
  const ms = median(parallel.times);
  const ms1 = median(single.times);
  const flops = stepFlops(cfg, BATCH, SEQ).training;
  const line: Record<string, unknown> = {
    config: name,
    backend: backend.name,
    wasm_fixed_kernels: backend.wasmFixes ? backend.wasmFixes.kernels.length : undefined,
    // Which GEMM the matrix products ran on (GROW_GEMM): the own relaxed-simd / simd, or xnnpack.
    gemm: backend.wasmFixes?.gemm?.kernel,
    xnnpack_threads: backend.threads,
    // The step as the trainer runs it with train.micro_batches = threads: one micro-batch per thread.
    threads: parallel.threads,
    params: paramCount(cfg),
    batch: BATCH,
    seq: SEQ,
    ms_per_step: round(ms),
    // The fastest step: least disturbed by other processes on a shared machine.
    min_ms_per_step: round(Math.min(...parallel.times)),
    tokens_per_s: Math.round((BATCH * SEQ * 1000) / ms),
    gflops_per_s: round(flops / ms / 1e6),
    gflop_per_step: Number((flops / 1e9).toFixed(3)),
    // The plain full-batch step on one thread.
    ms_per_step_1thread: round(ms1),
    gflops_per_s_1thread: round(flops / ms1 / 1e6),
    cpu_ms_per_step_1thread: round(median(single.cpu)),
    // Other processes share this machine; the load average says how much.
    load_avg_1m: round(loadavg()[0]),
    cpus: cpus().length,
  };
  if (process.env.GROW_BENCH_TORCH !== '0') {
    const t = torchStep(cfg, steps, parallel.threads);
    const { threads: torchThreads, ...rest } = t as typeof t & { threads?: number };
    Object.assign(line, rest, torchThreads ? { torch_threads: torchThreads } : {});
    if ('torch_ms_per_step' in t) {
      line.torch_ms_per_step = round(t.torch_ms_per_step);
      line.torch_min_ms_per_step = round(t.torch_min_ms_per_step);
      line.ratio = round(ms / t.torch_ms_per_step);
      line.ratio_min = round(Math.min(...parallel.times) / t.torch_min_ms_per_step);
      // Single thread against single thread: the kernels' speed without the parallel scheme.
      const t1 = parallel.threads > 1 ? torchStep(cfg, steps, 1) : t;
      if ('torch_ms_per_step' in t1) {
        line.torch_1thread_ms_per_step = round(t1.torch_ms_per_step);
        line.ratio_1thread = round(ms1 / t1.torch_ms_per_step);
        const torchCpu = (t1 as { torch_cpu_ms_per_step?: number }).torch_cpu_ms_per_step;
        if (torchCpu) {
          line.torch_1thread_cpu_ms_per_step = round(torchCpu);
          line.ratio_1thread_cpu = round(median(single.cpu) / torchCpu);
        }
      }
    }
  }
  process.stdout.write(JSON.stringify(line) + '\n');
  measured.set(name, ms);
}

if (backend.name !== 'webgpu' && process.env.GROW_BENCH_WEBGPU !== '0') {
  const gpu = await startWebgpu({ allowSoftware: process.env.GROW_BENCH_WEBGPU === '1' });
  if (!gpu.ok) {
    process.stderr.write(`webgpu not measured: ${gpu.why}\n`);
  } else {
    for (const [name, { cfg, steps: defaultSteps }] of Object.entries(CONFIGS)) {
      if (only && !only.includes(name)) continue;
      const steps = Number(process.env.GROW_BENCH_STEPS ?? defaultSteps);
      const { times } = await measure(cfg, steps, 1, process.env.GROW_BENCH_PROFILE === '1');
      const ms = median(times);
      const flops = stepFlops(cfg, BATCH, SEQ).training;
      const base = measured.get(name);
      const line = {
        config: name,
        backend: 'webgpu',
        adapter: describeAdapter(gpu.adapter),
        params: paramCount(cfg),
        batch: BATCH,
        seq: SEQ,
        ms_per_step: round(ms),
        min_ms_per_step: round(Math.min(...times)),
        tokens_per_s: Math.round((BATCH * SEQ * 1000) / ms),
        gflops_per_s: round(flops / ms / 1e6),
        // Over the main backend's step as the trainer runs it (the line above, same config).
        ...(base ? { speedup: round(base / ms), speedup_over: backend.name } : {}),
      };
      process.stdout.write(JSON.stringify(line) + '\n');
    }
    releaseWebgpu();
  }
}
