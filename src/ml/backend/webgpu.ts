/**
 * TensorFlow.js's WebGPU backend in Node, through Dawn's Node bindings (the npm package `webgpu`,
 * an optional dependency that ships a prebuilt `dawn.node`).
 *
 * Two routes to an adapter:
 * - Vulkan, for a real GPU (NVIDIA's driver, Mesa's hardware drivers). Mesa's software Vulkan
 *   (lavapipe) is refused by Dawn itself: it lacks two descriptor-indexing features Dawn requires.
 * - OpenGL ES through EGL in WebGPU's compatibility mode. Without a GPU this is Mesa's software
 *   rasterizer (llvmpipe): slow, but it runs every kernel the model needs, so CI can test the
 *   whole WebGPU path on a CPU-only machine.
 * `auto` only ever takes a hardware adapter; `backend: webgpu` takes whichever is found first.
 *
 * Why the backend is registered here rather than by the package: its own registration runs at
 * import time only when `navigator.gpu` already exists, and asks for an adapter without
 * `featureLevel: 'compatibility'`, which the OpenGL ES route needs. The kernels register on
 * import regardless; the backend object is made from the adapter chosen here.
 */
import { existsSync, readdirSync } from 'node:fs';
import * as tf from './tf.ts';

/** What the adapter says about itself; recorded with the backend in metrics. */
export interface WebgpuAdapter {
  /** Dawn's backend: 'vulkan' or 'opengles'. */
  api: 'vulkan' | 'opengles';
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** A CPU rasterizer (llvmpipe, lavapipe, SwiftShader…), never chosen by `auto`. */
  software: boolean;
}

export type WebgpuAttempt = { ok: true; adapter: WebgpuAdapter } | { ok: false; why: string };

/** Renderers that run on the CPU, by the names their drivers report. */
const SOFTWARE_RENDERERS = /llvmpipe|lavapipe|softpipe|swiftshader|software/i;

export function isSoftwareAdapter(info: {
  vendor?: string;
  architecture?: string;
  device?: string;
  description?: string;
  isFallbackAdapter?: boolean;
}): boolean {
  if (info.isFallbackAdapter) return true;
  return SOFTWARE_RENDERERS.test([info.vendor, info.architecture, info.device, info.description].join(' '));
}

/** One line for logs and metrics, e.g. "vulkan: NVIDIA H100 80GB HBM3 (nvidia)". */
export function describeAdapter(a: WebgpuAdapter): string {
  const name = a.description || a.device || 'unknown adapter';
  const extra = [a.vendor, a.device !== name ? a.device : '', a.software ? 'software' : ''].filter(Boolean).join(', ');
  return `${a.api}: ${name}${extra ? ` (${extra})` : ''}`;
}

interface Route {
  api: WebgpuAdapter['api'];
  flags: string[];
  options: Record<string, unknown>;
}

const ROUTES: Route[] = [
  { api: 'vulkan', flags: ['backend=vulkan'], options: { powerPreference: 'high-performance' } },
  // Mesa's EGL needs a platform without a display server; Dawn's GL backend only offers compatibility mode.
  { api: 'opengles', flags: ['backend=opengles'], options: { featureLevel: 'compatibility', powerPreference: 'high-performance' } },
];

type Dawn = typeof import('webgpu');
type Gpu = ReturnType<Dawn['create']>;
type Adapter = NonNullable<Awaited<ReturnType<Gpu['requestAdapter']>>>;

let started: { adapter: WebgpuAdapter } | null = null;

/**
 * On Linux a GPU shows up as a device node (NVIDIA's /dev/nvidia0, DRM render nodes for the rest).
 * Without one only a software adapter could be found, so `auto` does not even load Dawn: that
 * saves the load and keeps Dawn's and Mesa's probing messages off every run's stderr.
 */
function gpuDeviceNode(): string | null {
  if (existsSync('/dev/nvidia0')) return '/dev/nvidia0';
  try {
    const render = readdirSync('/dev/dri').find((f) => f.startsWith('renderD'));
    if (render) return `/dev/dri/${render}`;
  } catch {
    // no /dev/dri
  }
  return null;
}

/**
 * Whether tensors must be read back with the async API (t.data()): true on webgpu, whose
 * synchronous read (dataSync) needs a browser's OffscreenCanvas and throws in Node.
 */
export function asyncReadback(): boolean {
  return tf.getBackend() === 'webgpu';
}

/**
 * Finds an adapter (hardware only unless `allowSoftware`), registers tfjs's webgpu backend on it
 * and makes it the active backend.
 */
