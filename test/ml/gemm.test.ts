/**
 * growline's own GEMM (asm/gemm.ts via src/ml/backend/gemm.ts), both builds.
 *
 * Tolerances, and why:
 * - against a float64 reference: |c − ref| ≤ (K + 2)·2⁻²⁴·(|bias| + Σₖ|a·b|), the standard bound
 *   for a K-term float32 dot product (one rounding per multiply and per add);
 * - the plain-SIMD build must equal, bit for bit, a scalar float32 emulation of its documented
 *   order (accumulator = bias or 0, then += fround(a·b) for k ascending): the order is the contract
 *   that makes results reproducible;
 * - the relaxed build may fuse the multiply-add (host-dependent), so it is held to the bound and to
 *   determinism: same bits on every call, in a worker thread, and for any subset of rows;
 * - through tfjs, against the cpu backend: 1e-5 of the case's largest magnitude (as every other
 *   replaced wasm kernel in wasm-kernels.test.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import * as tf from '../../src/ml/backend/tf.ts';
import { activeBackend, initBackend } from '../../src/ml/backend/index.ts';
import { gemmWasmPath, loadGemm, relaxedSimdAvailable, type Gemm, type GemmIsa } from '../../src/ml/backend/gemm.ts';
import { Rng } from '../../src/ml/core/rng.ts';

const ISAS: GemmIsa[] = [
  'simd',
  ...(relaxedSimdAvailable(new Uint8Array(readFileSync(gemmWasmPath('relaxed-simd')))) ? ['relaxed-simd' as const] : []),
];

/** A kernel on its own 64 MiB memory, with a bump allocator for operands. */
class Host {
  readonly memory = new WebAssembly.Memory({ initial: 1024 });
  private top = 1 << 16; // leave page 0 unused: offset 0 means "no bias"
  readonly gemm: Gemm;
  constructor(isa: GemmIsa) {
    const r = loadGemm({ memory: this.memory, malloc: (n) => this.alloc(n), free: () => {} }, isa === 'simd' ? 'simd' : 'relaxed');
    if (!r.ok) throw new Error(r.why);
    this.gemm = r.gemm;
  }
  alloc(bytes: number): number {
    const p = this.top;
    this.top += (bytes + 63) & ~63;
    if (this.top > this.memory.buffer.byteLength) throw new Error('test host out of memory');
    return p;
  }
  put(x: Float32Array): number {
    const p = this.alloc(x.byteLength);
    new Float32Array(this.memory.buffer, p, x.length).set(x);
    return p;
  }
  get(p: number, n: number): Float32Array {
    return new Float32Array(this.memory.buffer, p, n).slice();
  }
}

function random(n: number, seed: number): Float32Array {
  const rng = new Rng(seed);
  return Float32Array.from({ length: n }, () => rng.uniform() * 2 - 1);
}

interface Problem {
  batch: number;
  M: number;
  K: number;
  N: number;
  transA: boolean;
  transB: boolean;
  /** B (and its batch stride) shared by every batch entry. */
  broadcastB: boolean;
  bias: boolean;
}

/** op(A)[b][i, k] and op(B)[b][k, j] as stored (transposed layouts when trans*). */
function elementA(p: Problem, A: Float32Array, b: number, i: number, k: number): number {
  return A[b * p.M * p.K + (p.transA ? k * p.M + i : i * p.K + k)];
}
function elementB(p: Problem, B: Float32Array, b: number, k: number, j: number): number {
  const o = p.broadcastB ? 0 : b * p.K * p.N;
  return B[o + (p.transB ? j * p.K + k : k * p.N + j)];
}

function inputs(p: Problem, seed: number) {
  return {
    A: random(p.batch * p.M * p.K, seed),
    B: random((p.broadcastB ? 1 : p.batch) * p.K * p.N, seed + 1),
    bias: p.bias ? random(p.N, seed + 2) : null,
  };
}

