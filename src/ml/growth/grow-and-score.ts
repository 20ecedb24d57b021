/**
 * The combine stage's computation (stages/combine.ts loads the inputs and writes M1'): grow the
 * source models into the target shape with the chosen method, then score the result — its loss
 * per dataset, each source's, and with several sources the loss of their exact logit ensemble,
 * which merge approximates (the gap is the pooled-LayerNorm effect). Nothing here reads or writes
 * files.
 */
import type { HostWeights, ModelConfig } from '../core/config.ts';
import { gptConfig } from '../core/config.ts';
import type { Batch } from '../core/sampler.ts';
import { ensembleGap, meanLoss } from './ensemble-loss.ts';
import { type GrowOptions, type SourceModel, growHost, parseMethod } from './index.ts';
import { growLigo } from './ligo.ts';
import type { AdamMoments } from './moments.ts';
import { GrowthError } from './weights.ts';

export interface TargetShape {
  nLayer: number;
  nHead: number;
  nEmbd: number;
  headSize?: number;
  nInner?: number;
}

export interface LigoParams {
  steps: number;
  lr: number;
  batchSize: number;
  depthInit: 'stack_zero' | 'stack';
  seed: number;
}

/** Fixed batches of one dataset, scored with every model. */
export interface ScoreSet {
  name: string;
  batches: Batch[];
}

export interface GrowAndScoreOptions {
  /** Operator composition, e.g. "merge+stack". */
  method: string;
  options: GrowOptions;
  target: TargetShape;
  ligo: LigoParams;
  /** The training batches a learned operator (ligo) draws, one per call. */
  ligoBatches?: () => Batch;
  /** The sources' AdamW moments, in source order, to carry into the grown model (not for ligo). */
  moments?: (AdamMoments & { step: number })[];
  scoreSets: ScoreSet[];
  onProgress?: (phase: string, current: number, total: number, values?: Record<string, number>) => void;
}

export interface GrownAndScored {
  cfg: ModelConfig;
  weights: HostWeights;
  /** The operators applied, with the shapes they produced. */
  steps: string[];
  /** Indices (0-based) of the sources the grown weights came from. */
  used: number[];
  /** Carried AdamW moments and the step their bias correction continues from. */
  moments?: AdamMoments;
  momentsStep?: number;
  /** Training FLOPs of a learned operator (ligo); 0 for closed-form ones. */
  operatorFlops: number;
  ligo?: { steps: number; lr: number; batch_size: number; first_loss: number; last_loss: number };
  /** {<dataset>: loss, combined: token-weighted mean}, for the grown model and for each source. */
  valLoss: Record<string, number>;
  sourcesValLoss: Record<string, number>[];
  ensemble?: { val_loss: Record<string, number>; mean_abs_logit_diff: number; max_abs_logit_diff: number };
}

/** The large model's config: its shape from params, vocabulary and context from the sources. */
function targetConfig(src: ModelConfig, t: TargetShape): ModelConfig {
  return gptConfig({ vocabSize: src.vocabSize, blockSize: src.blockSize, lnEps: src.lnEps, ...t });
}

/** Per-dataset loss and the token-weighted `combined` mean. */
async function lossTable(cfg: ModelConfig, w: HostWeights, sets: ScoreSet[]): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  let sum = 0;
  let tokens = 0;
  for (const s of sets) {
    const r = await meanLoss(cfg, w, s.batches);
    out[s.name] = r.loss;
    sum += r.loss * r.tokens;
    tokens += r.tokens;
  }
  out.combined = sum / tokens;
  return out;
}

export async function growAndScore(sources: SourceModel[], o: GrowAndScoreOptions): Promise<GrownAndScored> {
  if (sources.length === 0)
    throw new GrowthError('combine: no source models given; pass --sources DIR (a directory of small-model checkpoints)');
  const target = targetConfig(sources[0].cfg, o.target);
  const plan = parseMethod(o.method);
  if (o.moments && plan.width === 'ligo')
    throw new GrowthError(
      "growth.carry_optimizer is not supported for ligo (its weights are not copies of the sources'); turn it off for this method",
    );

  let grown: { cfg: ModelConfig; weights: HostWeights; steps: string[]; used: number[]; moments?: AdamMoments };
  let operatorFlops = 0;
  let ligo: GrownAndScored['ligo'];
  let momentsStep: number | undefined;
  if (plan.width === 'ligo') {
    const batchAt =
      o.ligoBatches ??
      (() => {
        throw new GrowthError('ligo needs training batches; the combine stage passes them');
      });
    const r = await growLigo(sources, target, {
      steps: o.ligo.steps,
      lr: o.ligo.lr,
      depthInit: o.ligo.depthInit,
      batchAt,
      onStep: (step, loss) => o.onProgress?.('ligo', step, o.ligo.steps, { loss }),
    });
    grown = {
      cfg: r.cfg,
      weights: r.weights,
      steps: [`ligo(n=${sources.length}, ${o.ligo.steps} steps, init merge+${o.ligo.depthInit})`],
      used: sources.map((_, i) => i),
    };
    operatorFlops = r.flops;
    ligo = {
      steps: o.ligo.steps,
      lr: o.ligo.lr,
      batch_size: o.ligo.batchSize,
      first_loss: r.losses[0] ?? NaN,
      last_loss: r.losses.at(-1) ?? NaN,
    };
  } else {
    grown = growHost(o.method, sources, target, o.options, o.moments);
    if (o.moments) momentsStep = Math.round(o.moments.reduce((a, m) => a + m.step, 0) / o.moments.length);
  }

  o.onProgress?.('evaluate', 0, sources.length + 1);
  const valLoss = await lossTable(grown.cfg, grown.weights, o.scoreSets);
  const sourcesValLoss: Record<string, number>[] = [];
  for (const [i, s] of sources.entries()) {
    o.onProgress?.('evaluate', i + 1, sources.length + 1);
    sourcesValLoss.push(await lossTable(s.cfg, s.weights, o.scoreSets));
  }
  let ensemble: GrownAndScored['ensemble'];
  if (sources.length > 1) {
    const gaps: { name: string; g: Awaited<ReturnType<typeof ensembleGap>>; tokens: number }[] = [];
    for (const s of o.scoreSets) gaps.push({ name: s.name, g: await ensembleGap(grown, sources, s.batches), tokens: s.batches.length });
    const table: Record<string, number> = {};
    let sum = 0;
    let n = 0;
    for (const { name, g, tokens } of gaps) {
      table[name] = g.ensembleLoss;
      sum += g.ensembleLoss * tokens;
      n += tokens;
    }
    table.combined = sum / n;
    ensemble = {
      val_loss: table,
      mean_abs_logit_diff: gaps.reduce((a, x) => a + x.g.meanAbsLogitDiff, 0) / gaps.length,
      max_abs_logit_diff: Math.max(...gaps.map((x) => x.g.maxAbsLogitDiff)),
    };
  }
  o.onProgress?.('evaluate', sources.length + 1, sources.length + 1);
  return {
    ...grown,
    ...(grown.moments ? { momentsStep: momentsStep ?? 0 } : {}),
    operatorFlops,
    ...(ligo ? { ligo } : {}),
    valLoss,
    sourcesValLoss,
    ...(ensemble ? { ensemble } : {}),
  };
}
