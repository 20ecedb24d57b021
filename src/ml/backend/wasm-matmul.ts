/**
 * Matrix products for the wasm backend. With growline's own GEMM loaded (./gemm.ts, the default),
 * every float32 product — transposed operands, batched, broadcast, fused bias — is one call into it:
 * transposes and batches are handled in its packing, so nothing is copied first. Without it (or
 * for what it does not cover: a fused activation other than linear, a bias that is not one row),
 * the products below always reach XNNPACK's GEMM. The stock C++
 * BatchMatMul/_FusedMatMul use XNNPACK only for an untransposed, batch-1 product and otherwise fall
 * to a scalar triple loop (0.4–2 GFLOP/s instead of ~25). So: materialise transposes with the fast
 * JS transpose, fold a broadcast right-hand side's batch into the rows of the left one (one GEMM),
 * and run a true batched product as one GEMM per batch entry on zero-copy heap views.
 */
import * as tf from './tf.ts';
import { cppId, dropView, heapOffset, heapView, shapeBytes, sizeOf, type WasmBackend } from './wasm-internals.ts';
import { transposeKernel } from './wasm-layout.ts';
import type { Gemm } from './gemm.ts';

type XnnGemm = (
  aId: number,
  aShape: Uint8Array,
  aRank: number,
  bId: number,
  bShape: Uint8Array,
  bRank: number,
  ta: number,
  tb: number,
  outId: number,
) => void;

interface Prepared {
  A: tf.TensorInfo; // [batchA, M, K], row-major
  B: tf.TensorInfo; // [batchB, K, N], row-major
  batchA: number;
  batchB: number;
  M: number;
  K: number;
  N: number;
  outer: number[];
  temps: tf.TensorInfo[];
}

export class WasmMatMul {
  private readonly gemm: XnnGemm;

  constructor(
    private readonly backend: WasmBackend,
    private readonly stockBatchMatMul: tf.KernelFunc,
    private readonly stockFusedMatMul: tf.KernelFunc,
    /** growline's own GEMM, or null to use XNNPACK's. */
    private readonly own: Gemm | null = null,
  ) {
    this.gemm = backend.wasm.cwrap('BatchMatMul', null, [
      'number',
      'array',
      'number',
      'number',
      'array',
      'number',
      'number',
      'number',
      'number',
    ]) as XnnGemm;
  }

  /**
   * op(a)·op(b) (+ bias, N floats) with the own GEMM; null where it does not apply (then the
   * caller takes the XNNPACK path). Batch axes broadcast as in tf.matMul.
   */
  private ownProduct(a: tf.TensorInfo, b: tf.TensorInfo, ta: boolean, tb: boolean, bias: tf.TensorInfo | null): tf.TensorInfo | null {
    const own = this.own;
    if (!own) return null;
    const ra = a.shape.length;
    const rb = b.shape.length;
    const M = ta ? a.shape[ra - 1] : a.shape[ra - 2];
    const K = ta ? a.shape[ra - 2] : a.shape[ra - 1];
    const Kb = tb ? b.shape[rb - 1] : b.shape[rb - 2];
    const N = tb ? b.shape[rb - 2] : b.shape[rb - 1];
    if (K !== Kb) throw new Error(`matMul: inner dimensions ${K} and ${Kb} of shapes [${a.shape}] and [${b.shape}] differ`);
    const outerA = a.shape.slice(0, -2);
    const outerB = b.shape.slice(0, -2);
    const outer = tf.broadcast_util.assertAndGetBroadcastShape(outerA, outerB);
    const batch = sizeOf(outer);
    const batchA = sizeOf(outerA);
    const batchB = sizeOf(outerB);
    const be = this.backend;
    own.reserve(batch * M, K, N, ta); // may grow the heap: before any offset is used
    const out = be.makeOutput([...outer, M, N], 'float32');
    const pa = heapOffset(be, a);
    const pb = heapOffset(be, b);
    const pc = heapOffset(be, out);
    const pbias = bias ? heapOffset(be, bias) : 0;
    const call = { bias: pbias, K, N, transA: ta, transB: tb };
    if (batchA === batch && (batchB === batch || batchB === 1)) {
      if (batchB === 1 && !ta) {
        // A broadcast right operand: the batch folds into the rows (same bits, one call).
        own.run({ ...call, a: pa, b: pb, c: pc, batch: 1, M: batch * M, strideA: 0, strideB: 0 });
      } else {
        own.run({ ...call, a: pa, b: pb, c: pc, batch, M, strideA: 4 * M * K, strideB: batchB === 1 ? 0 : 4 * K * N });
      }
    } else if (batchA === 1 && batchB === batch) {
      own.run({ ...call, a: pa, b: pb, c: pc, batch, M, strideA: 0, strideB: 4 * K * N });
    } else {
      // Partial broadcast (e.g. [2,1]·[1,3]): one call per output entry.
      // Flat index of operand `shape`'s batch entry for output batch entry `flat` (shapes right-aligned).
      const index = (shape: number[], flat: number) => {
        let idx = 0;
        let mul = 1;
        let rest = flat;
        for (let o = outer.length - 1, d = shape.length - 1; o >= 0; o--, d--) {
          const coord = rest % outer[o];
          rest = Math.floor(rest / outer[o]);
          if (d < 0) continue;
          idx += (shape[d] === 1 ? 0 : coord) * mul;
          mul *= shape[d];
        }
        return idx;
      };
      for (let i = 0; i < batch; i++) {
        own.run({
          ...call,
          a: pa + 4 * M * K * index(outerA, i),
          b: pb + 4 * K * N * index(outerB, i),
          c: pc + 4 * M * N * i,
          batch: 1,
          M,
          strideA: 0,
          strideB: 0,
        });
      }
    }
    return out;
  }

