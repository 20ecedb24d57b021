/**
 * The model's few non-matmul building blocks, each one op with a hand-written gradient. Autodiff
 * through their textbook forms would record 10–20 small kernels per call (and on WebAssembly the
 * transcendental ones — tanh, exp, log — are scalar loops); here each backward is a handful of
 * large elementwise/reduction kernels, and only the tensors the gradient needs are saved.
 */
import * as tf from '../backend/tf.ts';
import { FUSED, hasFusedKernels } from '../backend/fused-kernels.ts';

/** Runs one of our fused kernels (src/ml/backend/fused-kernels.ts). */
function fused(name: string, inputs: Record<string, tf.Tensor>, attrs: Record<string, number> = {}): tf.Tensor[] {
  const out = tf.engine().runKernel(name, inputs as unknown as tf.NamedTensorMap, attrs as unknown as tf.NamedAttrMap);
  return Array.isArray(out) ? (out as tf.Tensor[]) : [out as tf.Tensor];
}

type GradBody = (...args: never[]) => {
  value: tf.Tensor;
  gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => tf.Tensor | tf.Tensor[];
};
/** tf.customGrad with the argument types we actually use (its own type is not exported). */
function custom(f: GradBody): (...args: tf.Tensor[]) => tf.Tensor {
  return tf.customGrad(f as unknown as Parameters<typeof tf.customGrad>[0]);
}

/** sqrt(2/pi) * 2: gelu_new(x) = 0.5x(1+tanh(c·u)) = x·sigmoid(2c·u) exactly, since 1+tanh(z) = 2·sigmoid(2z). */
const GELU_2C = 2 * Math.sqrt(2 / Math.PI);
const GELU_A = 0.044715;

/**
 * GPT-2's GELU ("gelu_new", tanh form), computed as x·sigmoid(2c(x + a x³)). Sigmoid runs on
 * XNNPACK in the wasm backend while tanh is a scalar loop.
 */
export function gelu(x: tf.Tensor): tf.Tensor {
  return (hasFusedKernels() ? geluFused : geluComposite)(x);
}

const geluFused = custom((x: tf.Tensor, save: tf.GradSaveFunc) => {
  const s = tf.sigmoid(fused(FUSED.geluArgument, { x })[0]);
  save([x, s]);
  return {
    value: tf.mul(x, s),
    gradFunc: (dy: tf.Tensor, [xs, ss]: tf.Tensor[]) => fused(FUSED.geluGrad, { x: xs, s: ss, dy })[0],
  };
});

const geluComposite = custom((x: tf.Tensor, save: tf.GradSaveFunc) => {
  const x2 = tf.square(x);
  const u = tf.mul(x, tf.add(tf.mul(x2, GELU_2C * GELU_A), GELU_2C));
  const s = tf.sigmoid(u);
  save([x, s]);
  return {
    value: tf.mul(x, s),
    gradFunc: (dy: tf.Tensor, [xs, ss]: tf.Tensor[]) => {
      // d/dx x·s(u) = s + x·s(1-s)·u'(x), u' = 2c(1 + 3a x²)
      const du = tf.add(tf.mul(tf.square(xs), 3 * GELU_2C * GELU_A), GELU_2C);
      const ds = tf.mul(tf.mul(ss, tf.sub(1, ss)), tf.mul(xs, du));
      return tf.mul(dy, tf.add(ss, ds));
    },
  };
});

/**
 * LayerNorm over the last axis of a 2-D [rows, d] input: (x - mean)/sqrt(var + eps)·w + b, with
 * the standard closed-form backward
 *   dx = rstd·(g - mean(g) - x̂·mean(g·x̂)),  g = dy·w;  dw = Σ dy·x̂;  db = Σ dy.
 */
export function layerNorm(x: tf.Tensor2D, w: tf.Tensor1D, b: tf.Tensor1D, eps: number): tf.Tensor2D {
  return (hasFusedKernels() ? layerNormFusedOp(eps) : layerNormOp(eps))(x, w, b) as tf.Tensor2D;
}

const lnFusedCache = new Map<number, (...args: tf.Tensor[]) => tf.Tensor>();
function layerNormFusedOp(eps: number): (...args: tf.Tensor[]) => tf.Tensor {
  let op = lnFusedCache.get(eps);
  if (op) return op;
  op = custom((x: tf.Tensor, w: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
    const [y, xhat, rstd] = fused(FUSED.layerNorm, { x, w, b }, { eps });
    save([xhat, rstd, w]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor, [xh, rs, ww]: tf.Tensor[]) => fused(FUSED.layerNormGrad, { dy, xhat: xh, rstd: rs, w: ww }),
    };
  });
  lnFusedCache.set(eps, op);
  return op;
}

