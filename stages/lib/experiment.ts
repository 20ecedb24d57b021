/**
 * What the experiment's stages share: the run's shape from the params, and a main() wrapper that
 * turns a user-caused error into one line on stderr and exit status 1 (the runner shows the log
 * tail), keeping stack traces for real bugs.
 */
import { CONTINUE_METHOD, type ExperimentShape, type ModelRef, experimentModels } from '../../src/experiment/artifacts/layout.ts';
import type { Params } from './params.ts';

function numberList(p: Params, key: string): number[] {
  const v = p.get(key);
  if (!Array.isArray(v) || v.length === 0 || !v.every((x) => Number.isInteger(x))) {
    throw new Error(`${p.file}: ${key} must be a non-empty list of integers, got ${JSON.stringify(v)}`);
  }
  return v as number[];
}

function experimentShape(p: Params): ExperimentShape {
  const methods = p.get('growth.methods');
  if (!Array.isArray(methods) || methods.length === 0 || !methods.every((m) => typeof m === 'string' && m !== '')) {
    throw new Error(`${p.file}: growth.methods must be a non-empty list of method names, e.g. [merge]`);
  }
  if (methods.includes(CONTINUE_METHOD)) {
    throw new Error(
      `${p.file}: growth.methods: "${CONTINUE_METHOD}" is the continued-small-model baseline's name (set continue.source instead); rename the method`,
    );
  }
  const small = numberList(p, 'small.models');
  const source = p.opt<number | null>('continue.source', null);
  if (source !== null && !small.includes(source)) {
    throw new Error(
      `${p.file}: continue.source ${source} is not one of small.models ${JSON.stringify(small)}; pick one of them, or remove continue.source to drop the baseline`,
    );
  }
  return { seeds: numberList(p, 'seeds'), small, methods: methods as string[], ...(source !== null ? { continueSmall: source } : {}) };
}

export function experimentRefs(p: Params): ModelRef[] {
  return experimentModels(experimentShape(p));
}