  /** Rank-3 row-major view of x's last two axes (transposed in memory if needed). */
  private canonical(x: tf.TensorInfo, batch: number, transposed: boolean, temps: tf.TensorInfo[]): tf.TensorInfo {
    const r = x.shape.length;
    const x3: tf.TensorInfo = { dataId: x.dataId, shape: [batch, x.shape[r - 2], x.shape[r - 1]], dtype: x.dtype };
    if (!transposed) return x3;
    const t = transposeKernel(this.backend, x3, [0, 2, 1]);
    temps.push(t);
    return t;
  }

  private prepare(a: tf.TensorInfo, b: tf.TensorInfo, transposeA: boolean, transposeB: boolean): Prepared | null {
    const batchA = sizeOf(a.shape.slice(0, -2));
    const batchB = sizeOf(b.shape.slice(0, -2));
    if (batchA !== batchB && batchA !== 1 && batchB !== 1) return null; // partial broadcast: rare, leave to stock
    const outer = tf.broadcast_util.assertAndGetBroadcastShape(a.shape.slice(0, -2), b.shape.slice(0, -2));
    const temps: tf.TensorInfo[] = [];
    const A = this.canonical(a, batchA, transposeA, temps);
    const B = this.canonical(b, batchB, transposeB, temps);
    if (A.shape[2] !== B.shape[1]) {
      for (const t of temps) this.backend.disposeData(t.dataId);
      throw new Error(`matMul: inner dimensions ${A.shape[2]} and ${B.shape[1]} of shapes [${a.shape}] and [${b.shape}] differ`);
    }
    return { A, B, batchA, batchB, M: A.shape[1], K: A.shape[2], N: B.shape[2], outer, temps };
  }

  private finish(p: Prepared, out: tf.TensorInfo): tf.TensorInfo {
    for (const t of p.temps) this.backend.disposeData(t.dataId);
    return { ...out, shape: [...p.outer, p.M, p.N] };
  }

  readonly batchMatMul: tf.KernelFunc = (args) => {
    const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    const { transposeA, transposeB } = args.attrs as unknown as tf.BatchMatMulAttrs;
    if (a.dtype !== 'float32' || b.dtype !== 'float32') return this.stockBatchMatMul(args);
    const mine = this.ownProduct(a, b, transposeA, transposeB, null);
    if (mine) return mine;
    if ((transposeA || transposeB) && a.shape.length === 2 && b.shape.length === 2 && this.swapIsCheaper(a, b, transposeA, transposeB)) {
      return this.viaTransposedProduct(a, b, transposeA, transposeB);
    }
    return this.product(args);
  };

