/**
 * The arithmetic of the model's fused kernels, as plain loops over Float32Arrays (one pass each,
 * float64 accumulators for reductions). Shared by the cpu and wasm registrations in
 * ./fused-kernels.ts; each replaces a chain of 5–12 tfjs kernels whose per-call overhead and
 * intermediate tensors cost more than the arithmetic.
 */

/*
 * LayerNorm's per-row sums are chains of dependent float64 additions, so a row at a time runs at
 * the adder's latency, not its throughput. Both passes below work on four rows at once: each row's
 * sums still run in the same order (bit-identical results), but four independent chains overlap
 * (1.8× faster). Leftover rows go through the same code with a group of one.
 */

/** y = (x − mean)·rstd·w + b per row; also returns x̂ and rstd for the backward pass. */
export function layerNormForward(
  x: Float32Array,
  w: Float32Array,
  b: Float32Array,
  d: number,
  eps: number,
  y: Float32Array,
  xhat: Float32Array,
  rstd: Float32Array,
): void {
  const rows = x.length / d;
  let r = 0;
  for (; r + 4 <= rows; r += 4) {
    const o0 = r * d;
    const o1 = o0 + d;
    const o2 = o1 + d;
    const o3 = o2 + d;
    let s0 = 0,
      s1 = 0,
      s2 = 0,
      s3 = 0;
    for (let j = 0; j < d; j++) {
      s0 += x[o0 + j];
      s1 += x[o1 + j];
      s2 += x[o2 + j];
      s3 += x[o3 + j];
    }
    const m0 = s0 / d,
      m1 = s1 / d,
      m2 = s2 / d,
      m3 = s3 / d;
    let v0 = 0,
      v1 = 0,
      v2 = 0,
      v3 = 0;
    for (let j = 0; j < d; j++) {
      const c0 = x[o0 + j] - m0;
      const c1 = x[o1 + j] - m1;
      const c2 = x[o2 + j] - m2;
      const c3 = x[o3 + j] - m3;
      v0 += c0 * c0;
      v1 += c1 * c1;
      v2 += c2 * c2;
      v3 += c3 * c3;
    }
    const r0 = 1 / Math.sqrt(v0 / d + eps);
    const r1 = 1 / Math.sqrt(v1 / d + eps);
    const r2 = 1 / Math.sqrt(v2 / d + eps);
    const r3 = 1 / Math.sqrt(v3 / d + eps);
    rstd[r] = r0;
    rstd[r + 1] = r1;
    rstd[r + 2] = r2;
    rstd[r + 3] = r3;
    for (let j = 0; j < d; j++) {
      const wj = w[j];
      const bj = b[j];
      const h0 = (x[o0 + j] - m0) * r0;
      const h1 = (x[o1 + j] - m1) * r1;
      const h2 = (x[o2 + j] - m2) * r2;
      const h3 = (x[o3 + j] - m3) * r3;
      xhat[o0 + j] = h0;
      xhat[o1 + j] = h1;
      xhat[o2 + j] = h2;
      xhat[o3 + j] = h3;
      y[o0 + j] = h0 * wj + bj;
      y[o1 + j] = h1 * wj + bj;
      y[o2 + j] = h2 * wj + bj;
      y[o3 + j] = h3 * wj + bj;
    }
  }
  for (; r < rows; r++) {
    const o = r * d;
    let s = 0;
    for (let j = 0; j < d; j++) s += x[o + j];
    const mean = s / d;
    let v = 0;
    for (let j = 0; j < d; j++) {
      const c = x[o + j] - mean;
      v += c * c;
    }
    const rs = 1 / Math.sqrt(v / d + eps);
    rstd[r] = rs;
    for (let j = 0; j < d; j++) {
      const h = (x[o + j] - mean) * rs;
      xhat[o + j] = h;
      y[o + j] = h * w[j] + b[j];
    }
  }
}

