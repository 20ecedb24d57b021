/**
 * GEMM microbenchmark: every matrix product of one training step of bench/train.bench.ts's large
 * config (d128, 4 layers, 4 heads, batch 16 × 64 tokens, vocabulary 2048), through `tf.matMul` on
 * the wasm backend, one thread, with three kernels registered in turn in the same process:
 * XNNPACK (with growline's JS transposes, the path before the own GEMM), and the own GEMM's plain
 * SIMD and relaxed SIMD builds. One JSON line per shape (GFLOP/s per kernel), then one summary line:
 * the matmul milliseconds of a whole step per kernel (shape time × times it occurs in a step).
 *
 *   npm run bench:gemm
 *   GROW_BENCH_REPS=11 npm run bench:gemm    # timed batches per shape (median), default 7
 */
import { loadavg } from 'node:os';
import * as tf from '../src/ml/tf.ts';
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
const stockFused = tf.getKernel('_FusedMatMul', 'wasm')!.kernelFunc;
const host = { memory: be.wasm.asm!.memory!, malloc: be.wasm._malloc, free: be.wasm._free };
const variants: [string, tf.KernelFunc][] = [['xnnpack', xnnpack]];
for (const choice of ['simd', 'relaxed'] as const) {
  const r = loadGemm(host, choice);
  if (r.ok) variants.push([r.gemm.isa, new WasmMatMul(be, xnnpack, stockFused, r.gemm).batchMatMul]);
  else process.stderr.write(`gemm ${choice}: ${r.why}\n`);
}

// [name, batch, M, K, N, transA, transB, occurrences per step]
type Shape = [string, number, number, number, number, boolean, boolean, number];
const L = 4;
const SHAPES: Shape[] = [
  ['qkv', 1, 1024, 128, 384, false, false, L],
  ['qkv dx', 1, 1024, 384, 128, false, true, L],
  ['qkv dW', 1, 128, 1024, 384, true, false, L],
  ['attn proj / dx', 1, 1024, 128, 128, false, false, 2 * L],
  ['attn proj dW', 1, 128, 1024, 128, true, false, L],
  ['fc / fc-proj dx', 1, 1024, 128, 512, false, false, 2 * L],
  ['fc dx / fc-proj', 1, 1024, 512, 128, false, true, 2 * L],
  ['fc dW / fc-proj dW', 1, 128, 1024, 512, true, false, 2 * L],
  ['scores q·kᵀ', 64, 64, 32, 64, false, true, L],
  ['att·v, dq, dk, dv', 64, 64, 64, 32, false, false, 4 * L],
  ['d att', 64, 64, 32, 64, false, true, L],
  ['logits h·wteᵀ', 1, 1024, 128, 2048, false, true, 1],
  ['dh = dZ·wte', 1, 1024, 2048, 128, false, false, 1],
  ['d wte = dZᵀ·h', 1, 2048, 1024, 128, true, false, 1],
];

const reps = Number(process.env.GROW_BENCH_REPS ?? 7);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const rnd = (shape: number[]) => tf.randomUniform(shape, -0.5, 0.5);

function timeMs(run: () => void): number {
  const t0 = performance.now();
  run();
  const once = performance.now() - t0;
  const inner = Math.max(1, Math.round(20 / Math.max(once, 0.01)));
  for (let i = 0; i < 3 * inner; i++) run(); // past V8's baseline tier (the first calls of a wasm function)
  const ts: number[] = [];
  for (let r = 0; r < reps; r++) {
    const s = performance.now();
    for (let i = 0; i < inner; i++) run();
    ts.push((performance.now() - s) / inner);
  }
  return median(ts);
}

const stepMs: Record<string, number> = Object.fromEntries(variants.map(([v]) => [v, 0]));
const load0 = loadavg()[0];
for (const [name, batch, M, K, N, ta, tb, count] of SHAPES) {
  const lead = batch > 1 ? [batch] : [];
  const a = rnd([...lead, ...(ta ? [K, M] : [M, K])]);
  const b = rnd([...lead, ...(tb ? [N, K] : [K, N])]);
  const line: Record<string, unknown> = { shape: name, batch, M, K, N, transA: ta, transB: tb, per_step: count };
  for (const [v, kernelFunc] of variants) {
    tf.unregisterKernel('BatchMatMul', 'wasm');
    tf.registerKernel({ kernelName: 'BatchMatMul', backendName: 'wasm', kernelFunc });
    const ms = timeMs(() => tf.matMul(a, b, ta, tb).dispose());
    line[`${v}_gflops`] = Number(((2 * batch * M * K * N) / ms / 1e6).toFixed(1));
    stepMs[v] += count * ms;
  }
  a.dispose();
  b.dispose();
  process.stdout.write(JSON.stringify(line) + '\n');
}
process.stdout.write(
  JSON.stringify({
    summary: 'matmul ms per large training step, one thread',
    ...Object.fromEntries(Object.entries(stepMs).map(([v, ms]) => [`${v}_ms`, Number(ms.toFixed(1))])),
    node: process.version,
    load_avg_1m: [Number(load0.toFixed(2)), Number(loadavg()[0].toFixed(2))],
  }) + '\n',
);