function run(host: Host, p: Problem, A: Float32Array, B: Float32Array, bias: Float32Array | null): Float32Array {
  const pa = host.put(A);
  const pb = host.put(B);
  const pbias = bias ? host.put(bias) : 0;
  host.gemm.reserve(p.M, p.K, p.N, p.transA);
  const pc = host.put(new Float32Array(p.batch * p.M * p.N).fill(NaN)); // every element must be written
  host.gemm.run({
    a: pa,
    b: pb,
    c: pc,
    bias: pbias,
    batch: p.batch,
    M: p.M,
    K: p.K,
    N: p.N,
    strideA: 4 * p.M * p.K,
    strideB: p.broadcastB ? 0 : 4 * p.K * p.N,
    transA: p.transA,
    transB: p.transB,
  });
  return host.get(pc, p.batch * p.M * p.N);
}

const problems: Problem[] = [];
for (const [M, K, N] of [
  [1, 1, 1],
  [4, 8, 8],
  [3, 5, 7],
  [5, 33, 9],
  [13, 17, 40],
  [8, 0, 8],
  [9, 64, 17],
  [37, 130, 70],
]) {
  for (const transA of [false, true]) {
    for (const transB of [false, true]) {
      problems.push({ batch: 1, M, K, N, transA, transB, broadcastB: false, bias: (M + N) % 2 === 0 });
    }
  }
}
problems.push({ batch: 3, M: 6, K: 10, N: 12, transA: false, transB: true, broadcastB: false, bias: false });
problems.push({ batch: 3, M: 6, K: 10, N: 12, transA: true, transB: false, broadcastB: true, bias: true });
problems.push({ batch: 4, M: 7, K: 9, N: 5, transA: false, transB: false, broadcastB: true, bias: false });
// Wider than one block of packed B panels (128 KiB / (K·32 B) = 8 panels at K = 512): exercises the blocking.
problems.push({ batch: 1, M: 9, K: 512, N: 200, transA: false, transB: true, broadcastB: false, bias: true });

const label = (p: Problem) =>
  `${p.batch}×(${p.M},${p.K},${p.N}) tA=${p.transA} tB=${p.transB}${p.broadcastB ? ' broadcast B' : ''}${p.bias ? ' +bias' : ''}`;

for (const isa of ISAS) {
  test(`${isa}: every shape, transpose, batch and bias within the float32 dot-product bound of a float64 reference`, () => {
    const host = new Host(isa);
    for (const [n, p] of problems.entries()) {
      const { A, B, bias } = inputs(p, 10 * n);
      const C = run(host, p, A, B, bias);
      for (let b = 0; b < p.batch; b++) {
        for (let i = 0; i < p.M; i++) {
          for (let j = 0; j < p.N; j++) {
            let ref = bias ? bias[j] : 0;
            let mag = Math.abs(ref);
            for (let k = 0; k < p.K; k++) {
              const t = elementA(p, A, b, i, k) * elementB(p, B, b, k, j);
              ref += t;
              mag += Math.abs(t);
            }
            const got = C[(b * p.M + i) * p.N + j];
            const bound = (p.K + 2) * 2 ** -24 * mag;
            assert.ok(Math.abs(got - ref) <= bound, `${label(p)} [${b},${i},${j}]: ${got} vs ${ref} (bound ${bound})`);
          }
        }
      }
    }
  });
}

test('simd: bit-identical to a scalar float32 emulation of the documented summation order', () => {
  const host = new Host('simd');
  for (const [n, p] of problems.entries()) {
    const { A, B, bias } = inputs(p, 10 * n + 3);
    const C = run(host, p, A, B, bias);
    const want = new Float32Array(C.length);
    for (let b = 0; b < p.batch; b++) {
      for (let i = 0; i < p.M; i++) {
        for (let j = 0; j < p.N; j++) {
          let acc = bias ? bias[j] : 0;
          for (let k = 0; k < p.K; k++) acc = Math.fround(acc + Math.fround(elementA(p, A, b, i, k) * elementB(p, B, b, k, j)));
          want[(b * p.M + i) * p.N + j] = acc;
        }
      }
    }
    assert.deepEqual(new Uint32Array(C.buffer), new Uint32Array(want.buffer), label(p));
  }
});

