/**
 * The growth registry: `grow(method, sources, target, opts)` builds the large model's initial
 * weights M1' from n small models. A method is one operator or a composition "width+depth"
 * applied in that order, e.g. `merge+stack`, `fpi+stack_zero`, `lemon`:
 *
 *   width:  fpi | lemon | merge            (ligo grows width and depth together)
 *   depth:  stack | stack_zero
 *
 * fpi and lemon grow one model (sources[opts.sourceIndex ?? 0]); merge and ligo use all of them.
 * merge yields width n·d0; a wider target is reached by a lemon expansion of the merged model.
 */
import type { HostWeights, ModelConfig } from '../core/config.ts';
import { fpi } from './fpi.ts';
import { lemon } from './lemon.ts';
import { type MergeOptions, merge, mergedConfig } from './merge.ts';
import { type StackOptions, stack } from './stack.ts';
import { type WidthOptions, expandWidth } from './width.ts';
import { GrowthError, checkWeights } from './weights.ts';
import { type AdamMoments, carryMergeMoments, carryWidthMoments } from './moments.ts';

export { GrowthError } from './weights.ts';
export type { WidthOptions, Symmetry } from './width.ts';
export type { MergeOptions } from './merge.ts';

export interface SourceModel {
  cfg: ModelConfig;
  weights: HostWeights;
}

export interface GrowOptions extends WidthOptions, MergeOptions, StackOptions {
  /** Which source fpi/lemon grow (default 0). */
  sourceIndex?: number;
}

export interface Grown {
  cfg: ModelConfig;
  weights: HostWeights;
  /** AdamW moments carried through the same growth, when the sources' moments were given. */
  moments?: AdamMoments;
  /** The operators applied, in order, with the width each produced (for growth.json). */
  steps: string[];
  /**
   * Which sources (0-based) the grown weights were built from: all of them for merge, one for
   * fpi/lemon/depth-only. The method is charged for exactly these sources' training.
   */
  used: number[];
}

const WIDTH_METHODS = ['fpi', 'lemon', 'merge'] as const;
const DEPTH_METHODS = ['stack', 'stack_zero'] as const;

export interface MethodPlan {
  width?: (typeof WIDTH_METHODS)[number] | 'ligo';
  depth?: (typeof DEPTH_METHODS)[number];
}

/** "merge+stack" → {width: merge, depth: stack}; names the valid choices when it is not one. */
export function parseMethod(method: string): MethodPlan {
  const parts = method
    .split('+')
    .map((s) => s.trim())
    .filter(Boolean);
  const plan: MethodPlan = {};
  for (const p of parts) {
    if ((WIDTH_METHODS as readonly string[]).includes(p) || p === 'ligo') {
      if (plan.width || plan.depth) throw new GrowthError(`growth.method "${method}": give one width operator, first (width then depth)`);
      plan.width = p as MethodPlan['width'];
    } else if ((DEPTH_METHODS as readonly string[]).includes(p)) {
      if (plan.depth) throw new GrowthError(`growth.method "${method}": give at most one depth operator`);
      plan.depth = p as MethodPlan['depth'];
    } else {
      throw new GrowthError(
        `growth.method "${method}": unknown operator "${p}"; use one of ${[...WIDTH_METHODS, 'ligo'].join(', ')}, ` +
          `optionally followed by +${DEPTH_METHODS.join(' or +')} (e.g. merge+stack)`,
      );
    }
  }
  if (!plan.width && !plan.depth) throw new GrowthError(`growth.method is empty; use e.g. "merge" or "merge+stack"`);
  if (plan.width === 'ligo' && plan.depth)
    throw new GrowthError(`growth.method "${method}": ligo learns depth itself; drop "+${plan.depth}"`);
  return plan;
}

function sameShape(a: ModelConfig, b: ModelConfig): boolean {
  return (['vocabSize', 'blockSize', 'nLayer', 'nHead', 'nEmbd', 'headSize', 'nInner'] as const).every((k) => a[k] === b[k]);
}

function describe(c: ModelConfig): string {
  return `d${c.nEmbd} h${c.nHead}×${c.headSize} f${c.nInner} L${c.nLayer}`;
}

