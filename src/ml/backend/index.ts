/**
 * Backend choice. `auto` prefers native TensorFlow with CUDA when its optional package is installed,
 * then WebGPU on a hardware adapter (./webgpu.ts; a software rasterizer is never chosen by auto),
 * then native TensorFlow on the CPU, then WebAssembly (with our kernel fixes), then the plain-JS
 * backend. One line on stderr says what runs and why the others were skipped; callers record
 * `name` (and, on webgpu, the adapter) in their metrics.
 */
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as tf from './tf.ts';
import { installWasmFixes, type WasmFixReport } from './wasm-fixes.ts';
import { enableWasmThreads } from './wasm-threads.ts';
import { describeAdapter, startWebgpu, type WebgpuAdapter } from './webgpu.ts';

const BACKEND_CHOICES = ['auto', 'tensorflow-gpu', 'webgpu', 'tensorflow', 'wasm', 'cpu'] as const;
export type BackendChoice = (typeof BACKEND_CHOICES)[number];

export interface BackendInfo {
  /** tfjs backend name now active: 'tensorflow', 'webgpu', 'wasm' or 'cpu'. */
  name: string;
  /** Why this backend runs (and why earlier candidates were skipped). */
  reason: string;
  /** Package the backend came from, for metrics (e.g. '@tensorflow/tfjs-node-gpu'). */
  package: string;
  wasmFixes?: WasmFixReport;
  /** XNNPACK threads (wasm only; GROW_WASM_THREADS). */
  threads?: number;
  /** The GPU adapter (webgpu only). */
  adapter?: WebgpuAdapter;
}

/** The backend with, on webgpu, the adapter it ran on: "webgpu (vulkan: NVIDIA H100 …)". */
export function backendLabel(info: BackendInfo | null): string | null {
  if (!info) return null;
  return info.adapter ? `${info.name} (${describeAdapter(info.adapter)})` : info.name;
}

/**
 * The fields every metrics file records about the backend: `backend` (its name, as always) and,
 * on webgpu only, `adapter` (so files from other backends are unchanged).
 */
export function backendFields(): { backend: string; adapter?: string } {
  if (!active) return { backend: tf.getBackend() };
  return active.adapter ? { backend: active.name, adapter: describeAdapter(active.adapter) } : { backend: active.name };
}

export class BackendError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BackendError';
  }
}

let active: BackendInfo | null = null;
let activeChoice: Exclude<BackendChoice, 'auto'> | null = null;

/** The backend initBackend selected, or null before it ran. */
export function activeBackend(): BackendInfo | null {
  return active;
}

function parseChoice(choice: string | undefined): BackendChoice {
  const c = (choice ?? process.env.GROW_BACKEND ?? 'auto').trim() || 'auto';
  if (!(BACKEND_CHOICES as readonly string[]).includes(c)) {
    throw new BackendError(
      `unknown backend "${c}" (from ${choice !== undefined ? 'the backend parameter' : 'GROW_BACKEND'}); use one of ${BACKEND_CHOICES.join(', ')}`,
    );
  }
  return c as BackendChoice;
}

type Attempt = { ok: true; info: Omit<BackendInfo, 'reason'> } | { ok: false; why: string };

async function tryNative(pkg: '@tensorflow/tfjs-node-gpu' | '@tensorflow/tfjs-node'): Promise<Attempt> {
  try {
    await import(pkg);
  } catch (e) {
    const msg =
      (e as NodeJS.ErrnoException).code === 'ERR_MODULE_NOT_FOUND'
        ? 'not installed'
        : `failed to load (${(e as Error).message.split('\n')[0]})`;
    return { ok: false, why: `${pkg} ${msg}` };
  }
  if (!(await tf.setBackend('tensorflow'))) return { ok: false, why: `${pkg} loaded but its backend did not initialise` };
  return { ok: true, info: { name: 'tensorflow', package: pkg } };
}