for (const isa of ISAS) {
  test(`${isa}: deterministic — same bits on every call, and any block of rows equals those rows of the whole product`, () => {
    const host = new Host(isa);
    const p: Problem = { batch: 1, M: 67, K: 96, N: 44, transA: false, transB: false, broadcastB: false, bias: true };
    const { A, B, bias } = inputs(p, 7);
    const whole = run(host, p, A, B, bias);
    assert.deepEqual(run(host, p, A, B, bias), whole);
    // Rows 13..42 alone (a micro-batch): a different M, different tile edges, same bits.
    const sub = { ...p, M: 30 };
    const part = run(host, sub, A.slice(13 * p.K, 43 * p.K), B, bias);
    assert.deepEqual(part, whole.slice(13 * p.N, 43 * p.N));
  });

  test(`${isa}: a worker thread computes the same bits as the main thread`, async () => {
    const host = new Host(isa);
    const p: Problem = { batch: 2, M: 21, K: 50, N: 19, transA: true, transB: true, broadcastB: false, bias: true };
    const { A, B, bias } = inputs(p, 99);
    const main = run(host, p, A, B, bias);
    // The worker loads the same .wasm on a fresh memory with plain JS: nothing shared but the file.
    const src = `
      const { parentPort, workerData: d } = require('node:worker_threads');
      const fs = require('node:fs');
      const memory = new WebAssembly.Memory({ initial: 64 });
      const inst = new WebAssembly.Instance(new WebAssembly.Module(fs.readFileSync(d.path)), { env: { memory, abort() { throw new Error('abort'); } } });
      const f = new Float32Array(memory.buffer);
      const put = (x, at) => { f.set(x, at / 4); return at; };
      const a = put(d.A, 65536), b = put(d.B, 65536 + 4 * d.A.length), bias = put(d.bias, b + 4 * d.B.length);
      const c = bias + 4 * d.bias.length, scratch = c + 4 * d.n; // scratch: the rest of the memory
      inst.exports.gemm(a, b, c, bias, d.batch, d.M, d.K, d.N, 4 * d.M * d.K, 4 * d.K * d.N, 1, 1, scratch);
      parentPort.postMessage(f.slice(c / 4, c / 4 + d.n));
    `;
    const worker = new Worker(src, {
      eval: true,
      workerData: { path: gemmWasmPath(isa), A, B, bias, n: main.length, batch: p.batch, M: p.M, K: p.K, N: p.N },
    });
    const fromWorker = await new Promise<Float32Array>((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    await worker.terminate();
    assert.deepEqual(new Uint32Array(fromWorker.buffer), new Uint32Array(main.buffer));
  });
}

test('through tfjs: the wasm backend runs its matMuls on the own GEMM and agrees with the cpu backend', async () => {
  await initBackend('wasm', { quiet: true });
  const gemm = activeBackend()?.wasmFixes?.gemm;
  assert.ok(gemm && gemm.kernel !== 'xnnpack', `own GEMM not active: ${JSON.stringify(gemm)}`);
  const rnd = (shape: number[], seed: number) =>
    tf.tensor(
      random(
        shape.reduce((x, y) => x * y, 1),
        seed,
      ),
      shape,
    );
  const cases: [string, () => tf.Tensor][] = [
    ['attention scores [8,16,32]·[8,16,32]ᵀ', () => tf.matMul(rnd([8, 16, 32], 1), rnd([8, 16, 32], 2), false, true)],
    ['attention output [8,16,16]·[8,16,32]', () => tf.matMul(rnd([8, 16, 16], 3), rnd([8, 16, 32], 4))],
    ['weight gradient [40,24]ᵀ·[40,36]', () => tf.matMul(rnd([40, 24], 5), rnd([40, 36], 6), true, false)],
    ['both transposed [9,5]ᵀ·[7,9]ᵀ', () => tf.matMul(rnd([9, 5], 7), rnd([7, 9], 8), true, true)],
    ['broadcast right [2,3,5,7]·[7,4]', () => tf.matMul(rnd([2, 3, 5, 7], 9), rnd([7, 4], 10))],
    ['broadcast left [5,7]·[3,7,4]', () => tf.matMul(rnd([1, 5, 7], 11), rnd([3, 7, 4], 12))],
    // tfjs's cpu kernel mis-sizes a partial broadcast (60 values for [2,3,5,4]): compare with explicit tiles.
    [
      'partial broadcast [2,1,5,7]·[1,3,7,4]',
      () =>
        tf.getBackend() === 'cpu'
          ? tf.matMul(tf.tile(rnd([2, 1, 5, 7], 13), [1, 3, 1, 1]), tf.tile(rnd([1, 3, 7, 4], 14), [2, 1, 1, 1]))
          : tf.matMul(rnd([2, 1, 5, 7], 13), rnd([1, 3, 7, 4], 14)),
    ],
    [
      'fused bias [33,20]·[20,19]+b',
      () => tf.fused.matMul({ a: rnd([33, 20], 15) as tf.Tensor2D, b: rnd([20, 19], 16) as tf.Tensor2D, bias: rnd([19], 17) }),
    ],
    [
      'fused bias, transposed B',
      () =>
        tf.fused.matMul({ a: rnd([6, 20], 18) as tf.Tensor2D, b: rnd([19, 20], 19) as tf.Tensor2D, transposeB: true, bias: rnd([19], 20) }),
    ],
    [
      'fused relu (falls back to XNNPACK)',
      () =>
        tf.fused.matMul({ a: rnd([6, 20], 21) as tf.Tensor2D, b: rnd([20, 9], 22) as tf.Tensor2D, bias: rnd([9], 23), activation: 'relu' }),
    ],
    [
      'fused gradient',
      () => {
        const a = rnd([12, 10], 24);
        const b = rnd([10, 6], 25);
        const bias = rnd([6], 26);
        const g = tf.grads((x: tf.Tensor, y: tf.Tensor, z: tf.Tensor) =>
          tf.sum(tf.square(tf.fused.matMul({ a: x as tf.Tensor2D, b: y as tf.Tensor2D, bias: z }))),
        )([a, b, bias]);
        return tf.concat(g.map((t) => tf.reshape(t, [-1])));
      },
    ],
  ];
  for (const [name, f] of cases) {
    await tf.setBackend('cpu');
    const want = tf.tidy(() => f().dataSync().slice());
    await tf.setBackend('wasm');
    const got = tf.tidy(() => f().dataSync().slice());
    assert.equal(got.length, want.length, name);
    const scale = Math.max(1, ...want.map(Math.abs));
    const diff = Math.max(0, ...got.map((v, i) => Math.abs(v - want[i])));
    assert.ok(diff <= 1e-5 * scale, `${name}: max |wasm − cpu| = ${diff}`);
  }
});

test('GROW_GEMM picks the kernel; an unknown value is one clear error line', () => {
  const child = (value: string) =>
    spawnSync(process.execPath, ['--import', 'tsx', 'test/ml/fixtures/init-backend.ts', 'wasm'], {
      env: { ...process.env, GROW_GEMM: value },
      encoding: 'utf8',
    });
  const xnn = child('xnnpack');
  assert.equal(xnn.status, 0, xnn.stderr);
  assert.deepEqual(JSON.parse(xnn.stdout).wasmFixes.gemm, { kernel: 'xnnpack', why: 'GROW_GEMM=xnnpack' });
  const simd = child('simd');
  assert.equal(simd.status, 0, simd.stderr);
  assert.equal(JSON.parse(simd.stdout).wasmFixes.gemm.kernel, 'simd');
  assert.match(simd.stderr, /kernel fixes installed, GEMM: simd/);
  const bad = child('avx512');
  assert.equal(bad.status, 2);
  assert.equal(
    bad.stderr.trim(),
    'GemmError: GROW_GEMM="avx512" is not a GEMM choice; set it to one of auto, relaxed, simd, xnnpack (or unset it)',
  );
});
