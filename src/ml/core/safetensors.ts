/**
 * The safetensors format (https://huggingface.co/docs/safetensors): 8-byte little-endian header
 * length N, N bytes of JSON {name: {dtype, shape, data_offsets: [begin, end]}, __metadata__?:
 * {string: string}}, then the raw little-endian tensor bytes; offsets are relative to the end of
 * the header. We write F32 only and read F32 (plus F16/BF16/F64 converted, so checkpoints from
 * other tools load). Hand-written because the format is ~60 lines and the npm packages for it are
 * either unmaintained or pull in a runtime we do not need; the reader validates everything a
 * corrupt or hostile file could get wrong and says what, where.
 */
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { writeFileAtomic } from '../../util/atomic-write.ts';

export class SafetensorsError extends Error {
  constructor(
    readonly file: string,
    what: string,
  ) {
    super(`${file}: ${what}`);
    this.name = 'SafetensorsError';
  }
}

export interface NamedTensor {
  shape: number[];
  data: Float32Array;
}

/** Largest header we accept: real headers are a few KB; this only stops absurd allocations. */
export const MAX_HEADER_BYTES = 100 * 1024 * 1024;

const DTYPE_BYTES: Record<string, number> = { F32: 4, F16: 2, BF16: 2, F64: 8 };

/** Writes tensors (in the given order) atomically: a temp file renamed over the target. */
export function writeSafetensors(
  path: string,
  tensors: Map<string, NamedTensor> | [string, NamedTensor][],
  metadata: Record<string, string> = {},
): void {
  const entries = tensors instanceof Map ? [...tensors] : tensors;
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, t] of entries) {
    const bytes = t.data.length * 4;
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const pad = (8 - (json.length % 8)) % 8; // keep tensor data 8-byte aligned, as the reference writer does
  if (pad) json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);
  const out = Buffer.allocUnsafe(8 + json.length + offset);
  out.writeBigUInt64LE(BigInt(json.length), 0);
  json.copy(out, 8);
  let p = 8 + json.length;
  for (const [, t] of entries) {
    const src = Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    if (isLittleEndian) src.copy(out, p);
    else for (let i = 0; i < t.data.length; i++) out.writeFloatLE(t.data[i], p + 4 * i);
    p += t.data.byteLength;
  }
  writeFileAtomic(path, out, { sync: true });
}

const isLittleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export interface SafetensorsFile {
  tensors: Map<string, NamedTensor>;
  metadata: Record<string, string>;
}