async function tryWasm(): Promise<Attempt> {
  let wasm: typeof import('@tensorflow/tfjs-backend-wasm');
  try {
    wasm = await import('@tensorflow/tfjs-backend-wasm');
  } catch (e) {
    return { ok: false, why: `@tensorflow/tfjs-backend-wasm failed to load (${(e as Error).message.split('\n')[0]})` };
  }
  let threads = 1;
  let restore = () => {};
  if (!tf.findBackend('wasm')) {
    const dist = join(dirname(createRequire(import.meta.url).resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'dist');
    wasm.setWasmPaths(dist + '/');
    const want = Number(process.env.GROW_WASM_THREADS ?? 1);
    if (Number.isInteger(want) && want >= 2) {
      threads = want;
      restore = enableWasmThreads(want, wasm.setThreadsCount);
    }
  }
  const listeners = processListeners();
  const ok = await tf.setBackend('wasm');
  restore();
  dropNewListeners(listeners);
  if (!ok) return { ok: false, why: 'the wasm backend did not initialise' };
  // GROW_WASM_FIXES=0: stock speed (only the correctness fixes: gather's gradient, float one-hot).
  const speed = process.env.GROW_WASM_FIXES !== '0';
  const installed = installWasmFixes({ core: tf.version_core, wasm: wasm.version_wasm }, tf.PINNED_TFJS_VERSION, { speed });
  const wasmFixes =
    speed || !installed.installed ? installed : { ...installed, reason: 'GROW_WASM_FIXES=0: stock kernels except the correctness fixes' };
  return {
    ok: true,
    info: { name: 'wasm', package: '@tensorflow/tfjs-backend-wasm', wasmFixes, threads: threads > 1 ? wasm.getThreadsCount() : 1 },
  };
}

/**
 * The wasm backend's emscripten glue adds process listeners that rethrow every uncaught exception
 * and unhandled rejection from inside the glue. Node then prints the throwing source line — the
 * glue's one 30 kB line — instead of the program's own error. Node's defaults already treat both
 * as fatal, so the glue's listeners are removed again.
 */
function processListeners() {
  return { exception: process.listeners('uncaughtException'), rejection: process.listeners('unhandledRejection') };
}

function dropNewListeners(before: ReturnType<typeof processListeners>): void {
  for (const l of process.listeners('uncaughtException')) if (!before.exception.includes(l)) process.removeListener('uncaughtException', l);
  for (const l of process.listeners('unhandledRejection'))
    if (!before.rejection.includes(l)) process.removeListener('unhandledRejection', l);
}

async function tryWebgpu(allowSoftware: boolean): Promise<Attempt> {
  const r = await startWebgpu({ allowSoftware });
  if (!r.ok) return r;
  return { ok: true, info: { name: 'webgpu', package: '@tensorflow/tfjs-backend-webgpu', adapter: r.adapter } };
}

async function tryCpu(): Promise<Attempt> {
  if (!(await tf.setBackend('cpu'))) return { ok: false, why: 'the cpu backend did not initialise' };
  tf.silenceCpuBanner();
  return { ok: true, info: { name: 'cpu', package: '@tensorflow/tfjs-backend-cpu' } };
}

const CANDIDATES: Record<Exclude<BackendChoice, 'auto'>, (auto: boolean) => Promise<Attempt>> = {
  'tensorflow-gpu': () => tryNative('@tensorflow/tfjs-node-gpu'),
  // Asked for by name, a software adapter is taken (slow, but it runs: CI tests this path with it).
  webgpu: (auto) => tryWebgpu(!auto),
  tensorflow: () => tryNative('@tensorflow/tfjs-node'),
  wasm: tryWasm,
  cpu: tryCpu,
};

/**
 * Selects and initialises the tfjs backend: `choice` (default: env GROW_BACKEND, else 'auto').
 * An explicit choice that cannot run is an error; `auto` falls through the candidates in order.
 */
export async function initBackend(choice?: BackendChoice, opts: { quiet?: boolean } = {}): Promise<BackendInfo> {
  const c = parseChoice(choice);
  if (active && (c === 'auto' || c === activeChoice)) return active;
  const order: Exclude<BackendChoice, 'auto'>[] = c === 'auto' ? ['tensorflow-gpu', 'webgpu', 'tensorflow', 'wasm', 'cpu'] : [c];
  const skipped: string[] = [];
  for (const name of order) {
    const r = await CANDIDATES[name](c === 'auto');
    if (r.ok) {
      const fx = r.info.wasmFixes;
      const fixNote = !fx
        ? ''
        : !fx.installed || fx.reason
          ? `; ${fx.reason}`
          : `; kernel fixes installed${fx.gemm ? `, GEMM: ${fx.gemm.kernel}${fx.gemm.why ? ` (${fx.gemm.why})` : ''}` : ''}`;
      const threadNote = r.info.threads && r.info.threads > 1 ? `; ${r.info.threads} XNNPACK threads` : '';
      const adapterNote = r.info.adapter ? `; adapter ${describeAdapter(r.info.adapter)}` : '';
      const reason =
        (c === 'auto' ? `auto${skipped.length ? `: ${skipped.join('; ')}` : ''}` : `requested`) + fixNote + threadNote + adapterNote;
      active = { ...r.info, reason };
      activeChoice = name;
      if (!opts.quiet) process.stderr.write(`backend: ${active.name} (${active.package}) — ${reason}\n`);
      return active;
    }
    skipped.push(r.why);
  }
  throw new BackendError(`backend "${c}" is not available: ${skipped.join('; ')}`);
}