/** The host-side (non-learned) operators. ligo lives in ligo.ts (it trains, so it is async). */
/**
 * `moments` (one per source, optional): AdamW moments to carry through the same growth (see
 * moments.ts). Supported for fpi, lemon and merge to exactly n·d0, each with optional depth.
 */
export function growHost(
  method: string,
  sources: SourceModel[],
  target: ModelConfig,
  opts: GrowOptions = {},
  moments?: AdamMoments[],
): Grown {
  const plan = parseMethod(method);
  if (plan.width === 'ligo') throw new GrowthError('ligo trains its operator; call growLigo (stages/combine.ts does)');
  if (sources.length === 0) throw new GrowthError('growth needs at least one source model');
  const src = sources[0].cfg;
  sources.forEach((s, i) => {
    if (!sameShape(s.cfg, src))
      throw new GrowthError(
        `source ${i + 1} (${describe(s.cfg)}) differs from source 1 (${describe(src)}); all sources must share one config`,
      );
    checkWeights(s.cfg, s.weights, `source ${i + 1}`);
  });
  if (target.vocabSize !== src.vocabSize || target.blockSize !== src.blockSize) {
    throw new GrowthError(
      `target vocabSize/blockSize (${target.vocabSize}/${target.blockSize}) must equal the sources' (${src.vocabSize}/${src.blockSize})`,
    );
  }
  const steps: string[] = [];
  let used: number[];
  let cur: SourceModel;
  let mom: AdamMoments | undefined;
  const widthTarget = { ...target, nLayer: src.nLayer };
  if (plan.width === 'merge') {
    const merged = merge(
      src,
      sources.map((s) => s.weights),
      opts,
    );
    cur = merged;
    used = sources.map((_, i) => i);
    steps.push(`merge(n=${sources.length}) → ${describe(merged.cfg)}`);
    const m = mergedConfig(src, sources.length);
    if (moments) mom = carryMergeMoments(moments);
    if (!sameShape(m, widthTarget)) {
      if (moments)
        throw new GrowthError(
          'carrying optimizer state through merge supports a target of exactly n·d0 wide; drop growth.carry_optimizer or match the widths',
        );
      cur = expandWidth(merged.cfg, merged.weights, widthTarget, opts);
      steps.push(`lemon → ${describe(cur.cfg)}`);
    }
  } else if (plan.width === 'fpi' || plan.width === 'lemon') {
    const i = opts.sourceIndex ?? 0;
    if (!sources[i]) throw new GrowthError(`growth.source_index ${i} is out of range (there are ${sources.length} sources)`);
    cur = (plan.width === 'fpi' ? fpi : lemon)(src, sources[i].weights, widthTarget, opts);
    used = [i];
    if (moments) mom = carryWidthMoments(src, widthTarget, moments[i], opts);
    steps.push(`${plan.width}(source ${i + 1}) → ${describe(cur.cfg)}`);
  } else {
    if (!sameShape({ ...src, nLayer: target.nLayer }, target)) {
      throw new GrowthError(
        `growth.method "${method}" grows depth only, but the target width differs (${describe(src)} → ${describe(target)}); add a width operator, e.g. merge+${plan.depth}`,
      );
    }
    const i = opts.sourceIndex ?? 0;
    if (!sources[i]) throw new GrowthError(`growth.source_index ${i} is out of range (there are ${sources.length} sources)`);
    cur = sources[i];
    used = [i];
    if (moments) mom = moments[opts.sourceIndex ?? 0];
  }
  if (plan.depth) {
    const zero = plan.depth === 'stack_zero';
    if (mom) mom = { m: stack(cur.cfg, mom.m, target.nLayer, { zero }).weights, v: stack(cur.cfg, mom.v, target.nLayer, { zero }).weights };
    cur = stack(cur.cfg, cur.weights, target.nLayer, { zero });
    steps.push(`${plan.depth} → ${describe(cur.cfg)}`);
  } else if (cur.cfg.nLayer !== target.nLayer) {
    throw new GrowthError(
      `growth.method "${method}" keeps ${cur.cfg.nLayer} layers but the target has ${target.nLayer}; add +stack or +stack_zero`,
    );
  }
  return { cfg: cur.cfg, weights: cur.weights, steps, used, ...(mom ? { moments: mom } : {}) };
}