/** Reads and validates a safetensors file; every tensor is returned as float32. */
export function readSafetensors(path: string): SafetensorsFile {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (e) {
    throw new SafetensorsError(path, `cannot open (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  try {
    const size = fstatSync(fd).size;
    if (size < 8) throw new SafetensorsError(path, `file is ${size} bytes, too short for the 8-byte header length`);
    const lenBuf = Buffer.alloc(8);
    readSync(fd, lenBuf, 0, 8, 0);
    const n = lenBuf.readBigUInt64LE(0);
    if (n > BigInt(MAX_HEADER_BYTES))
      throw new SafetensorsError(path, `header length ${n} exceeds the ${MAX_HEADER_BYTES}-byte limit; not a safetensors file or corrupt`);
    if (n > BigInt(size - 8))
      throw new SafetensorsError(path, `header length ${n} runs past the end of the ${size}-byte file; the file is truncated or corrupt`);
    const hlen = Number(n);
    const hbuf = Buffer.alloc(hlen);
    readSync(fd, hbuf, 0, hlen, 8);
    let header: unknown;
    try {
      header = JSON.parse(hbuf.toString('utf8'));
    } catch (e) {
      throw new SafetensorsError(path, `header is not valid JSON (${(e as Error).message})`);
    }
    if (typeof header !== 'object' || header === null || Array.isArray(header))
      throw new SafetensorsError(path, 'header is not a JSON object');
    const dataStart = 8 + hlen;
    const dataLen = size - dataStart;
    const metadata: Record<string, string> = {};
    const spans: { name: string; begin: number; end: number; dtype: string; shape: number[] }[] = [];
    for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
      if (name === '__metadata__') {
        if (typeof raw !== 'object' || raw === null || Array.isArray(raw))
          throw new SafetensorsError(path, '__metadata__ must be an object of strings');
        for (const [k, v] of Object.entries(raw)) {
          if (typeof v !== 'string') throw new SafetensorsError(path, `__metadata__.${k} must be a string`);
          metadata[k] = v;
        }
        continue;
      }
      const e = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
      if (typeof e !== 'object' || e === null) throw new SafetensorsError(path, `tensor "${name}": entry is not an object`);
      if (typeof e.dtype !== 'string' || !(e.dtype in DTYPE_BYTES)) {
        throw new SafetensorsError(
          path,
          `tensor "${name}": unsupported dtype ${JSON.stringify(e.dtype)} (supported: ${Object.keys(DTYPE_BYTES).join(', ')})`,
        );
      }
      if (!Array.isArray(e.shape) || !e.shape.every((s) => Number.isSafeInteger(s) && s >= 0)) {
        throw new SafetensorsError(path, `tensor "${name}": shape ${JSON.stringify(e.shape)} is not a list of non-negative integers`);
      }
      const off = e.data_offsets;
      if (!Array.isArray(off) || off.length !== 2 || !off.every((o) => Number.isSafeInteger(o) && o >= 0) || off[1] < off[0]) {
        throw new SafetensorsError(
          path,
          `tensor "${name}": data_offsets ${JSON.stringify(off)} must be [begin, end] with 0 <= begin <= end`,
        );
      }
      const shape = e.shape as number[];
      const expected = shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[e.dtype];
      if (off[1] - off[0] !== expected) {
        throw new SafetensorsError(
          path,
          `tensor "${name}": shape [${shape}] of ${e.dtype} needs ${expected} bytes but data_offsets span ${off[1] - off[0]}`,
        );
      }
      if (off[1] > dataLen)
        throw new SafetensorsError(
          path,
          `tensor "${name}": data_offsets end ${off[1]} is past the ${dataLen} bytes of data; the file is truncated`,
        );
      spans.push({ name, begin: off[0], end: off[1], dtype: e.dtype, shape });
    }
    // Tensors must tile the data region exactly: no overlaps, no holes (the format requires it).
    const sorted = [...spans].sort((a, b) => a.begin - b.begin || a.end - b.end);
    let pos = 0;
    for (const s of sorted) {
      if (s.begin < pos)
        throw new SafetensorsError(
          path,
          `tensor "${s.name}": bytes ${s.begin}..${s.end} overlap the previous tensor (which ends at ${pos})`,
        );
      if (s.begin > pos)
        throw new SafetensorsError(
          path,
          `tensor "${s.name}": starts at ${s.begin} leaving a hole after byte ${pos}; tensors must be contiguous`,
        );
      pos = s.end;
    }
    if (pos !== dataLen)
      throw new SafetensorsError(
        path,
        `tensor data ends at byte ${pos} but the file has ${dataLen} data bytes; trailing garbage or a missing tensor`,
      );
    const tensors = new Map<string, NamedTensor>();
    for (const s of spans) {
      const buf = Buffer.alloc(s.end - s.begin);
      if (buf.length) readSync(fd, buf, 0, buf.length, dataStart + s.begin);
      tensors.set(s.name, { shape: s.shape, data: decode(buf, s.dtype) });
    }
    return { tensors, metadata };
  } finally {
    closeSync(fd);
  }
}

function decode(buf: Buffer, dtype: string): Float32Array {
  const n = buf.length / DTYPE_BYTES[dtype];
  const out = new Float32Array(n);
  if (dtype === 'F32') for (let i = 0; i < n; i++) out[i] = buf.readFloatLE(4 * i);
  else if (dtype === 'F64') for (let i = 0; i < n; i++) out[i] = buf.readDoubleLE(8 * i);
  else if (dtype === 'BF16') {
    const u = new Uint32Array(1);
    const f = new Float32Array(u.buffer);
    for (let i = 0; i < n; i++) {
      u[0] = buf.readUInt16LE(2 * i) << 16;
      out[i] = f[0];
    }
  } else {
    for (let i = 0; i < n; i++) out[i] = halfToFloat(buf.readUInt16LE(2 * i));
  }
  return out;
}

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}
