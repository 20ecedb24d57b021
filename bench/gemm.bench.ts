/**
 * GEMM microbenchmark: every matrix product of one training step of bench/train.bench.ts's large
 * config (d128, 4 layers, 4 heads, batch 16 × 64 tokens, vocabulary 2048), through `tf.matMul` on
 * the wasm backend, one thread, with three kernels registered in turn in the same process:
 * XNNPACK (with growline's JS transposes, the path before the own GEMM), and the own GEMM's plain
 * SIMD and relaxed SIMD builds. One JSON line per shape (GFLOP/s per kernel), then one summary line:
 * the matmul milliseconds of a whole step per kernel (shape time × times it occurs in a step).
 * Each figure three ways: median wall time, fastest batch, median CPU time (`*_cpu`: the one that
 * means something while other jobs share the cores).
 *
 *   npm run bench:gemm
 *   GROW_BENCH_REPS=11 npm run bench:gemm    # timed batches per shape (median), default 7
 */
import { loadavg } from 'node:os';
import * as tf from '../src/ml/backend/tf.ts';
import { initBackend } from '../src/ml/backend/index.ts';
import { loadGemm } from '../src/ml/backend/gemm.ts';
import { wasmBackend } from '../src/ml/backend/wasm-internals.ts';
import { WasmMatMul } from '../src/ml/backend/wasm-matmul.ts';

// XNNPACK first: the installed BatchMatMul is then the XNNPACK path, kept as the baseline.
process.env.GROW_GEMM = 'xnnpack';
const info = await initBackend('wasm', { quiet: true });
if (info.name !== 'wasm' || !info.wasmFixes?.installed) throw new Error('bench:gemm needs the wasm backend with its kernel fixes');
const be = wasmBackend();
const xnnpack = tf.getKernel('BatchMatMul', 'wasm')!.kernelFunc;
const xnnpackFused = tf.getKernel('_FusedMatMul', 'wasm')!.kernelFunc;
const host = { memory: be.wasm.asm!.memory!, malloc: be.wasm._malloc, free: be.wasm._free };
const variants: [string, { batch: tf.KernelFunc; fused: tf.KernelFunc }][] = [['xnnpack', { batch: xnnpack, fused: xnnpackFused }]];
for (const choice of ['simd', 'relaxed'] as const) {
  const r = loadGemm(host, choice);
  if (!r.ok) {
    process.stderr.write(`gemm ${choice}: ${r.why}\n`);
    continue;
  }
  const m = new WasmMatMul(be, xnnpack, xnnpackFused, r.gemm);
  variants.push([r.gemm.isa, { batch: m.batchMatMul, fused: m.fusedMatMul }]);
}

// Every product of the step as the model issues it (logged from a real step), per step:
// [name, batch, M, K, N, transA, transB, bias (a fused matMul), occurrences per step]
type Shape = [string, number, number, number, number, boolean, boolean, boolean, number];
const L = 4;
const SHAPES: Shape[] = [
  ['qkv', 1, 1024, 128, 384, false, false, true, L],
  ['attn proj', 1, 1024, 128, 128, false, false, true, L],
  ['fc', 1, 1024, 128, 512, false, false, true, L],
  ['fc proj', 1, 1024, 512, 128, false, false, true, L],
  ['q·kᵀ, d att = dy·vᵀ', 64, 64, 32, 64, false, true, false, 2 * L],
  ['att·v, dq = dS·k', 64, 64, 64, 32, false, false, false, 2 * L],
  ['dk = dSᵀ·q, dv = attᵀ·dy', 64, 64, 64, 32, true, false, false, 2 * L],
  ['qkv dx', 1, 1024, 384, 128, false, true, false, L],
  ['qkv dW', 1, 128, 1024, 384, true, false, false, L],
  ['attn proj dx', 1, 1024, 128, 128, false, true, false, L],
  ['attn proj dW', 1, 128, 1024, 128, true, false, false, L],
  ['fc dx', 1, 1024, 512, 128, false, true, false, L],
  ['fc dW', 1, 128, 1024, 512, true, false, false, L],
  ['fc proj dx', 1, 1024, 128, 512, false, true, false, L],
  ['fc proj dW', 1, 512, 1024, 128, true, false, false, L],
  ['logits h·wteᵀ', 1, 1024, 128, 2048, false, true, false, 1],
  ['dh = dZ·wte', 1, 1024, 2048, 128, false, false, false, 1],
  ['d wte = dZᵀ·h', 1, 2048, 1024, 128, true, false, false, 1],
];

