/**
 * The slice of @tensorflow/tfjs-backend-wasm 4.22's internals the kernel fixes rely on, typed. These
 * are not public API (hence the version pin in ./wasm-fixes.ts): a tensor's data lives in the wasm
 * heap at `memoryOffset`, and the C++ side knows it by a numeric `id` in its own tensor table.
 */
import * as tf from './tf.ts';

export interface WasmModule {
  HEAPU8: Uint8Array;
  /** The module's exports; `memory` is the heap every tensor lives in (absent in the threaded build, whose memory is imported). */
  asm?: { memory?: WebAssembly.Memory };
  _malloc(bytes: number): number;
  _free(ptr: number): void;
  cwrap(name: string, ret: null, args: string[]): (...args: unknown[]) => void;
  tfjs: {
    registerTensor(id: number, size: number, memoryOffset: number): void;
    disposeData(id: number): void;
  };
}

export interface WasmTensorData {
  id: number;
  memoryOffset: number;
  shape: number[];
  dtype: tf.DataType;
  refCount: number;
}

export interface WasmBackend {
  wasm: WasmModule;
  dataIdMap: { get(dataId: tf.DataId): WasmTensorData };
  dataIdNextNumber: number;
  makeOutput(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  typedArrayFromHeap(t: tf.TensorInfo): Float32Array | Int32Array | Uint8Array;
  disposeData(dataId: tf.DataId, force?: boolean): boolean;
  incRef(dataId: tf.DataId): void;
}

export function wasmBackend(): WasmBackend {
  const b = tf.findBackend('wasm');
  if (!b) throw new Error('the wasm backend is not initialised; call initBackend("wasm") first');
  return b as unknown as WasmBackend;
}

export const sizeOf = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** The C++ tensor-table id of a tensor. */
export function cppId(backend: WasmBackend, t: tf.TensorInfo): number {
  return backend.dataIdMap.get(t.dataId).id;
}

/** Byte offset of a tensor's data in the wasm heap. */
export function heapOffset(backend: WasmBackend, t: tf.TensorInfo): number {
  return backend.dataIdMap.get(t.dataId).memoryOffset;
}

/**
 * Registers an alias of existing heap memory in the C++ tensor table, so a C++ kernel can read or
 * write part of a tensor without a copy. Release with `dropView` (drops only the table entry).
 */
export function heapView(backend: WasmBackend, byteOffset: number, size: number): number {
  const id = backend.dataIdNextNumber++;
  backend.wasm.tfjs.registerTensor(id, size, byteOffset);
  return id;
}

export function dropView(backend: WasmBackend, id: number): void {
  backend.wasm.tfjs.disposeData(id);
}

/** Float32 view of a tensor's heap data; take it after every allocation (the heap may grow). */
export function f32(backend: WasmBackend, t: tf.TensorInfo): Float32Array {
  return backend.typedArrayFromHeap(t) as Float32Array;
}

export function shapeBytes(shape: readonly number[]): Uint8Array {
  return new Uint8Array(new Int32Array(shape).buffer);
}
