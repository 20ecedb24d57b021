// AssemblyScript source of growline's f32 GEMM for the tfjs wasm backend (built by
// scripts/build-gemm.mjs into asm/build/: gemm-simd.wasm and gemm-relaxed.wasm).
//
// The module imports tfjs's own linear memory and has no data segments and no allocator (runtime
// "stub", nothing allocated), so it reads and writes tensors where tfjs keeps them; the caller
// passes byte offsets of operands, output and a scratch area it allocated with tfjs's malloc.
//
// Design (measured in a probe on Zen 4 before this was written): B is packed into panels of 8
// columns (K×8, zero-padded at the right edge); a 4×8 tile of C lives in eight f32x4 registers;
// per step of K, one splat of A per row and two vector loads of B. No K unrolling and no larger
// tile: V8 (Node 20's especially) then runs out of xmm registers and spills in the inner loop.
//
// Numerics: every C element is bias (or 0) + Σ_k a[i,k]·b[k,j] accumulated in ascending k in one
// f32 lane, whatever the tile, the row or column edge, the blocking or the batch. So a row of C
// does not depend on which other rows are in the product (micro-batches give the same bits as the
// whole batch for the same rows), and the result depends only on the operands and on whether the
// multiply-add is fused (relaxed build on an FMA host) or rounded twice (simd build).

// @ts-ignore: decorator
@inline const MR = 4;
// @ts-ignore: decorator
@inline const NR = 8;
// Packed-B bytes per block of panels: the panels of one block stay in L2 while every row of A
// passes over them.
// @ts-ignore: decorator
@inline const BLOCK_BYTES = 128 * 1024;

// @ts-ignore: decorator
@inline function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(c, f32x4.mul(a, b));
}

/** Whether this build uses relaxed SIMD's multiply-add. */
export function relaxed(): i32 {
  return ASC_FEATURE_RELAXED_SIMD ? 1 : 0;
}

// 4×8 tile, A rows read in place: row r of A at a + r·lda, consecutive k 4 bytes apart.
// @ts-ignore: decorator
@inline function tileRows(a: usize, lda: usize, b: usize, bias: usize, c: usize, ldc: usize, K: i32): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
  if (bias) {
    c00 = v128.load(bias);
    c01 = v128.load(bias, 16);
  }
  let c10 = c00, c11 = c01, c20 = c00, c21 = c01, c30 = c00, c31 = c01;
  let a0 = a, a1 = a + lda, a2 = a + 2 * lda, a3 = a + 3 * lda;
  let bp = b;
  for (let k = 0; k < K; k++) {
    const b0 = v128.load(bp);
    const b1 = v128.load(bp, 16);
    const x0 = v128.load32_splat(a0);
    c00 = madd(x0, b0, c00);
    c01 = madd(x0, b1, c01);
    const x1 = v128.load32_splat(a1);
    c10 = madd(x1, b0, c10);
    c11 = madd(x1, b1, c11);
    const x2 = v128.load32_splat(a2);
    c20 = madd(x2, b0, c20);
    c21 = madd(x2, b1, c21);
    const x3 = v128.load32_splat(a3);
    c30 = madd(x3, b0, c30);
    c31 = madd(x3, b1, c31);
    a0 += 4;
    a1 += 4;
    a2 += 4;
    a3 += 4;
    bp += NR * 4;
  }
  v128.store(c, c00);
  v128.store(c, c01, 16);
  v128.store(c + ldc, c10);
  v128.store(c + ldc, c11, 16);
  v128.store(c + 2 * ldc, c20);
  v128.store(c + 2 * ldc, c21, 16);
  v128.store(c + 3 * ldc, c30);
  v128.store(c + 3 * ldc, c31, 16);
}