export async function startWebgpu(opts: { allowSoftware: boolean }): Promise<WebgpuAttempt> {
  if (started) {
    if (!opts.allowSoftware && started.adapter.software)
      return { ok: false, why: `webgpu: only a software adapter (${describeAdapter(started.adapter)})` };
    if (!(await tf.setBackend('webgpu'))) return { ok: false, why: 'webgpu: the backend did not initialise' };
    return { ok: true, adapter: started.adapter };
  }
  // Dawn would use Metal or D3D12 elsewhere; only the Linux routes are wired up and tested.
  if (process.platform !== 'linux')
    return { ok: false, why: `webgpu: only set up for Linux (Vulkan, or OpenGL ES for a software adapter), not ${process.platform}` };
  const node = gpuDeviceNode();
  if (!opts.allowSoftware && !node) return { ok: false, why: 'webgpu: no GPU device (/dev/nvidia0, /dev/dri/renderD*)' };
  let dawn: Dawn;
  try {
    dawn = await import('webgpu');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const msg = code === 'ERR_MODULE_NOT_FOUND' ? 'not installed' : `failed to load (${(e as Error).message.split('\n')[0]})`;
    return { ok: false, why: `webgpu: the npm package webgpu (Dawn) ${msg}` };
  }
  // GPUBufferUsage, GPUMapMode, GPUShaderStage…: the backend reads them as globals, as in a browser.
  for (const [k, v] of Object.entries(dawn.globals)) if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
  process.env.EGL_PLATFORM ??= 'surfaceless';

  const tried: string[] = [];
  // auto: only Vulkan. The OpenGL ES route exists for the software rasterizer (CI without a GPU).
  for (const route of opts.allowSoftware ? ROUTES : ROUTES.slice(0, 1)) {
    // Without a GPU, Vulkan could only be Mesa's lavapipe, which Dawn refuses (after printing why).
    if (route.api === 'vulkan' && !node) {
      tried.push('vulkan: no GPU device');
      continue;
    }
    let gpu: Gpu;
    let adapter: Adapter | null;
    try {
      gpu = dawn.create(route.flags);
      adapter = await gpu.requestAdapter(route.options as GPURequestAdapterOptions);
    } catch (e) {
      tried.push(`${route.api}: ${(e as Error).message.split('\n')[0]}`);
      continue;
    }
    if (!adapter) {
      tried.push(`${route.api}: no adapter`);
      continue;
    }
    const info = adapter.info;
    const found: WebgpuAdapter = {
      api: route.api,
      vendor: info.vendor ?? '',
      architecture: info.architecture ?? '',
      device: info.device ?? '',
      description: info.description ?? '',
      software: isSoftwareAdapter(info),
    };
    if (found.software && !opts.allowSoftware) {
      tried.push(`${route.api}: only a software adapter (${found.description || found.device})`);
      continue;
    }
    let failure = '';
    try {
      if (!(await register(gpu, adapter))) failure = 'the backend did not start';
    } catch (e) {
      failure = (e as Error).message.split('\n')[0];
    }
    if (failure) {
      tried.push(`${route.api}: ${describeAdapter(found)} found but tfjs's webgpu backend did not initialise (${failure})`);
      continue;
    }
    started = { adapter: found };
    return { ok: true, adapter: found };
  }
  return { ok: false, why: `webgpu: ${opts.allowSoftware ? 'no adapter' : 'no hardware adapter'} (${tried.join('; ')})` };
}

async function register(gpu: Gpu, adapter: Adapter): Promise<boolean> {
  // Imported before navigator.gpu is set, so that the package registers only its kernels, not its
  // own backend factory (which would ask for an adapter without the options chosen here).
  const pkg = await import('@tensorflow/tfjs-backend-webgpu');
  // Some kernels check navigator.gpu. Node 20 has no navigator, Node 21+ one without gpu;
  // releaseWebgpu() deletes it again.
  const g = globalThis as unknown as { navigator?: Record<string, unknown> };
  if (!g.navigator) g.navigator = { userAgent: 'node' };
  g.navigator.gpu = gpu;
  // Same limits the package asks for in the browser: the adapter's, not WebGPU's defaults (a
  // 128 MiB storage binding is too small for the large model's logits).
  const limits = adapter.limits;
  const required = (name: string) => (adapter.features.has(name as GPUFeatureName) ? [name as GPUFeatureName] : []);
  const device = await adapter.requestDevice({
    requiredFeatures: [...required('timestamp-query')],
    requiredLimits: {
      maxComputeWorkgroupStorageSize: limits.maxComputeWorkgroupStorageSize,
      maxComputeWorkgroupsPerDimension: limits.maxComputeWorkgroupsPerDimension,
      maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
      maxBufferSize: limits.maxBufferSize,
      maxComputeWorkgroupSizeX: limits.maxComputeWorkgroupSizeX,
      maxComputeInvocationsPerWorkgroup: limits.maxComputeInvocationsPerWorkgroup,
    },
  });
  removeRegistered();
  tf.registerBackend('webgpu', () => new pkg.WebGPUBackend(device as unknown as GPUDevice, adapter.info as unknown as GPUAdapterInfo), 3);
  return tf.setBackend('webgpu');
}

function removeRegistered(): void {
  try {
    tf.removeBackend('webgpu'); // disposes the backend (and its device) when it was initialised
  } catch {
    // not registered
  }
}

/**
 * Frees the GPU device and removes `navigator.gpu`: while Dawn's instance is reachable it keeps
 * Node's event loop alive, so a program that used webgpu would never exit on its own.
 */
export function releaseWebgpu(): void {
  removeRegistered();
  started = null;
  const nav = (globalThis as unknown as { navigator?: Record<string, unknown> }).navigator;
  if (nav && 'gpu' in nav) delete nav.gpu;
}
