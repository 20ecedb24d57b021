/**
 * growline's own f32 GEMM for the wasm backend: the AssemblyScript kernel in asm/gemm.ts, built by
 * `npm run build` / `npm ci` (scripts/build-gemm.mjs) into two modules — relaxed SIMD (fused
 * multiply-add where the host has FMA) and plain SIMD — instantiated on tfjs's own memory so it
 * reads operands and writes results where tfjs keeps them, with no copy.
 *
 * Why: XNNPACK in tfjs 4.22 reaches ~30 GFLOP/s per thread on the model's shapes and only for
 * untransposed batch-1 products; this kernel packs op(B) (transposed or not) into 8-column panels
 * and reaches 40–55, with transposes and batches in the packing instead of extra copies
 * (measurements in docs/BENCHMARKS.md, "Own GEMM").
 *
 * GROW_GEMM selects: `auto` (default: relaxed SIMD if the runtime has it, else SIMD), `relaxed`,
 * `simd`, or `xnnpack` (tfjs's own GEMM, as before this module existed).
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import v8 from 'node:v8';

const GEMM_CHOICES = ['auto', 'relaxed', 'simd', 'xnnpack'] as const;
export type GemmChoice = (typeof GEMM_CHOICES)[number];
/** Which build runs: 'relaxed-simd' (f32x4.relaxed_madd) or 'simd' (multiply, then add). */
export type GemmIsa = 'relaxed-simd' | 'simd';

interface GemmExports {
  gemm(
    A: number,
    B: number,
    C: number,
    bias: number,
    batch: number,
    M: number,
    K: number,
    N: number,
    strideA: number,
    strideB: number,
    transA: number,
    transB: number,
    scratch: number,
  ): void;
  scratchBytes(M: number, K: number, N: number, transA: number): number;
  relaxed(): number;
}

/** What the kernel needs of its host: the memory it works in and a malloc/free on it. */
export interface GemmHost {
  memory: WebAssembly.Memory;
  malloc(bytes: number): number;
  free(ptr: number): void;
}

/** One product: byte offsets into the host memory; see asm/gemm.ts `gemm`. */
export interface GemmCall {
  a: number;
  b: number;
  c: number;
  /** N floats added to every row, or 0. */
  bias: number;
  batch: number;
  M: number;
  K: number;
  N: number;
  /** Bytes between consecutive batch entries of A / B (0: the same matrix for every entry). */
  strideA: number;
  strideB: number;
  transA: boolean;
  transB: boolean;
}

export class GemmError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GemmError';
  }
}

/** The package root (holds asm/build), found from this file in src/ or in dist/src/. */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) {
    const up = dirname(dir);
    if (up === dir) throw new GemmError('cannot find the package root (package.json) above src/ml/backend');
    dir = up;
  }
  return dir;
}

export function gemmWasmPath(isa: GemmIsa): string {
  return join(packageRoot(), 'asm', 'build', isa === 'relaxed-simd' ? 'gemm-relaxed.wasm' : 'gemm-simd.wasm');
}

export function parseGemmChoice(value = process.env.GROW_GEMM): GemmChoice {
  const c = (value ?? 'auto').trim() || 'auto';
  if (!(GEMM_CHOICES as readonly string[]).includes(c)) {
    throw new GemmError(`GROW_GEMM="${c}" is not a GEMM choice; set it to one of ${GEMM_CHOICES.join(', ')} (or unset it)`);
  }
  return c as GemmChoice;
}

let relaxedFlagSet = false;

/**
 * Whether this runtime compiles relaxed SIMD. Node ≥ 22 does by default; Node 20 (V8 11.3) only
 * with --experimental-wasm-relaxed-simd, which NODE_OPTIONS refuses but V8 accepts at run time as
 * long as it is set before the module is compiled — so it is set here, once, and re-checked.
 */
