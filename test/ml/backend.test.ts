import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as tf from '../../src/ml/backend/tf.ts';
import { initBackend } from '../../src/ml/backend/index.ts';
import { installWasmFixes } from '../../src/ml/backend/wasm-fixes.ts';
import { gptConfig, weightShapes } from '../../src/ml/core/config.ts';
import { initWeights, logits, loss, toTensors } from '../../src/ml/core/model.ts';

function child(env: Record<string, string | undefined>, arg?: string) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'test/ml/fixtures/init-backend.ts', ...(arg ? [arg] : [])], {
    env: { ...process.env, GROW_BACKEND: undefined, ...env },
    encoding: 'utf8',
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('auto falls back past the missing native packages to wasm and says why on one stderr line', () => {
  const r = child({});
  assert.equal(r.status, 0, r.stderr);
  const info = JSON.parse(r.stdout);
  assert.equal(info.name, 'wasm');
  assert.equal(info.wasmFixes.installed, true);
  const lines = r.stderr.split('\n').filter((l) => l.startsWith('backend:'));
  assert.equal(lines.length, 1, r.stderr);
  // A software WebGPU adapter (CI's Mesa) is never taken by auto.
  assert.match(
    lines[0],
    /backend: wasm .*@tensorflow\/tfjs-node-gpu not installed; webgpu: [^;]*(no GPU device|no hardware adapter|not installed)[^;]*; @tensorflow\/tfjs-node not installed/,
  );
});

test('GROW_BACKEND selects the backend; an explicit but unavailable or unknown choice fails clearly', () => {
  const cpu = child({ GROW_BACKEND: 'cpu' });
  assert.equal(cpu.status, 0, cpu.stderr);
  assert.equal(JSON.parse(cpu.stdout).name, 'cpu');
  const bogus = child({ GROW_BACKEND: 'tpu' });
  assert.equal(bogus.status, 2);
  assert.match(bogus.stderr, /unknown backend "tpu" \(from GROW_BACKEND\); use one of auto, tensorflow-gpu, webgpu, tensorflow, wasm, cpu/);
  const native = child({}, 'tensorflow');
  assert.equal(native.status, 2);
  assert.match(native.stderr, /backend "tensorflow" is not available: @tensorflow\/tfjs-node not installed/);
});

test('GROW_WASM_FIXES=0 keeps only the correctness fixes (stock speed)', () => {
  const r = child({ GROW_WASM_FIXES: '0', GROW_BACKEND: 'wasm' });
  assert.equal(r.status, 0, r.stderr);
  const fixes = JSON.parse(r.stdout).wasmFixes;
  assert.deepEqual(fixes.kernels.sort(), ['OneHot', 'UnsortedSegmentSum']);
  assert.match(r.stderr, /GROW_WASM_FIXES=0: stock kernels except the correctness fixes/);
});

test('model forward and backward agree between wasm (fixed kernels) and cpu', async () => {
  // Tolerance: every value within 1e-4 × the largest magnitude of its tensor (float32 with a different
  // summation order in XNNPACK's GEMM; weights are scaled up so attention and LayerNorm are far from linear).
  const cfg = gptConfig({ vocabSize: 13, blockSize: 8, nLayer: 2, nHead: 2, nEmbd: 16, headSize: 6 });
  const hw = initWeights(cfg, 4);
  for (const w of hw.values()) for (let i = 0; i < w.data.length; i++) w.data[i] *= 4; // exercise non-trivial activations
  const names = weightShapes(cfg).map((s) => s.name);
  const x = [
    [1, 2, 3, 4, 5, 6, 7, 8],
    [12, 0, 3, 3, 9, 1, 2, 11],
    [4, 4, 4, 4, 4, 4, 4, 4],
  ];
  const y = x.map((r) => r.map((v) => (v * 7 + 3) % 13));
  const run = () =>
    tf.tidy(() => {
      const w = toTensors(hw);
      const xt = tf.tensor2d(x, undefined, 'int32');
      const yt = tf.tensor2d(y, undefined, 'int32');
      const lg = Array.from(logits(cfg, w, xt).dataSync());
      const gs = tf.valueAndGrads((...ts: tf.Tensor[]) => loss(cfg, Object.fromEntries(names.map((n, i) => [n, ts[i]])), xt, yt))(
        names.map((n) => w[n]),
      );
      return { lg, value: gs.value.dataSync()[0], grads: gs.grads.map((g) => Array.from(g.dataSync())) };
    });
  await initBackend('cpu', { quiet: true });
  const ref = run();
  await initBackend('wasm', { quiet: true });
  const got = run();
  assert.ok(ref.value > 1, 'loss is non-trivial');
  const close = (what: string, a: number[], b: number[]) => {
    const scale = Math.max(...b.map(Math.abs));
    let err = 0;
    a.forEach((v, i) => (err = Math.max(err, Math.abs(v - b[i]))));
    if (process.env.DEBUG_CLOSE) console.log(what, err, scale);
    else assert.ok(err <= 1e-4 * scale, `${what}: max error ${err} vs scale ${scale}`);
  };
  close('loss', [got.value], [ref.value]);
  close('logits', got.lg, ref.lg);
  got.grads.forEach((g, k) => close(`grad ${names[k]}`, g, ref.grads[k]));
});

test('GROW_WASM_THREADS=2 runs XNNPACK on a thread pool and computes the same model as cpu', () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'test/ml/fixtures/threads-check.ts'], {
    env: { ...process.env, GROW_BACKEND: undefined, GROW_WASM_THREADS: '2' },
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  const out = JSON.parse(r.stdout);
  assert.equal(out.threads, 2);
  assert.match(r.stderr, /2 XNNPACK threads/);
  assert.ok(out.maxRelErr < 1e-4, `wasm (threaded) vs cpu: ${out.maxRelErr}`);
});

test('the wasm fixes refuse to install on a tfjs version they were not written for', () => {
  const r = installWasmFixes({ core: '4.21.0', wasm: '4.22.0' }, '4.22.0');
  assert.equal(r.installed, false);
  assert.deepEqual(r.kernels, []);
  assert.match(
    r.reason!,
    /written for tfjs 4\.22\.0, found tfjs-core 4\.21\.0 \/ tfjs-backend-wasm 4\.22\.0; running the stock wasm kernels/,
  );
});

for (const how of ['throw', 'reject'] as const) {
  test(`after the wasm backend starts, a program's uncaught ${how === 'throw' ? 'error' : 'rejection'} is reported as its own, not as the wasm glue's source line`, () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'test/ml/fixtures/throw-after-wasm.ts', how], { encoding: 'utf8' });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /Error: boom: /);
    assert.doesNotMatch(r.stderr, /WasmBackendModule/);
    assert.ok(r.stderr.length < 4000, `stderr is ${r.stderr.length} characters`);
  });
}
