/**
 * Kernel fixes for @tensorflow/tfjs-backend-wasm, installed over the stock kernels after the
 * backend is initialised. They depend on the backend's internals, so they are pinned to the exact
 * version they were written and tested against (PINNED_TFJS_VERSION); on any other version they
 * are skipped with a message and the stock kernels stay (correct, only slower).
 *
 * Every kernel replaced here is compared with the cpu backend, value and gradient, in
 * test/ml/wasm-kernels.test.ts.
 */
import * as tf from './tf.ts';
import { loadGemm, parseGemmChoice } from './gemm.ts';
import { wasmBackend } from './wasm-internals.ts';
import {
  gatherRowsKernel,
  oneHotKernel,
  shareKernel,
  sliceKernel,
  splitKernel,
  sumKernel,
  transposeKernel,
  unsortedSegmentSumKernel,
} from './wasm-layout.ts';
import { WasmMatMul } from './wasm-matmul.ts';

export interface WasmFixReport {
  installed: boolean;
  /** Kernels replaced or added. */
  kernels: string[];
  /** Why nothing was installed, when installed is false. */
  reason?: string;
  /** Which GEMM the matrix products run: growline's own ('relaxed-simd' / 'simd') or 'xnnpack', and why. */
  gemm?: { kernel: 'relaxed-simd' | 'simd' | 'xnnpack'; why?: string };
}

/** Kernel names this module replaces or adds on the wasm backend. */
export const FIXED_KERNELS = [
  'BatchMatMul',
  '_FusedMatMul',
  'Transpose',
  'Sum',
  'Identity',
  'Cast',
  'Slice',
  'SplitV',
  'UnsortedSegmentSum',
  'OneHot',
  'GatherV2',
] as const;

let installedReport: WasmFixReport | null = null;

/** Kernels that fix wrong or missing behaviour (installed even when speed fixes are turned off). */
const CORRECTNESS_KERNELS = ['UnsortedSegmentSum', 'OneHot'] as const;

/**
 * Installs the fixes. `speed: false` installs only CORRECTNESS_KERNELS (for measuring the stock
 * kernels: without UnsortedSegmentSum the model cannot be trained on wasm at all).
 */