  /** The product as given (transposes materialised), never swapped. */
  private product(args: Parameters<tf.KernelFunc>[0]): tf.TensorInfo {
    const { a, b } = args.inputs as { a: tf.TensorInfo; b: tf.TensorInfo };
    const { transposeA, transposeB } = args.attrs as unknown as tf.BatchMatMulAttrs;
    const p = this.prepare(a, b, transposeA, transposeB);
    if (!p) return this.stockBatchMatMul(args) as tf.TensorInfo;
    const { A, B, batchA, batchB, M, K, N } = p;
    const be = this.backend;
    const batch = Math.max(batchA, batchB);
    const out = be.makeOutput([batch, M, N], 'float32');
    if (batchB === 1) {
      // [batchA·M, K] @ [K, N]: a broadcast weight folds into one GEMM.
      this.gemm(cppId(be, A), shapeBytes([1, batchA * M, K]), 3, cppId(be, B), shapeBytes([1, K, N]), 3, 0, 0, cppId(be, out));
    } else {
      const sa = shapeBytes([1, M, K]);
      const sb = shapeBytes([1, K, N]);
      const pa = heapOffset(be, A);
      const pb = heapOffset(be, B);
      const po = heapOffset(be, out);
      for (let i = 0; i < batch; i++) {
        const ia = batchA === 1 ? cppId(be, A) : heapView(be, pa + 4 * i * M * K, M * K);
        const ib = heapView(be, pb + 4 * i * K * N, K * N);
        const io = heapView(be, po + 4 * i * M * N, M * N);
        this.gemm(ia, sa, 3, ib, sb, 3, 0, 0, io);
        if (batchA !== 1) dropView(be, ia);
        dropView(be, ib);
        dropView(be, io);
      }
    }
    return this.finish(p, out);
  }

  /**
   * XNNPACK only multiplies untransposed operands, so transposed ones are copied first. For a 2-D
   * product there are two ways: transpose the operands that need it, or compute Cᵀ = op(B)ᵀ·op(A)ᵀ
   * (whose operands need transposing exactly when the original ones did not) and transpose the
   * [N, M] result. E.g. the tied-embedding gradient dZᵀ·h with dZ [1024, 2048], h [1024, 64]
   * moves 2M elements the first way and 0.2M the second. Picks the one that moves fewer elements.
   */
  private swapIsCheaper(a: tf.TensorInfo, b: tf.TensorInfo, ta: boolean, tb: boolean): boolean {
    const M = ta ? a.shape[1] : a.shape[0];
    const K = ta ? a.shape[0] : a.shape[1];
    const N = tb ? b.shape[0] : b.shape[1];
    // GROW_MATMUL_SWAP=never|always forces one strategy (for measuring them against each other).
    const force = process.env.GROW_MATMUL_SWAP;
    if (force === 'never' || force === 'always') return force === 'always';
    const direct = (ta ? M * K : 0) + (tb ? K * N : 0);
    const swapped = (ta ? 0 : M * K) + (tb ? 0 : K * N) + M * N;
    return swapped < direct;
  }

  private viaTransposedProduct(a: tf.TensorInfo, b: tf.TensorInfo, ta: boolean, tb: boolean): tf.TensorInfo {
    const ct = this.product({
      inputs: { a: b, b: a },
      backend: this.backend as unknown as tf.KernelBackend,
      attrs: { transposeA: !tb, transposeB: !ta } as unknown as tf.NamedAttrMap,
    });
    const c = transposeKernel(this.backend, ct, [1, 0]);
    this.backend.disposeData(ct.dataId);
    return c;
  }

  readonly fusedMatMul: tf.KernelFunc = (args) => {
    const { a, b, bias, preluActivationWeights } = args.inputs as Record<string, tf.TensorInfo>;
    const attrs = args.attrs as unknown as tf._FusedMatMulAttrs;
    if (a.dtype !== 'float32' || b.dtype !== 'float32') return this.stockFusedMatMul(args);
    const act = attrs.activation ?? 'linear';
    const N = attrs.transposeB ? b.shape[b.shape.length - 2] : b.shape[b.shape.length - 1];
    if (act === 'linear' && !preluActivationWeights && (!bias || (bias.dtype === 'float32' && sizeOf(bias.shape) === N))) {
      const mine = this.ownProduct(a, b, attrs.transposeA, attrs.transposeB, bias ?? null);
      if (mine) return mine;
    }
    const p = this.prepare(a, b, attrs.transposeA, attrs.transposeB);
    if (p?.batchB !== 1) {
      if (p) for (const t of p.temps) this.backend.disposeData(t.dataId);
      return this.stockFusedMatMul(args);
    }
    const A: tf.TensorInfo = { dataId: p.A.dataId, shape: [1, p.batchA * p.M, p.K], dtype: 'float32' };
    const out = this.stockFusedMatMul({
      inputs: { a: A, b: p.B, bias, preluActivationWeights } as tf.NamedTensorInfoMap,
      backend: args.backend,
      attrs: { ...attrs, transposeA: false, transposeB: false } as unknown as tf.NamedAttrMap,
    }) as tf.TensorInfo;
    return this.finish(p, out);
  };
}
