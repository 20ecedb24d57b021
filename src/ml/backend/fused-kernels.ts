/**
 * The model's fused kernels (./fused-math.ts) registered as tfjs kernels for the backends whose
 * tensors live in JavaScript-visible memory: `cpu` (typed arrays) and `wasm` (the wasm heap,
 * zero-copy views). On any other backend (e.g. native TensorFlow) they are absent and src/ml/core/ops.ts
 * uses its composite tfjs formulation instead — `hasFusedKernels()` tells which.
 */
import * as tf from './tf.ts';
import * as math from './fused-math.ts';
import { sizeOf, type WasmBackend } from './wasm-internals.ts';

export const FUSED = {
  layerNorm: 'GrowLayerNorm',
  layerNormGrad: 'GrowLayerNormGrad',
  geluArgument: 'GrowGeluArgument',
  geluGrad: 'GrowGeluGrad',
  crossEntropy: 'GrowCrossEntropy',
  crossEntropyGrad: 'GrowCrossEntropyGrad',
  softmaxGrad: 'GrowSoftmaxGrad',
} as const;

type Arr = Float32Array | Int32Array;
interface HostKernel {
  /** Output shapes from input shapes and attributes. */
  shapes(inputs: tf.TensorInfo[], attrs: Record<string, number>): number[][];
  compute(inputs: Arr[], outputs: Float32Array[], shapes: number[][], attrs: Record<string, number>): void;
  /** Input names, in the order compute receives them. */
  inputs: string[];
}

const KERNELS: Record<string, HostKernel> = {
  [FUSED.layerNorm]: {
    inputs: ['x', 'w', 'b'],
    shapes: ([x]) => [x.shape, x.shape, [x.shape[0], 1]],
    compute: ([x, w, b], [y, xhat, rstd], [s], { eps }) =>
      math.layerNormForward(x as Float32Array, w as Float32Array, b as Float32Array, s[1], eps, y, xhat, rstd),
  },
  [FUSED.layerNormGrad]: {
    inputs: ['dy', 'xhat', 'rstd', 'w'],
    shapes: ([dy, , , w]) => [dy.shape, w.shape, w.shape],
    compute: ([dy, xhat, rstd, w], [dx, dw, db], [s]) =>
      math.layerNormBackward(dy as Float32Array, xhat as Float32Array, rstd as Float32Array, w as Float32Array, s[1], dx, dw, db),
  },
  [FUSED.geluArgument]: {
    inputs: ['x'],
    shapes: ([x]) => [x.shape],
    compute: ([x], [u]) => math.geluArgument(x as Float32Array, u),
  },
  [FUSED.geluGrad]: {
    inputs: ['x', 's', 'dy'],
    shapes: ([x]) => [x.shape],
    compute: ([x, s, dy], [dx]) => math.geluBackward(x as Float32Array, s as Float32Array, dy as Float32Array, dx),
  },
  [FUSED.crossEntropy]: {
    inputs: ['z', 'p', 'labels'],
    shapes: () => [[]],
    compute: ([z, p, labels], [out], _shapes, { v }) => {
      out[0] = math.crossEntropyFromSoftmax(z as Float32Array, p as Float32Array, labels as Int32Array, v);
    },
  },
  [FUSED.crossEntropyGrad]: {
    inputs: ['p', 'labels', 'dy'],
    shapes: ([p]) => [p.shape],
    compute: ([p, labels, dy], [dz], _shapes, { v }) =>
      math.crossEntropyBackward(p as Float32Array, labels as Int32Array, v, dy[0] / labels.length, dz),
  },
  [FUSED.softmaxGrad]: {
    inputs: ['p', 'dy'],
    shapes: ([p]) => [p.shape],
    compute: ([p, dy], [ds], [s], { scale }) => math.softmaxBackward(p as Float32Array, dy as Float32Array, s[s.length - 1], scale, ds),
  },
};

function wasmKernel(k: HostKernel): tf.KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const be = backend as unknown as WasmBackend;
    const ins = k.inputs.map((n) => inputs[n] as tf.TensorInfo);
    const shapes = k.shapes(ins, attrs as Record<string, number>);
    const outs = shapes.map((s) => be.makeOutput(s, 'float32'));
    // Views after every allocation: growing the heap detaches earlier views.
    const inViews = ins.map((t) => be.typedArrayFromHeap(t) as Arr);
    const outViews = outs.map((t) => be.typedArrayFromHeap(t) as Float32Array);
    k.compute(inViews, outViews, [ins[0].shape, ...shapes], attrs as Record<string, number>);
    return outs.length === 1 ? outs[0] : outs;
  };
}

interface CpuBackendLike {
  readSync(dataId: tf.DataId): ArrayLike<number>;
  makeTensorInfo(shape: number[], dtype: tf.DataType, values: Float32Array): tf.TensorInfo;
}

function cpuKernel(k: HostKernel): tf.KernelFunc {
  return ({ inputs, backend, attrs }) => {
    const be = backend as unknown as CpuBackendLike;
    const ins = k.inputs.map((n) => inputs[n] as tf.TensorInfo);
    const shapes = k.shapes(ins, attrs as Record<string, number>);
    const inViews = ins.map((t) => be.readSync(t.dataId) as Arr);
    const outViews = shapes.map((s) => new Float32Array(sizeOf(s)));
    k.compute(inViews, outViews, [ins[0].shape, ...shapes], attrs as Record<string, number>);
    const outs = shapes.map((s, i) => be.makeTensorInfo(s, 'float32', outViews[i]));
    return outs.length === 1 ? outs[0] : outs;
  };
}

/** Registers the fused kernels for `cpu` and `wasm` (idempotent). */
function registerFusedKernels(): void {
  for (const [name, k] of Object.entries(KERNELS)) {
    for (const [backendName, make] of [
      ['cpu', cpuKernel],
      ['wasm', wasmKernel],
    ] as const) {
      if (!tf.getKernel(name, backendName)) tf.registerKernel({ kernelName: name, backendName, kernelFunc: make(k) });
    }
  }
}

/** Whether the active backend has the fused kernels (else ops.ts uses composite tfjs ops). */
export function hasFusedKernels(): boolean {
  return tf.getKernel(FUSED.layerNorm, tf.getBackend()) !== undefined && process.env.GROW_FUSED_KERNELS !== '0';
}

registerFusedKernels();
