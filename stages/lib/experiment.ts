/**
 * What the experiment's stages share: the run's shape from the params, and a main() wrapper that
 * turns a user-caused error into one line on stderr and exit status 1 (the runner shows the log
 * tail), keeping stack traces for real bugs.
 */
import { pathToFileURL } from 'node:url';
import { type ExperimentShape, type ModelRef, experimentModels } from '../../src/experiment/layout.ts';
import type { Params } from './params.ts';

/** Params keys read by `experimentShape` (list them in pipeline.yaml for every stage using it). */
export const SHAPE_KEYS = ['seeds', 'small.models', 'growth.methods'] as const;

function numberList(p: Params, key: string): number[] {
  const v = p.get(key);
  if (!Array.isArray(v) || v.length === 0 || !v.every((x) => Number.isInteger(x))) {
    throw new Error(`${p.file}: ${key} must be a non-empty list of integers, got ${JSON.stringify(v)}`);
  }
  return v as number[];
}

export function experimentShape(p: Params): ExperimentShape {
  const methods = p.get('growth.methods');
  if (!Array.isArray(methods) || methods.length === 0 || !methods.every((m) => typeof m === 'string' && m !== '')) {
    throw new Error(`${p.file}: growth.methods must be a non-empty list of method names, e.g. [merge]`);
  }
  return { seeds: numberList(p, 'seeds'), small: numberList(p, 'small.models'), methods: methods as string[] };
}

export function experimentRefs(p: Params): ModelRef[] {
  return experimentModels(experimentShape(p));
}

/** Runs a stage's main when the file is executed (not when a test imports it). */
export function runMain(meta: ImportMeta, stage: string, main: () => Promise<void>): void {
  if (meta.url !== pathToFileURL(process.argv[1] ?? '').href) return;
  main().catch((e: unknown) => {
    const err = e as Error;
    // Errors from our own modules carry a message that names the file and the fix.
    console.error(`${stage}: ${err?.message ?? String(e)}`);
    if (process.env.GROW_DEBUG) console.error(err?.stack);
    process.exit(1);
  });
}
