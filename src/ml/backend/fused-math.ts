/**
 * The arithmetic of the model's fused kernels, as plain loops over Float32Arrays (one pass each,
 * float64 accumulators for reductions). Shared by the cpu and wasm registrations in
 * ./fused-kernels.ts; each replaces a chain of 5–12 tfjs kernels whose per-call overhead and
 * intermediate tensors cost more than the arithmetic.
 */

/** y = (x − mean)·rstd·w + b per row; also returns x̂ and rstd for the backward pass. */
export function layerNormForward(x: Float32Array, w: Float32Array, b: Float32Array, d: number, eps: number, y: Float32Array, xhat: Float32Array, rstd: Float32Array): void {
  const rows = x.length / d;
  for (let r = 0, o = 0; r < rows; r++, o += d) {
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

/** dx = rstd·(g − mean(g) − x̂·mean(g·x̂)), g = dy·w;  dw = Σ_rows dy·x̂;  db = Σ_rows dy. */
export function layerNormBackward(dy: Float32Array, xhat: Float32Array, rstd: Float32Array, w: Float32Array, d: number, dx: Float32Array, dw: Float32Array, db: Float32Array): void {
  const rows = dy.length / d;
  const accW = new Float64Array(d);
  const accB = new Float64Array(d);
  for (let r = 0, o = 0; r < rows; r++, o += d) {
    let sg = 0;
    let sgx = 0;
    for (let j = 0; j < d; j++) {
      const g = dy[o + j] * w[j];
      sg += g;
      sgx += g * xhat[o + j];
      accW[j] += dy[o + j] * xhat[o + j];
      accB[j] += dy[o + j];
    }
    const mg = sg / d;
    const mgx = sgx / d;
    const rs = rstd[r];
    for (let j = 0; j < d; j++) dx[o + j] = rs * (dy[o + j] * w[j] - mg - xhat[o + j] * mgx);
  }
  dw.set(accW);
  db.set(accB);
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