export function relaxedSimdAvailable(bytes: Uint8Array<ArrayBuffer>): boolean {
  if (WebAssembly.validate(bytes)) return true;
  if (!relaxedFlagSet) {
    relaxedFlagSet = true;
    v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
  }
  return WebAssembly.validate(bytes);
}

/** The compiled modules, per build (compiling once per thread is enough). */
const compiled = new Map<GemmIsa, WebAssembly.Module>();

function compile(isa: GemmIsa): WebAssembly.Module | null {
  const cached = compiled.get(isa);
  if (cached) return cached;
  const path = gemmWasmPath(isa);
  if (!existsSync(path)) return null;
  const bytes = new Uint8Array(readFileSync(path));
  if (isa === 'relaxed-simd' ? !relaxedSimdAvailable(bytes) : !WebAssembly.validate(bytes)) return null;
  const m = new WebAssembly.Module(bytes);
  compiled.set(isa, m);
  return m;
}

export type GemmLoad = { ok: true; gemm: Gemm } | { ok: false; why: string };

/**
 * Loads the kernel for `choice` on `host`'s memory. `xnnpack`, a missing build (asm/build is made
 * by `npm run build`) or a runtime without SIMD give { ok: false, why }; callers keep tfjs's GEMM.
 */
export function loadGemm(host: GemmHost, choice: GemmChoice = parseGemmChoice()): GemmLoad {
  if (choice === 'xnnpack') return { ok: false, why: 'GROW_GEMM=xnnpack' };
  if (typeof SharedArrayBuffer !== 'undefined' && host.memory.buffer instanceof SharedArrayBuffer) {
    // The kernel module declares unshared memory; the threaded tfjs build's memory is shared.
    return { ok: false, why: "XNNPACK's thread pool is on (shared memory); own GEMM needs the single-threaded build" };
  }
  const order: GemmIsa[] = choice === 'simd' ? ['simd'] : choice === 'relaxed' ? ['relaxed-simd'] : ['relaxed-simd', 'simd'];
  const missing: string[] = [];
  for (const isa of order) {
    const mod = compile(isa);
    if (!mod) {
      missing.push(
        existsSync(gemmWasmPath(isa)) ? `${isa} not supported by this runtime` : `${gemmWasmPath(isa)} missing (run npm run build)`,
      );
      continue;
    }
    const inst = new WebAssembly.Instance(mod, {
      env: {
        memory: host.memory,
        abort: () => {
          throw new GemmError('gemm aborted');
        },
      },
    });
    return { ok: true, gemm: new Gemm(isa, inst.exports as unknown as GemmExports, host) };
  }
  return { ok: false, why: missing.join('; ') };
}

/** An instantiated kernel with its scratch area (grown on demand, kept for the next call). */
export class Gemm {
  private scratch = 0;
  private scratchSize = 0;

  constructor(
    readonly isa: GemmIsa,
    private readonly exports: GemmExports,
    private readonly host: GemmHost,
  ) {}

  /** Scratch offset for a product of these dimensions. Call before taking heap views: malloc may grow the heap. */
  reserve(M: number, K: number, N: number, transA: boolean): number {
    const need = this.exports.scratchBytes(M, K, N, transA ? 1 : 0);
    if (need > this.scratchSize) {
      if (this.scratch) this.host.free(this.scratch);
      this.scratch = this.host.malloc(need);
      if (!this.scratch) throw new GemmError(`could not allocate ${need} bytes of GEMM scratch in the wasm heap`);
      this.scratchSize = need;
    }
    return this.scratch;
  }

  run(p: GemmCall): void {
    const scratch = this.reserve(p.M, p.K, p.N, p.transA);
    if (p.M === 0 || p.N === 0 || p.batch === 0) return;
    this.exports.gemm(p.a, p.b, p.c, p.bias, p.batch, p.M, p.K, p.N, p.strideA, p.strideB, p.transA ? 1 : 0, p.transB ? 1 : 0, scratch);
  }
}
