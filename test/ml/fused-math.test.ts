// The fused LayerNorm loops interleave four rows for speed; this pins that they compute exactly the
// bits of the plain one-row-at-a-time formulation (restated here as the reference), including the
// rows left over when the count is not a multiple of four.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { layerNormBackward, layerNormForward } from '../../src/ml/backend/fused-math.ts';
import { Rng } from '../../src/ml/core/rng.ts';

function referenceForward(
  x: Float32Array,
  w: Float32Array,
  b: Float32Array,
  d: number,
  eps: number,
  y: Float32Array,
  xhat: Float32Array,
  rstd: Float32Array,
): void {
  for (let r = 0; r < x.length / d; r++) {
    const o = r * d;
    let s = 0;
    for (let j = 0; j < d; j++) s += x[o + j];
    const mean = s / d;
    let v = 0;
    for (let j = 0; j < d; j++) v += (x[o + j] - mean) * (x[o + j] - mean);
    rstd[r] = 1 / Math.sqrt(v / d + eps);
    for (let j = 0; j < d; j++) {
      const h = (x[o + j] - mean) * (1 / Math.sqrt(v / d + eps));
      xhat[o + j] = h;
      y[o + j] = h * w[j] + b[j];
    }
  }
}

function referenceBackward(
  dy: Float32Array,
  xhat: Float32Array,
  rstd: Float32Array,
  w: Float32Array,
  d: number,
  dx: Float32Array,
  dw: Float32Array,
  db: Float32Array,
): void {
  const accW = new Float64Array(d);
  const accB = new Float64Array(d);
  for (let r = 0; r < dy.length / d; r++) {
    const o = r * d;
    let sg = 0;
    let sgx = 0;
    for (let j = 0; j < d; j++) {
      sg += dy[o + j] * w[j];
      sgx += dy[o + j] * w[j] * xhat[o + j];
      accW[j] += dy[o + j] * xhat[o + j];
      accB[j] += dy[o + j];
    }
    for (let j = 0; j < d; j++) dx[o + j] = rstd[r] * (dy[o + j] * w[j] - sg / d - xhat[o + j] * (sgx / d));
  }
  dw.set(accW);
  db.set(accB);
}

const bytes = (a: Float32Array) => Buffer.from(a.buffer, a.byteOffset, a.byteLength);

for (const [rows, d] of [
  [7, 5],
  [512, 128],
  [3, 64],
]) {
  test(`LayerNorm forward and backward equal the row-at-a-time reference bit for bit (${rows} rows × ${d})`, () => {
    const rng = new Rng(rows * 1000 + d);
    const vec = (n: number, scale = 1, shift = 0) => Float32Array.from({ length: n }, () => rng.normal() * scale + shift);
    const x = vec(rows * d, 3, 0.5);
    const w = vec(d, 0.2, 1);
    const b = vec(d, 0.1);
    const dy = vec(rows * d);
    const out = () => ({ y: new Float32Array(rows * d), xhat: new Float32Array(rows * d), rstd: new Float32Array(rows) });
    const fast = out();
    const ref = out();
    layerNormForward(x, w, b, d, 1e-5, fast.y, fast.xhat, fast.rstd);
    referenceForward(x, w, b, d, 1e-5, ref.y, ref.xhat, ref.rstd);
    for (const k of ['y', 'xhat', 'rstd'] as const) assert.ok(bytes(fast[k]).equals(bytes(ref[k])), `forward ${k} differs`);
    const grads = () => ({ dx: new Float32Array(rows * d), dw: new Float32Array(d), db: new Float32Array(d) });
    const gf = grads();
    const gr = grads();
    layerNormBackward(dy, ref.xhat, ref.rstd, w, d, gf.dx, gf.dw, gf.db);
    referenceBackward(dy, ref.xhat, ref.rstd, w, d, gr.dx, gr.dw, gr.db);
    for (const k of ['dx', 'dw', 'db'] as const) assert.ok(bytes(gf[k]).equals(bytes(gr[k])), `backward ${k} differs`);
  });
}
