/**
 * Opt-in XNNPACK thread pool for the wasm backend under Node (GROW_WASM_THREADS=n, n ≥ 2).
 *
 * tfjs-backend-wasm 4.22 ships a threaded SIMD build but never uses it in Node: (1) its
 * WASM_HAS_MULTITHREAD_SUPPORT flag is hard-coded false when IS_NODE (tfjs issue #3830); (2) the
 * emscripten pthread workers are created from blob: URLs, which Node's worker_threads cannot load;
 * (3) the C++ caps the pool at (logical cores)/2, i.e. 1 on a 2-core machine. We set the flag, map
 * the worker blob to a small worker file that evaluates the worker code shipped in wasm-out/, and
 * report 2n cores while the backend initialises. Must run before the wasm backend is created.
 *
 * Whether it pays depends on the machine: on an idle 2-core box one 1024×128×512 GEMM ran at ~70
 * GFLOP/s with 2 threads against ~30 with 1; on a box whose cores are busy with other work, the
 * pool's threads wait for each other and the same GEMM was up to 10× slower. Hence opt-in.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { dirname, join } from 'node:path';
import * as tf from './tf.ts';

function workerSource(wasmOut: string): string {
  return `// Written by growline (src/ml/backend/wasm-threads.ts): emscripten pthread worker for Node.
const path = require('path');
const wasmOut = ${JSON.stringify(wasmOut)};
const contents = require(path.join(wasmOut, 'tfjs-backend-wasm-threaded-simd.worker.js')).wasmWorkerContents;
const glue = path.join(wasmOut, 'tfjs-backend-wasm-threaded-simd.js');
// The main thread posts the glue code as a Blob; load the identical file shipped in wasm-out/ instead.
URL.createObjectURL = () => glue;
URL.revokeObjectURL = () => {};
global.require = require;
global.__filename = __filename;
// tfjs escapes newlines the same way before turning this source into a Blob.
(0, eval)(contents.replace(/\\n/g, '\\\\n'));
`;
}

/** Prepares the threaded build; returns a function to call once the backend is initialised. */
export function enableWasmThreads(n: number, setThreadsCount: (n: number) => void): () => void {
  const pkg = createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm/package.json');
  const workerFile = join(os.tmpdir(), `growline-tfjs-wasm-worker-${tf.PINNED_TFJS_VERSION}-${process.pid}.cjs`);
  writeFileSync(workerFile, workerSource(join(dirname(pkg), 'wasm-out')));
  process.once('exit', () => rmSync(workerFile, { force: true }));
  tf.env().set('WASM_HAS_MULTITHREAD_SUPPORT', true);
  const createObjectURL = URL.createObjectURL.bind(URL);
  URL.createObjectURL = ((obj: Blob) =>
    obj instanceof Blob && obj.type === 'application/javascript' ? workerFile : createObjectURL(obj)) as typeof URL.createObjectURL;
  const cpus = os.cpus;
  const real = cpus();
  (os as { cpus: () => os.CpuInfo[] }).cpus = () => Array.from({ length: 2 * n }, (_, i) => real[i % real.length]);
  setThreadsCount(n);
  return () => {
    (os as { cpus: () => os.CpuInfo[] }).cpus = cpus;
  };
}