// 4×8 tile, A packed k-major: a[k·4 + r].
// @ts-ignore: decorator
@inline function tilePacked(a: usize, b: usize, bias: usize, c: usize, ldc: usize, K: i32): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
  if (bias) {
    c00 = v128.load(bias);
    c01 = v128.load(bias, 16);
  }
  let c10 = c00, c11 = c01, c20 = c00, c21 = c01, c30 = c00, c31 = c01;
  let ap = a;
  let bp = b;
  for (let k = 0; k < K; k++) {
    const b0 = v128.load(bp);
    const b1 = v128.load(bp, 16);
    const x0 = v128.load32_splat(ap);
    c00 = madd(x0, b0, c00);
    c01 = madd(x0, b1, c01);
    const x1 = v128.load32_splat(ap, 4);
    c10 = madd(x1, b0, c10);
    c11 = madd(x1, b1, c11);
    const x2 = v128.load32_splat(ap, 8);
    c20 = madd(x2, b0, c20);
    c21 = madd(x2, b1, c21);
    const x3 = v128.load32_splat(ap, 12);
    c30 = madd(x3, b0, c30);
    c31 = madd(x3, b1, c31);
    ap += MR * 4;
    bp += NR * 4;
  }
  v128.store(c, c00);
  v128.store(c, c01, 16);
  v128.store(c + ldc, c10);
  v128.store(c + ldc, c11, 16);
  v128.store(c + 2 * ldc, c20);
  v128.store(c + 2 * ldc, c21, 16);
  v128.store(c + 3 * ldc, c30);
  v128.store(c + 3 * ldc, c31, 16);
}

// Packs op(B) ([K, N]; stored [K, N], or [N, K] when transposed) into ceil(N/8) panels of K×8.
function packB(B: usize, K: i32, N: i32, trans: bool, dst: usize): void {
  const np = (N + NR - 1) / NR;
  for (let j = 0; j < np; j++) {
    const j0 = j * NR;
    let d = dst + <usize>j * <usize>K * (NR * 4);
    const w = min(NR, N - j0);
    if (!trans && w == NR) {
      let s = B + <usize>j0 * 4;
      for (let k = 0; k < K; k++) {
        v128.store(d, v128.load(s));
        v128.store(d, v128.load(s, 16), 16);
        d += NR * 4;
        s += <usize>N * 4;
      }
    } else if (!trans) {
      for (let k = 0; k < K; k++) {
        const s = B + (<usize>k * <usize>N + <usize>j0) * 4;
        for (let jj = 0; jj < NR; jj++) store<f32>(d + <usize>jj * 4, jj < w ? load<f32>(s + <usize>jj * 4) : 0);
        d += NR * 4;
      }
    } else {
      // op(B)[k, j] = B[j, k]: column jj of the panel is row j0 + jj of B, read sequentially.
      for (let jj = 0; jj < NR; jj++) {
        let o = d + <usize>jj * 4;
        if (jj < w) {
          let s = B + <usize>(j0 + jj) * <usize>K * 4;
          for (let k = 0; k < K; k++) {
            store<f32>(o, load<f32>(s));
            s += 4;
            o += NR * 4;
          }
        } else {
          for (let k = 0; k < K; k++) {
            store<f32>(o, 0);
            o += NR * 4;
          }
        }
      }
    }
  }
}

// Packs rows [i0, i0 + mr) of op(A) ([M, K]; stored [M, K], or [K, M] when transposed) k-major
// into dst[k·4 + r], rows mr..3 zero.
function packA(A: usize, M: i32, K: i32, trans: bool, i0: i32, mr: i32, dst: usize): void {
  if (trans && mr == MR) {
    let s = A + <usize>i0 * 4;
    let d = dst;
    for (let k = 0; k < K; k++) {
      v128.store(d, v128.load(s));
      s += <usize>M * 4;
      d += MR * 4;
    }
    return;
  }
  for (let r = 0; r < MR; r++) {
    let d = dst + <usize>r * 4;
    if (r >= mr) {
      for (let k = 0; k < K; k++) {
        store<f32>(d, 0);
        d += MR * 4;
      }
    } else if (trans) {
      let s = A + <usize>(i0 + r) * 4;
      for (let k = 0; k < K; k++) {
        store<f32>(d, load<f32>(s));
        s += <usize>M * 4;
        d += MR * 4;
      }
    } else {
      let s = A + <usize>(i0 + r) * <usize>K * 4;
      for (let k = 0; k < K; k++) {
        store<f32>(d, load<f32>(s));
        s += 4;
        d += MR * 4;
      }
    }
  }
}