export function installWasmFixes(versions: { core: string; wasm: string }, pinned: string, opts: { speed?: boolean } = {}): WasmFixReport {
  if (versions.core !== pinned || versions.wasm !== pinned) {
    return {
      installed: false,
      kernels: [],
      reason:
        `wasm kernel fixes are written for tfjs ${pinned}, found tfjs-core ${versions.core} / tfjs-backend-wasm ${versions.wasm}; ` +
        `running the stock wasm kernels (slower). Pin @tensorflow/* to ${pinned} or re-validate src/ml/backend against the new version.`,
    };
  }
  if (installedReport) return installedReport;
  const be = wasmBackend();
  const stock = (name: string): tf.KernelFunc => {
    const k = tf.getKernel(name, 'wasm');
    if (!k) throw new Error(`wasm backend has no ${name} kernel to wrap`);
    return k.kernelFunc;
  };
  const choice = parseGemmChoice();
  // The threaded build (GROW_WASM_THREADS) imports a shared memory and does not export it.
  const memory = be.wasm.asm?.memory;
  const loaded =
    opts.speed === false
      ? ({ ok: false, why: 'GROW_WASM_FIXES=0' } as const)
      : !memory
        ? ({ ok: false, why: "XNNPACK's thread pool is on; the own GEMM needs the single-threaded build's memory" } as const)
        : loadGemm({ memory, malloc: be.wasm._malloc, free: be.wasm._free }, choice);
  const gemm: WasmFixReport['gemm'] = loaded.ok ? { kernel: loaded.gemm.isa } : { kernel: 'xnnpack', why: loaded.why };
  const matmul = new WasmMatMul(be, stock('BatchMatMul'), stock('_FusedMatMul'), loaded.ok ? loaded.gemm : null);
  const stockSum = stock('Sum');
  const stockGather = stock('GatherV2');
  const [stockIdentity, stockCast, stockSlice, stockTranspose] = ['Identity', 'Cast', 'Slice', 'Transpose'].map(stock);
  const backendArg = be as unknown as tf.KernelBackend;

  const kernels: Record<string, tf.KernelFunc> = {
    BatchMatMul: matmul.batchMatMul,
    _FusedMatMul: matmul.fusedMatMul,
    Transpose: (args) => {
      const x = args.inputs.x as tf.TensorInfo;
      if (x.dtype === 'string') return stockTranspose(args);
      return transposeKernel(be, x, (args.attrs as unknown as tf.TransposeAttrs).perm);
    },
    Sum: (args) => {
      const x = args.inputs.x as tf.TensorInfo;
      const { axis, keepDims } = args.attrs as unknown as tf.SumAttrs;
      const axes = tf.util.parseAxisParam(axis, x.shape);
      const innermost = (xt: tf.TensorInfo, ax: number[]) =>
        stockSum({ inputs: { x: xt }, backend: backendArg, attrs: { axis: ax, keepDims: false } }) as tf.TensorInfo;
      const out = sumKernel(be, x, axes, innermost);
      if (!out) return stockSum(args);
      return keepDims ? { ...out, shape: tf.backend_util.expandShapeToKeepDim(out.shape, axes) } : out;
    },
    Identity: (args) => {
      const x = args.inputs.x as tf.TensorInfo;
      return x.dtype === 'string' ? stockIdentity(args) : shareKernel(be, x);
    },
    Cast: (args) => {
      const x = args.inputs.x as tf.TensorInfo;
      const { dtype } = args.attrs as unknown as tf.CastAttrs;
      return dtype === x.dtype && x.dtype !== 'string' ? shareKernel(be, x) : stockCast(args);
    },
    Slice: (args) => {
      const x = args.inputs.x as tf.TensorInfo;
      if (x.dtype === 'string') return stockSlice(args);
      const { begin, size } = args.attrs as unknown as tf.SliceAttrs;
      const [b, s] = tf.slice_util.parseSliceParams(x as tf.Tensor, begin, size);
      return sliceKernel(be, x, b, s);
    },
    SplitV: (args) => {
      const x = args.inputs.x as tf.TensorInfo;
      const { numOrSizeSplits, axis } = args.attrs as unknown as tf.SplitVAttrs;
      const ax = tf.util.parseAxisParam(axis, x.shape)[0];
      const sizes = tf.backend_util.prepareSplitSize(x as tf.Tensor, numOrSizeSplits, ax);
      return splitKernel(be, x, sizes, ax);
    },
    UnsortedSegmentSum: (args) => {
      const { x, segmentIds } = args.inputs as { x: tf.TensorInfo; segmentIds: tf.TensorInfo };
      const { numSegments } = args.attrs as unknown as tf.UnsortedSegmentSumAttrs;
      return unsortedSegmentSumKernel(be, x, segmentIds, numSegments);
    },
    GatherV2: (args) => {
      const { x, indices } = args.inputs as { x: tf.TensorInfo; indices: tf.TensorInfo };
      const { axis, batchDims } = args.attrs as unknown as tf.GatherV2Attrs;
      const ax = tf.util.parseAxisParam(axis, x.shape)[0];
      return gatherRowsKernel(be, x, indices, ax, batchDims ?? 0) ?? stockGather(args);
    },
    OneHot: (args) => {
      const { indices } = args.inputs as { indices: tf.TensorInfo };
      const { depth, onValue, offValue, dtype } = args.attrs as unknown as tf.OneHotAttrs;
      return oneHotKernel(be, indices, depth, onValue, offValue, dtype);
    },
  };
  if (opts.speed === false) {
    for (const name of Object.keys(kernels)) if (!(CORRECTNESS_KERNELS as readonly string[]).includes(name)) delete kernels[name];
  }
  for (const [kernelName, kernelFunc] of Object.entries(kernels)) {
    if (tf.getKernel(kernelName, 'wasm')) tf.unregisterKernel(kernelName, 'wasm');
    tf.registerKernel({ kernelName, backendName: 'wasm', kernelFunc });
  }
  installedReport = { installed: true, kernels: Object.keys(kernels), gemm };
  return installedReport;
}