const lnCache = new Map<number, (...args: tf.Tensor[]) => tf.Tensor>();
function layerNormOp(eps: number): (...args: tf.Tensor[]) => tf.Tensor {
  let op = lnCache.get(eps);
  if (op) return op;
  op = custom((x: tf.Tensor, w: tf.Tensor, b: tf.Tensor, save: tf.GradSaveFunc) => {
    const xc = tf.sub(x, tf.mean(x, -1, true));
    const rstd = tf.rsqrt(tf.add(tf.mean(tf.square(xc), -1, true), eps));
    const xhat = tf.mul(xc, rstd);
    save([xhat, rstd, w]);
    return {
      value: tf.add(tf.mul(xhat, w), b),
      gradFunc: (dy: tf.Tensor, [xh, rs, ww]: tf.Tensor[]) => {
        const g = tf.mul(dy, ww);
        const inner = tf.sub(tf.sub(g, tf.mean(g, -1, true)), tf.mul(xh, tf.mean(tf.mul(g, xh), -1, true)));
        return [tf.mul(inner, rs), tf.sum(tf.mul(dy, xh), 0), tf.sum(dy, 0)];
      },
    };
  });
  lnCache.set(eps, op);
  return op;
}

/** Additive causal masks, one per sequence length: 0 on and below the diagonal, -1e9 above. */
// One mask per backend: a process that switches backends (tests comparing them) would otherwise
// make tfjs move the cached tensor between them, which needs a synchronous read webgpu lacks in Node.
const maskCache = new Map<string, tf.Tensor2D>();
function causalMask(t: number): tf.Tensor2D {
  const key = `${tf.getBackend()}:${t}`;
  let m = maskCache.get(key);
  if (!m) {
    const v = new Float32Array(t * t);
    for (let i = 0; i < t; i++) for (let j = i + 1; j < t; j++) v[i * t + j] = -1e9;
    m = tf.keep(tf.tensor2d(v, [t, t]));
    maskCache.set(key, m);
  }
  return m;
}

/**
 * softmax(scores·scale + causal mask) over the last axis of [batch, T, T] scores, as one op:
 * backward is dz = p·(dy − Σ dy·p), dscores = scale·dz (the mask is constant).
 */
export function causalSoftmax(scores: tf.Tensor3D, scale: number): tf.Tensor3D {
  const t = scores.shape[2];
  const mask = causalMask(t);
  const op = custom((s: tf.Tensor, save: tf.GradSaveFunc) => {
    const p = tf.softmax(tf.add(tf.mul(s, scale), mask));
    save([p]);
    return {
      value: p,
      gradFunc: (dy: tf.Tensor, [pp]: tf.Tensor[]) => {
        if (hasFusedKernels()) return fused(FUSED.softmaxGrad, { p: pp, dy }, { scale })[0];
        const dz = tf.mul(pp, tf.sub(dy, tf.sum(tf.mul(dy, pp), -1, true)));
        return tf.mul(dz, scale);
      },
    };
  });
  return op(scores) as tf.Tensor3D;
}

/**
 * Mean next-token cross-entropy of [N, V] logits against int32 [N] labels, computed through one
 * softmax; backward is (softmax − onehot)/N · dy.
 */
export function softmaxCrossEntropy(logits: tf.Tensor2D, labels: tf.Tensor1D): tf.Scalar {
  const [n, v] = logits.shape;
  const op = custom((z: tf.Tensor, save: tf.GradSaveFunc) => {
    const p = tf.softmax(z);
    // Tensors the gradient reads must go through save(): tf.grad disposes the forward pass's
    // other intermediates (and may dispose `labels` if the caller made it inside the loss fn).
    save([p, labels]);
    const fast = hasFusedKernels();
    const value = fast ? fused(FUSED.crossEntropy, { z, p, labels }, { v })[0] : compositeLoss(z, p);
    return {
      value,
      gradFunc: (dy: tf.Tensor, [pp, lab]: tf.Tensor[]) =>
        fast
          ? fused(FUSED.crossEntropyGrad, { p: pp, labels: lab, dy }, { v })[0]
          : tf.mul(tf.sub(pp, tf.oneHot(lab as tf.Tensor1D, v, 1, 0, 'float32')), tf.div(dy, n)),
    };
  });
  // loss_i = logsumexp(z_i) − z_i[y_i], with logsumexp taken from the softmax itself: at the
  // row's argmax p is ≥ 1/V (never underflows), so lse = max(z) − log(max(p)) exactly. This
  // needs no exp/log over the [N, V] matrix (scalar loops on wasm), only over N values.
  function compositeLoss(z: tf.Tensor, p: tf.Tensor): tf.Tensor {
    const flatIdx = tf.add(tf.mul(tf.range(0, n, 1, 'int32'), tf.scalar(v, 'int32')), labels);
    const zTrue = tf.gather(tf.reshape(z, [-1]), flatIdx);
    return tf.mean(tf.sub(tf.sub(tf.max(z, 1), zTrue), tf.log(tf.max(p, 1))));
  }
  return op(logits) as tf.Scalar;
}