/**
 * Bytes of scratch `gemm` needs for these dimensions (plus 16 for alignment): the packed B panels,
 * the packed A (every row block when A is transposed, packed once per batch entry rather than once
 * per block of B panels; else only the last, partial row block), a tile and the padded bias.
 */
export function scratchBytes(M: i32, K: i32, N: i32, transA: i32): usize {
  const np = <usize>((N + NR - 1) / NR);
  const blocksA: usize = transA ? <usize>((M + MR - 1) / MR) : 1;
  return np * <usize>K * (NR * 4) + blocksA * <usize>K * (MR * 4) + MR * NR * 4 + np * NR * 4 + 16;
}

/**
 * C[b] = op(A[b])·op(B[b]) (+ bias) for b < batch, all row-major f32; op(A) is [M, K], op(B) is
 * [K, N], C[b] is [M, N] at C + b·M·N·4. strideA/strideB: bytes between batch entries of A and B
 * (0 broadcasts one matrix to every entry). bias: 0, or N floats added to every row (it starts
 * the accumulators). scratch: scratchBytes(M, K, N, transA) bytes.
 */
export function gemm(
  A: usize, B: usize, C: usize, bias: usize,
  batch: i32, M: i32, K: i32, N: i32,
  strideA: usize, strideB: usize, transA: i32, transB: i32, scratch: usize,
): void {
  const np = (N + NR - 1) / NR;
  const base = (scratch + 15) & ~(<usize>15);
  const packedB = base;
  const tile = packedB + <usize>np * <usize>K * (NR * 4);
  const biasPad = tile + MR * NR * 4;
  const packedA = biasPad + <usize>np * (NR * 4);
  const blockA = <usize>K * (MR * 4);
  if (bias) {
    for (let j = 0; j < np * NR; j++) store<f32>(biasPad + <usize>j * 4, j < N ? load<f32>(bias + <usize>j * 4) : 0);
  }
  const panelBytes = <usize>K * (NR * 4);
  const perBlock = max(1, <i32>(<usize>BLOCK_BYTES / max<usize>(panelBytes, 1)));
  const lda = <usize>K * 4;
  const ldc = <usize>N * 4;
  const tail = M % MR;
  for (let b = 0; b < batch; b++) {
    const a = A + <usize>b * strideA;
    const c = C + <usize>b * <usize>M * ldc;
    if (b == 0 || strideB != 0) packB(B + <usize>b * strideB, K, N, transB != 0, packedB);
    // Packed row blocks: all of them for a transposed A, else only the partial last one (slot 0).
    if (transA != 0) {
      for (let i = 0; i < M; i += MR) packA(a, M, K, true, i, min(MR, M - i), packedA + <usize>(i / MR) * blockA);
    } else if (tail != 0) {
      packA(a, M, K, false, M - tail, tail, packedA);
    }
    for (let j0 = 0; j0 < np; j0 += perBlock) {
      const j1 = min(np, j0 + perBlock);
      for (let i = 0; i < M; i += MR) {
        const mr = min(MR, M - i);
        const packed = transA != 0 || mr < MR;
        const ap = packedA + (transA != 0 ? <usize>(i / MR) * blockA : 0);
        for (let j = j0; j < j1; j++) {
          const col = j * NR;
          const full = mr == MR && col + NR <= N;
          const dst = full ? c + <usize>i * ldc + <usize>col * 4 : tile;
          const ld: usize = full ? ldc : NR * 4;
          const bp = packedB + <usize>j * panelBytes;
          const bb: usize = bias ? biasPad + <usize>col * 4 : 0;
          if (packed) tilePacked(ap, bp, bb, dst, ld, K);
          else tileRows(a + <usize>i * lda, lda, bp, bb, dst, ld, K);
          if (!full) {
            const w = min(NR, N - col);
            for (let r = 0; r < mr; r++) {
              for (let jj = 0; jj < w; jj++) {
                store<f32>(c + <usize>(i + r) * ldc + <usize>(col + jj) * 4, load<f32>(tile + <usize>(r * NR + jj) * 4));
              }
            }
          }
        }
      }
    }
  }
}
