#!/usr/bin/env node
// Compiles asm/gemm.ts (AssemblyScript) into the two wasm builds src/ml/backend/gemm.ts loads:
// asm/build/gemm-simd.wasm (fixed-width SIMD) and asm/build/gemm-relaxed.wasm (relaxed SIMD's
// fused multiply-add). Run by `npm run build` and by npm's `prepare`, so `npm ci` produces them;
// the .wasm files are build outputs and not committed.
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import asc from 'assemblyscript/asc';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'asm', 'build');
mkdirSync(out, { recursive: true });
const common = ['asm/gemm.ts', '-O3', '--noAssert', '--runtime', 'stub', '--importMemory', '--initialMemory', '1', '--enable', 'simd'];
for (const [name, extra] of [
  ['gemm-simd', []],
  ['gemm-relaxed', ['--enable', 'relaxed-simd']],
]) {
  const { error, stderr } = await asc.main([...common, ...extra, '--outFile', join(out, `${name}.wasm`)], {
    stdout: process.stdout,
    stderr: process.stderr,
    baseDir: root,
  });
  if (error) {
    console.error(`build-gemm: compiling asm/gemm.ts (${name}) failed: ${error.message}\n${stderr.toString()}`);
    process.exit(1);
  }
}
