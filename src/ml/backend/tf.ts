/**
 * The one door to TensorFlow.js for all of growline. Everything imports tfjs from here so there is
 * exactly one engine, one kernel registry and one gradient registry in the process.
 *
 * Why this module is more than a re-export: in Node, `@tensorflow/tfjs-core` resolves to its CJS
 * bundle, which has every op and kernel name but **no gradient definitions** and no chained ops
 * (`x.add(y)`); the umbrella package `@tensorflow/tfjs` normally adds them, and we do not depend on
 * it. The gradients exist only as an ESM source tree in `tfjs-core/dist/` whose imports are
 * extensionless (`'./gradients'`), which Node's ESM loader refuses. A tiny resolve hook (below)
 * lets Node load that tree; it registers into the same global registries as the CJS bundle
 * (tfjs keeps the engine and registries on the global object, and `Tensor` uses a duck-typed
 * `Symbol.hasInstance`, precisely so several copies can cooperate).
 */
import { register } from 'node:module';
import * as tf from '@tensorflow/tfjs-core';
import '@tensorflow/tfjs-backend-cpu';

export * from '@tensorflow/tfjs-core';

/** The tfjs version every fix in src/ml/backend was written and tested against. */
export const PINNED_TFJS_VERSION = '4.22.0';

const RESOLVE_HOOK = `
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
const CORE = '/@tensorflow/tfjs-core/dist/';
export async function resolve(spec, ctx, next) {
  if (ctx.parentURL && ctx.parentURL.includes(CORE) && spec.startsWith('.') && !spec.endsWith('.js')) {
    for (const tail of ['.js', '/index.js']) {
      const u = new URL(spec + tail, ctx.parentURL);
      if (existsSync(fileURLToPath(u))) return { url: u.href, format: 'module', shortCircuit: true };
    }
  }
  return next(spec, ctx);
}
export async function load(url, ctx, next) {
  if (url.includes(CORE) && url.endsWith('.js')) {
    return { ...(await next(url, { ...ctx, format: 'module' })), format: 'module', shortCircuit: true };
  }
  return next(url, ctx);
}`;

const g = globalThis as { __growlineTfGradients?: boolean };
if (!g.__growlineTfGradients) {
  g.__growlineTfGradients = true;
  register('data:text/javascript,' + encodeURIComponent(RESOLVE_HOOK));
  await import('@tensorflow/tfjs-core/dist/register_all_gradients.js' as string);
  await import('@tensorflow/tfjs-core/dist/public/chained_ops/register_all_chained_ops.js' as string);
}

/** Keep tfjs quiet about "install tfjs-node": backend choice already reports on stderr. */
export function silenceCpuBanner(): void {
  const cpu = tf.findBackend('cpu') as unknown as { firstUse?: boolean } | null;
  if (cpu) cpu.firstUse = false;
}