/** dx = rstd·(g − mean(g) − x̂·mean(g·x̂)), g = dy·w;  dw = Σ_rows dy·x̂;  db = Σ_rows dy (rows in order). */
export function layerNormBackward(
  dy: Float32Array,
  xhat: Float32Array,
  rstd: Float32Array,
  w: Float32Array,
  d: number,
  dx: Float32Array,
  dw: Float32Array,
  db: Float32Array,
): void {
  const rows = dy.length / d;
  const accW = new Float64Array(d);
  const accB = new Float64Array(d);
  let r = 0;
  for (; r + 4 <= rows; r += 4) {
    const o0 = r * d;
    const o1 = o0 + d;
    const o2 = o1 + d;
    const o3 = o2 + d;
    let sg0 = 0,
      sg1 = 0,
      sg2 = 0,
      sg3 = 0;
    let sx0 = 0,
      sx1 = 0,
      sx2 = 0,
      sx3 = 0;
    for (let j = 0; j < d; j++) {
      const wj = w[j];
      const g0 = dy[o0 + j] * wj;
      const g1 = dy[o1 + j] * wj;
      const g2 = dy[o2 + j] * wj;
      const g3 = dy[o3 + j] * wj;
      sg0 += g0;
      sg1 += g1;
      sg2 += g2;
      sg3 += g3;
      sx0 += g0 * xhat[o0 + j];
      sx1 += g1 * xhat[o1 + j];
      sx2 += g2 * xhat[o2 + j];
      sx3 += g3 * xhat[o3 + j];
      // Column sums keep row order: ((acc + row0) + row1) + …
      accW[j] = accW[j] + dy[o0 + j] * xhat[o0 + j] + dy[o1 + j] * xhat[o1 + j] + dy[o2 + j] * xhat[o2 + j] + dy[o3 + j] * xhat[o3 + j];
      accB[j] = accB[j] + dy[o0 + j] + dy[o1 + j] + dy[o2 + j] + dy[o3 + j];
    }
    layerNormRowDx(dy, xhat, w, d, o0, sg0 / d, sx0 / d, rstd[r], dx);
    layerNormRowDx(dy, xhat, w, d, o1, sg1 / d, sx1 / d, rstd[r + 1], dx);
    layerNormRowDx(dy, xhat, w, d, o2, sg2 / d, sx2 / d, rstd[r + 2], dx);
    layerNormRowDx(dy, xhat, w, d, o3, sg3 / d, sx3 / d, rstd[r + 3], dx);
  }
  for (; r < rows; r++) {
    const o = r * d;
    let sg = 0;
    let sgx = 0;
    for (let j = 0; j < d; j++) {
      const g = dy[o + j] * w[j];
      sg += g;
      sgx += g * xhat[o + j];
      accW[j] += dy[o + j] * xhat[o + j];
      accB[j] += dy[o + j];
    }
    layerNormRowDx(dy, xhat, w, d, o, sg / d, sgx / d, rstd[r], dx);
  }
  dw.set(accW);
  db.set(accB);
}

function layerNormRowDx(
  dy: Float32Array,
  xhat: Float32Array,
  w: Float32Array,
  d: number,
  o: number,
  mg: number,
  mgx: number,
  rs: number,
  dx: Float32Array,
): void {
  for (let j = 0; j < d; j++) dx[o + j] = rs * (dy[o + j] * w[j] - mg - xhat[o + j] * mgx);
}

const GELU_2C = 2 * Math.sqrt(2 / Math.PI);
const GELU_A = 0.044715;

/** u = 2c(x + a·x³), the sigmoid argument of gelu_new(x) = x·sigmoid(u). */
export function geluArgument(x: Float32Array, u: Float32Array): void {
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    u[i] = GELU_2C * v * (1 + GELU_A * v * v);
  }
}

/** d gelu/dx · dy = dy·(s + x·s(1−s)·2c(1 + 3a x²)) with s = sigmoid(u) saved from the forward. */
export function geluBackward(x: Float32Array, s: Float32Array, dy: Float32Array, dx: Float32Array): void {
  for (let i = 0; i < x.length; i++) {
    const v = x[i];
    const si = s[i];
    dx[i] = dy[i] * (si + v * si * (1 - si) * GELU_2C * (1 + 3 * GELU_A * v * v));
  }
}

/**
 * Per-row cross-entropy from logits z and their softmax p: lse − z[y] with lse = max(z) −
 * log(max(p)) (at the argmax p ≥ 1/V, so no underflow). Returns the mean over rows.
 */
export function crossEntropyFromSoftmax(z: Float32Array, p: Float32Array, labels: Int32Array, v: number): number {
  const rows = labels.length;
  let total = 0;
  for (let r = 0, o = 0; r < rows; r++, o += v) {
    let zmax = -Infinity;
    let pmax = 0;
    for (let j = 0; j < v; j++) {
      if (z[o + j] > zmax) zmax = z[o + j];
      if (p[o + j] > pmax) pmax = p[o + j];
    }
    total += zmax - Math.log(pmax) - z[o + labels[r]];
  }
  return total / rows;
}

/** dz = (p − onehot(y))·scale. */
export function crossEntropyBackward(p: Float32Array, labels: Int32Array, v: number, scale: number, dz: Float32Array): void {
  for (let i = 0; i < p.length; i++) dz[i] = p[i] * scale;
  for (let r = 0; r < labels.length; r++) {
    const y = labels[r];
    if (y >= 0 && y < v) dz[r * v + y] -= scale;
  }
}

/** Softmax backward over rows of length t, times `scale`: ds = scale·p·(dy − Σ dy·p). */
export function softmaxBackward(p: Float32Array, dy: Float32Array, t: number, scale: number, ds: Float32Array): void {
  for (let o = 0; o < p.length; o += t) {
    let dot = 0;
    for (let j = 0; j < t; j++) dot += dy[o + j] * p[o + j];
    for (let j = 0; j < t; j++) ds[o + j] = scale * p[o + j] * (dy[o + j] - dot);
  }
}
