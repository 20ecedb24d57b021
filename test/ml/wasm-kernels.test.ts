/**
 * Every kernel src/ml/backend replaces on the wasm backend, and its gradient, against the cpu
 * backend on the same inputs. One process holds both backends (tfjs has one engine; we switch the
 * active backend between the reference run and the checked run).
 * Tolerance: max |wasm − cpu| ≤ 1e-5 · max(1, largest |cpu value| of the case) (float32 with a
 * different summation order in XNNPACK's GEMM); pure data movement (transpose, slice, split,
 * identity, one-hot) must be bit-exact.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as tf from '../../src/ml/backend/tf.ts';
import { initBackend } from '../../src/ml/backend/index.ts';
import { FIXED_KERNELS } from '../../src/ml/backend/wasm-fixes.ts';
import { Rng } from '../../src/ml/core/rng.ts';

function rnd(shape: number[], seed: number): tf.Tensor {
  const rng = new Rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(
    Float32Array.from({ length: n }, () => rng.uniform() - 0.5),
    shape,
  );
}

function perms(n: number): number[][] {
  if (n === 1) return [[0]];
  const out: number[][] = [];
  for (const p of perms(n - 1)) for (let i = 0; i <= p.length; i++) out.push([...p.slice(0, i), n - 1, ...p.slice(i)]);
  return out;
}

interface Case {
  name: string;
  exact: boolean;
  run: () => number[];
}
const cases: Case[] = [];
const data = (ts: tf.Tensor | tf.Tensor[]) => (Array.isArray(ts) ? ts : [ts]).flatMap((t) => [...t.shape, ...t.dataSync()]);

// [3, 4, 80]: runs of ≥ 64 (copied with set); [130, 67]: several 64-row blocks and a column tail.
for (const shape of [
  [7],
  [5, 3],
  [1, 6],
  [4, 1, 3],
  [2, 3, 4],
  [3, 1, 4, 5],
  [2, 3, 1, 4, 5],
  [16, 8, 3, 2, 4],
  [2, 5, 3, 2, 4],
  [3, 4, 80],
  [130, 67],
]) {
  for (const perm of perms(shape.length)) {
    cases.push({
      name: `transpose [${shape}] perm [${perm}]`,
      exact: true,
      run: () => tf.tidy(() => data(tf.transpose(rnd(shape, 1), perm))),
    });
  }
  cases.push({
    name: `transpose grad [${shape}]`,
    exact: true,
    run: () =>
      tf.tidy(() =>
        data(
          tf.grad((x: tf.Tensor) =>
            tf.sum(
              tf.mul(
                tf.transpose(x, perms(shape.length).at(-1)),
                rnd(
                  perms(shape.length)
                    .at(-1)!
                    .map((p) => shape[p]),
                  2,
                ),
              ),
            ),
          )(rnd(shape, 1)),
        ),
      ),
  });
}
for (const [shape, axis] of [
  [[6, 5], 0],
  [[6, 5], 1],
  [
    [4, 3, 5],
    [0, 1],
  ],
  [
    [4, 3, 5],
    [0, 2],
  ],
  [[4, 3, 5], 1],
  [
    [2, 3, 4, 5],
    [1, 3],
  ],
  [[300, 7], 0],
  [
    [2, 3, 4],
    [0, 1, 2],
  ],
] as [number[], number | number[]][]) {
  for (const keep of [false, true]) {
    cases.push({
      name: `sum [${shape}] axis ${axis} keepDims ${keep}`,
      exact: false,
      run: () => tf.tidy(() => data(tf.sum(rnd(shape, 3), axis, keep))),
    });
  }
}
const swap = (s: number[], t: boolean) => (t ? [...s.slice(0, -2), s[s.length - 1], s[s.length - 2]] : s);
for (const [as, bs] of [
  [
    [5, 7],
    [7, 3],
  ],
  [
    [3, 5, 7],
    [3, 7, 4],
  ],
  [
    [3, 5, 7],
    [7, 4],
  ],
  [
    [1, 5, 7],
    [3, 7, 4],
  ],
  [
    [2, 3, 5, 7],
    [2, 3, 7, 4],
  ],
  [
    [2, 3, 5, 7],
    [7, 4],
  ],
  [
    [64, 33],
    [33, 65],
  ],
  // shapes where computing the transposed product moves fewer elements (both strategies are exercised)
  [
    [300, 40],
    [40, 3],
  ],
  [
    [3, 40],
    [40, 300],
  ],
]) {
  for (const ta of [false, true]) {
    for (const tb of [false, true]) {
      const tag = `[${as}]${ta ? 'ᵀ' : ''} @ [${bs}]${tb ? 'ᵀ' : ''}`;
      const A = () => rnd(swap(as, ta), 4);
      const B = () => rnd(swap(bs, tb), 5);
      cases.push({ name: `matMul ${tag}`, exact: false, run: () => tf.tidy(() => data(tf.matMul(A(), B(), ta, tb))) });
      if (JSON.stringify(as.slice(0, -2)) === JSON.stringify(bs.slice(0, -2))) {
        // tfjs-core's matMul gradient cannot reduce broadcast batch dims, so grads only without broadcast.
        cases.push({
          name: `matMul grad ${tag}`,
          exact: false,
          run: () => tf.tidy(() => data(tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.square(tf.matMul(a, b, ta, tb))))([A(), B()]))),
        });
      }
      if (bs.length === 2) {
        const bias = () => rnd([bs[1]], 6);
        cases.push({
          name: `fused matMul+bias+relu ${tag}`,
          exact: false,
          run: () =>
            tf.tidy(() =>
              data(
                tf.fused.matMul({
                  a: A() as tf.Tensor2D,
                  b: B() as tf.Tensor2D,
                  transposeA: ta,
                  transposeB: tb,
                  bias: bias(),
                  activation: 'relu',
                }),
              ),
            ),
        });
        if (as.length === 2) {
          cases.push({
            name: `fused matMul+bias grad ${tag}`,
            exact: false,
            run: () =>
              tf.tidy(() =>
                data(
                  tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
                    tf.sum(
                      tf.square(tf.fused.matMul({ a: a as tf.Tensor2D, b: b as tf.Tensor2D, transposeA: ta, transposeB: tb, bias: c })),
                    ),
                  )([A(), B(), bias()]),
                ),
              ),
          });
        }
      }
    }
  }
}
for (const [shape, begin, size] of [
  [[5], [1], [3]],
  [
    [4, 6],
    [1, 2],
    [2, 3],
  ],
  [
    [4, 6],
    [1, 0],
    [2, 6],
  ],
  [
    [3, 4, 5],
    [0, 1, 0],
    [3, 2, 5],
  ],
  [
    [3, 4, 5],
    [1, 1, 1],
    [2, 3, 3],
  ],
  [
    [2, 3, 4, 5, 2],
    [1, 0, 2, 1, 0],
    [1, 3, 2, 4, 2],
  ],
  [
    [6, 2, 3],
    [2, 0, 0],
    [3, 2, 3],
  ],
  [
    [3, 200],
    [1, 0],
    [2, 200],
  ],
  [
    [4, 6],
    [0, 0],
    [0, 6],
  ],
]) {
  cases.push({
    name: `slice [${shape}] begin [${begin}] size [${size}]`,
    exact: true,
    run: () => tf.tidy(() => data(tf.slice(rnd(shape, 7), begin, size))),
  });
  cases.push({
    name: `slice grad [${shape}] begin [${begin}] size [${size}]`,
    exact: true,
    run: () => tf.tidy(() => data(tf.grad((x: tf.Tensor) => tf.sum(tf.mul(tf.slice(x, begin, size), rnd(size, 8))))(rnd(shape, 7)))),
  });
}
for (const [shape, n, axis] of [
  [[3, 8, 4], 3, 0],
  [[4, 6], 2, 1],
  [[2, 9, 3], [2, 3, 4], 1],
  [[6, 5, 4], 2, 2],
  [[3, 2, 4, 2, 5], 3, 0],
] as [number[], number | number[], number][]) {
  cases.push({
    name: `split [${shape}] ${JSON.stringify(n)} axis ${axis}`,
    exact: true,
    run: () => tf.tidy(() => data(tf.split(rnd(shape, 9), n, axis))),
  });
  cases.push({
    name: `split grad [${shape}] ${JSON.stringify(n)} axis ${axis}`,
    exact: false,
    run: () =>
      tf.tidy(() =>
        data(
          tf.grad((x: tf.Tensor) =>
            tf.split(x, n, axis).reduce((s, p, i) => tf.add(s, tf.mul(tf.sum(tf.sigmoid(p)), i + 1)), tf.scalar(0)),
          )(rnd(shape, 9)),
        ),
      ),
  });
}
cases.push({
  name: 'gather grad (UnsortedSegmentSum), repeated and unused rows',
  exact: false,
  run: () =>
    tf.tidy(() =>
      data(
        tf.grad((w: tf.Tensor) => tf.sum(tf.mul(tf.gather(w, tf.tensor1d([3, 1, 3, 10, 0, 3], 'int32')), rnd([6, 4], 7))))(rnd([11, 4], 9)),
      ),
    ),
});
cases.push({
  name: 'gather grad over a 2-D index',
  exact: false,
  run: () =>
    tf.tidy(() =>
      data(
        tf.grad((w: tf.Tensor) =>
          tf.sum(
            tf.square(
              tf.gather(
                w,
                tf.tensor2d(
                  [
                    [0, 2],
                    [2, 2],
                    [4, 1],
                  ],
                  undefined,
                  'int32',
                ),
              ),
            ),
          ),
        )(rnd([5, 3], 2)),
      ),
    ),
});
for (const [shape, idx] of [
  [
    [11, 4],
    [3, 1, 3, 10, 0],
  ],
  [
    [2048, 20],
    [5, 2047, 0, 5],
  ],
  [[6], [5, 0, 0]],
  [
    [5, 2, 3],
    [4, 0],
  ],
] as [number[], number[]][]) {
  cases.push({
    name: `gather rows [${shape}] at [${idx}]`,
    exact: true,
    run: () => tf.tidy(() => data(tf.gather(rnd(shape, 5), tf.tensor1d(idx, 'int32')))),
  });
}
cases.push({
  name: 'gather along axis 1 (stock path)',
  exact: true,
  run: () => tf.tidy(() => data(tf.gather(rnd([3, 5], 5), tf.tensor1d([4, 0], 'int32'), 1))),
});
cases.push({
  name: 'unsortedSegmentSum with out-of-range ids',
  exact: false,
  run: () => tf.tidy(() => data(tf.unsortedSegmentSum(rnd([5, 2], 3), tf.tensor1d([0, 3, -1, 3, 7], 'int32'), 4))),
});
for (const dtype of ['float32', 'int32'] as const) {
  cases.push({
    name: `oneHot ${dtype} with out-of-range ids`,
    exact: true,
    run: () =>
      tf.tidy(() =>
        data(
          tf.oneHot(
            tf.tensor2d(
              [
                [0, 3],
                [-1, 5],
              ],
              undefined,
              'int32',
            ),
            4,
            2,
            -1,
            dtype,
          ),
        ),
      ),
  });
}
cases.push({
  name: 'identity/cast share data but survive disposing the source',
  exact: true,
  run: () => {
    const x = rnd([3, 4], 1);
    const c = tf.clone(x);
    const k = tf.cast(x, 'float32');
    const n = tf.tensor1d([1, 2, 3], 'int32');
    const i = tf.cast(n, 'float32');
    x.dispose();
    const out = [...c.dataSync(), ...k.dataSync(), ...i.dataSync()];
    tf.dispose([c, k, i, n]);
    return out;
  },
});
cases.push({
  name: 'split + slice + sigmoid composite gradient through a matMul',
  exact: false,
  run: () =>
    tf.tidy(() =>
      data(
        tf.grad((w: tf.Tensor) => {
          const [a, b, c] = tf.split(tf.matMul(rnd([5, 6], 12), w), 3, 1);
          return tf.sum(
            tf.mul(
              tf.sigmoid(a),
              tf.add(
                b,
                tf.pad(tf.slice(c, [1, 0], [4, 4]), [
                  [0, 1],
                  [0, 0],
                ]),
              ),
            ),
          );
        })(rnd([6, 12], 11)),
      ),
    ),
});

test('every overridden wasm kernel and gradient agrees with the cpu backend', async () => {
  await initBackend('cpu', { quiet: true });
  const ref = cases.map((c) => c.run());
  const info = await initBackend('wasm', { quiet: true });
  assert.equal(info.name, 'wasm');
  assert.ok(info.wasmFixes?.installed, info.wasmFixes?.reason);
  assert.deepEqual([...info.wasmFixes!.kernels].sort(), [...FIXED_KERNELS].sort());
  for (const k of FIXED_KERNELS) assert.ok(tf.getKernel(k, 'wasm'), k);
  const before = tf.memory().numTensors;
  const failures: string[] = [];
  let worst = 0;
  cases.forEach((c, i) => {
    const got = c.run();
    if (got.length !== ref[i].length) {
      failures.push(`${c.name}: ${got.length} values vs ${ref[i].length}`);
      return;
    }
    let err = 0;
    got.forEach((v, j) => (err = Math.max(err, Math.abs(v - ref[i][j]))));
    const scale = Math.max(1, ...ref[i].map(Math.abs));
    if (Number.isNaN(err) || err > (c.exact ? 0 : 1e-5 * scale)) failures.push(`${c.name}: max error ${err} (scale ${scale})`);
    worst = Math.max(worst, err);
  });
  assert.deepEqual(failures, [], `${failures.length}/${cases.length} cases differ`);
  assert.equal(tf.memory().numTensors, before, 'kernel cases leaked tensors');
  assert.ok(cases.length > 300, `only ${cases.length} cases`);
});