const reps = Number(process.env.GROW_BENCH_REPS ?? 7);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const rnd = (shape: number[]) => tf.randomUniform(shape, -0.5, 0.5);

/**
 * Median and fastest wall time (ms) of one call over `reps` timed batches, and the median CPU
 * time (user + system of this process, which runs one compute thread): on a machine shared with
 * other jobs the wall time also counts the time spent waiting for a core, the CPU time does not.
 */
function timeMs(run: () => void): { median: number; min: number; cpu: number } {
  const t0 = performance.now();
  run();
  const once = performance.now() - t0;
  const inner = Math.max(1, Math.round(20 / Math.max(once, 0.01)));
  for (let i = 0; i < 3 * inner; i++) run(); // past V8's baseline tier (the first calls of a wasm function)
  const ts: number[] = [];
  const cpu: number[] = [];
  for (let r = 0; r < reps; r++) {
    const c = process.cpuUsage();
    const s = performance.now();
    for (let i = 0; i < inner; i++) run();
    ts.push((performance.now() - s) / inner);
    const d = process.cpuUsage(c);
    cpu.push((d.user + d.system) / 1000 / inner);
  }
  return { median: median(ts), min: Math.min(...ts), cpu: median(cpu) };
}

const stepMs: Record<string, number> = Object.fromEntries(variants.map(([v]) => [v, 0]));
const stepMinMs: Record<string, number> = Object.fromEntries(variants.map(([v]) => [v, 0]));
const stepCpuMs: Record<string, number> = Object.fromEntries(variants.map(([v]) => [v, 0]));
const load0 = loadavg()[0];
for (const [name, batch, M, K, N, ta, tb, withBias, count] of SHAPES) {
  const lead = batch > 1 ? [batch] : [];
  const a = rnd([...lead, ...(ta ? [K, M] : [M, K])]);
  const b = rnd([...lead, ...(tb ? [N, K] : [K, N])]);
  const bias = withBias ? rnd([N]) : null;
  const line: Record<string, unknown> = { shape: name, batch, M, K, N, transA: ta, transB: tb, bias: withBias, per_step: count };
  for (const [v, k] of variants) {
    for (const [kernelName, kernelFunc] of [
      ['BatchMatMul', k.batch],
      ['_FusedMatMul', k.fused],
    ] as const) {
      tf.unregisterKernel(kernelName, 'wasm');
      tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc });
    }
    const t = timeMs(() =>
      (bias ? tf.fused.matMul({ a: a as tf.Tensor2D, b: b as tf.Tensor2D, bias }) : tf.matMul(a, b, ta, tb)).dispose(),
    );
    const gflops = (ms: number) => Number(((2 * batch * M * K * N) / ms / 1e6).toFixed(1));
    line[`${v}_gflops`] = gflops(t.median);
    // The fastest batch: least disturbed by other processes on a shared machine.
    line[`${v}_gflops_best`] = gflops(t.min);
    line[`${v}_gflops_cpu`] = gflops(t.cpu);
    stepMs[v] += count * t.median;
    stepMinMs[v] += count * t.min;
    stepCpuMs[v] += count * t.cpu;
  }
  tf.dispose([a, b, ...(bias ? [bias] : [])]);
  process.stdout.write(JSON.stringify(line) + '\n');
}
process.stdout.write(
  JSON.stringify({
    summary: 'matmul ms per large training step, one thread',
    ...Object.fromEntries(Object.entries(stepMs).map(([v, ms]) => [`${v}_ms`, Number(ms.toFixed(1))])),
    ...Object.fromEntries(Object.entries(stepMinMs).map(([v, ms]) => [`${v}_ms_best`, Number(ms.toFixed(1))])),
    ...Object.fromEntries(Object.entries(stepCpuMs).map(([v, ms]) => [`${v}_ms_cpu`, Number(ms.toFixed(1))])),
    node: process.version,
    load_avg_1m: [Number(load0.toFixed(2)), Number(loadavg()[0].toFixed(2))],
  }) + '\n',
);
