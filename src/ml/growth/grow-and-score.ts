/**
 * The combine stage's work, as a library function (stages/combine.ts is the CLI): load the n small
 * checkpoints, grow M1' with the chosen method, save it as a plain checkpoint, and write
 * growth.json with what was done, what it cost and where M1' starts:
 *
 *   method            the name the pipeline used (growth.methods entry) and the resolved operator
 *   backend           the tfjs backend that grew and evaluated M1'
 *   steps             the operators applied, with the shapes they produced
 *   options           every option the operator saw (symmetry, epsilon, …)
 *   sources           [{path, sha256 of model.safetensors, sha256 of config.json}], in order
 *   operator_flops    training FLOPs of a learned operator (ligo), 0 for closed-form ones
 *   charged           what the method is charged for: the sources it actually used (merge and
 *                     ligo all, fpi/lemon one) with each one's training FLOPs (from its
 *                     train.json), their sum, and the operator's FLOPs. Evaluating M1' and the
 *                     sources here is measurement, not training, and is never charged.
 *   val_loss          M1' before refinement: {<dataset>: loss, combined: token-weighted mean}
 *   sources_val_loss  the same for each source, in order
 *   ensemble          n > 1: loss of the sources' exact logit average, and |M1' − average| logits
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeDirAtomic } from '../../util/atomic-write.ts';
import { backendFields } from '../backend/index.ts';
import { loadModel, saveModel } from '../core/checkpoint.ts';
import type { HostWeights, ModelConfig } from '../core/config.ts';
import { gptConfig } from '../core/config.ts';
import { type Batch, BatchSampler, fixedBatches, readTokens } from '../core/sampler.ts';
import { ensembleGap, meanLoss } from './ensemble-loss.ts';
import { type GrowOptions, type SourceModel, growHost, parseMethod } from './index.ts';
import { growLigo } from './ligo.ts';
import { type AdamMoments, readMoments, writeMoments } from './moments.ts';
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

export interface EvalParams {
  /** Token split evaluated ("val"). */
  split: string;
  batchSize: number;
  /** Tokens evaluated per dataset (rounded down to whole batches; at least one batch). */
  maxTokens: number;
}

/** A dataset's token streams as the tokenize stage lists them in meta.json. */
export interface TokenSource {
  name: string;
  roles: string[];
  /** split name → absolute or cwd-relative .bin path */
  files: Record<string, string>;
}

export interface CombineOptions {
  /** growth.methods entry: an operator composition or a growth.variants key. */
  name: string;
  /** Operator composition, e.g. "merge+stack" (the variant's `method`, or `name` itself). */
  method: string;
  options: GrowOptions;
  /** Carry the sources' AdamW moments (their optimizer.safetensors) into <out>/optimizer.safetensors. */
  carryOptimizer?: boolean;
  ligo: LigoParams;
  eval: EvalParams;
  sources: string[];
  out: string;
  target: TargetShape;
  tokens: TokenSource[];
  onProgress?: (phase: string, current: number, total: number, values?: Record<string, number>) => void;
}

export interface GrowthJson {
  method: string;
  backend: string;
  /** The GPU adapter, on webgpu only. */
  adapter?: string;
  operator: string;
  steps: string[];
  options: Record<string, unknown>;
  config: ModelConfig;
  sources: { path: string; sha256: string; config_sha256: string }[];
  operator_flops: number;
  charged: Charged;
  val_loss: Record<string, number>;
  sources_val_loss: Record<string, number>[];
  ensemble?: { val_loss: Record<string, number>; mean_abs_logit_diff: number; max_abs_logit_diff: number };
  ligo?: { steps: number; lr: number; batch_size: number; first_loss: number; last_loss: number };
  /** Present when the sources' AdamW moments were carried into <out>/optimizer.safetensors. */
  optimizer?: { carried: true; step: number; file: string };
  wall_s: number;
}

/** The compute a grown model is charged for before its own refinement. */
export interface Charged {
  /** The sources the grown weights came from, in source order; `index` is 1-based in `sources`. */
  sources: { index: number; path: string; train_flops: number | null }[];
  /** Sum of the used sources' training FLOPs; null when one of them has no train.json. */
  small_flops: number | null;
  operator_flops: number;
}

/** A source checkpoint's training FLOPs from the train.json the training stage wrote beside it. */
function sourceTrainFlops(dir: string): number | null {
  const file = join(dir, 'train.json');
  if (!existsSync(file)) return null;
  const o = JSON.parse(readFileSync(file, 'utf8')) as { flops?: unknown };
  return typeof o.flops === 'number' ? o.flops : null;
}

function chargedFor(sourceDirs: string[], used: number[], operatorFlops: number): Charged {
  const sources = used.map((i) => ({ index: i + 1, path: sourceDirs[i], train_flops: sourceTrainFlops(sourceDirs[i]) }));
  const small = sources.every((s) => s.train_flops !== null) ? sources.reduce((a, s) => a + (s.train_flops ?? 0), 0) : null;
  return { sources, small_flops: small, operator_flops: operatorFlops };
}

function sha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

/** The large model's config: its shape from params, vocabulary and context from the sources. */
function targetConfig(src: ModelConfig, t: TargetShape): ModelConfig {
  return gptConfig({ vocabSize: src.vocabSize, blockSize: src.blockSize, lnEps: src.lnEps, ...t });
}

/** Per-dataset loss and the token-weighted `combined` mean. */
async function lossTable(cfg: ModelConfig, w: HostWeights, sets: { name: string; batches: Batch[] }[]): Promise<Record<string, number>> {
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

/** Training batches for ligo: the large model's datasets (role "large") concatenated, sampled at random offsets. */
function ligoSampler(tokens: TokenSource[], p: LigoParams, seq: number): BatchSampler {
  const large = tokens.filter((t) => t.roles.includes('large'));
  const use = large.length > 0 ? large : tokens;
  const streams = use.map((t) => readTokens(t.files.train ?? fail(`dataset ${t.name} has no train split in the token meta`)));
  const all = new Uint16Array(streams.reduce((n, s) => n + s.length, 0));
  let o = 0;
  for (const s of streams) {
    all.set(s, o);
    o += s.length;
  }
  return new BatchSampler(all, p.batchSize, seq, p.seed, `ligo training tokens (${use.map((t) => t.name).join(' + ')})`);
}

function fail(msg: string): never {
  throw new GrowthError(msg);
}

/** Grows M1' and writes `out` (model.safetensors, config.json, growth.json) atomically. */
export async function runCombine(o: CombineOptions): Promise<GrowthJson> {
  const t0 = Date.now();
  if (o.sources.length === 0) throw new GrowthError('combine: no source models given; pass --sources DIR (a directory of small-model checkpoints)');
  const sources: SourceModel[] = o.sources.map((dir) => {
    const m = loadModel(dir);
    return { cfg: m.config, weights: m.weights };
  });
  const src = sources[0].cfg;
  const target = targetConfig(src, o.target);
  const plan = parseMethod(o.method);
  const seq = src.blockSize;

  const evalSets = o.tokens.map((t) => {
    const file = t.files[o.eval.split] ?? fail(`dataset ${t.name} has no "${o.eval.split}" split; set growth.eval.split to one of ${Object.keys(t.files).join(', ')}`);
    const count = Math.max(1, Math.floor(o.eval.maxTokens / (o.eval.batchSize * seq)));
    return { name: t.name, batches: fixedBatches(readTokens(file), count, o.eval.batchSize, seq, `${t.name} ${o.eval.split} tokens`) };
  });

  let grown: { cfg: ModelConfig; weights: HostWeights; steps: string[]; used: number[]; moments?: AdamMoments };
  let operatorFlops = 0;
  let ligoInfo: GrowthJson['ligo'];
  let carriedStep: number | undefined;
  if (o.carryOptimizer && plan.width === 'ligo') throw new GrowthError('growth.carry_optimizer is not supported for ligo (its weights are not copies of the sources\'); turn it off for this method');
  if (plan.width === 'ligo') {
    const sampler = ligoSampler(o.tokens, o.ligo, seq);
    const r = await growLigo(sources, target, {
      steps: o.ligo.steps,
      lr: o.ligo.lr,
      depthInit: o.ligo.depthInit,
      batchAt: () => sampler.next(),
      onStep: (step, loss) => o.onProgress?.('ligo', step, o.ligo.steps, { loss }),
    });
    grown = { cfg: r.cfg, weights: r.weights, steps: [`ligo(n=${sources.length}, ${o.ligo.steps} steps, init merge+${o.ligo.depthInit})`], used: sources.map((_, i) => i) };
    operatorFlops = r.flops;
    ligoInfo = { steps: o.ligo.steps, lr: o.ligo.lr, batch_size: o.ligo.batchSize, first_loss: r.losses[0] ?? NaN, last_loss: r.losses.at(-1) ?? NaN };
  } else {
    const moments = o.carryOptimizer ? o.sources.map((dir) => readMoments(dir)) : undefined;
    grown = growHost(o.method, sources, target, o.options, moments);
    if (moments) carriedStep = Math.round(moments.reduce((a, m) => a + m.step, 0) / moments.length);
  }

  o.onProgress?.('evaluate', 0, sources.length + 1);
  const valLoss = await lossTable(grown.cfg, grown.weights, evalSets);
  const sourcesValLoss: Record<string, number>[] = [];
  for (const [i, s] of sources.entries()) {
    o.onProgress?.('evaluate', i + 1, sources.length + 1);
    sourcesValLoss.push(await lossTable(s.cfg, s.weights, evalSets));
  }
  let ensemble: GrowthJson['ensemble'];
  if (sources.length > 1) {
    const gaps: { name: string; g: Awaited<ReturnType<typeof ensembleGap>>; tokens: number }[] = [];
    for (const s of evalSets) gaps.push({ name: s.name, g: await ensembleGap(grown, sources, s.batches), tokens: s.batches.length });
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

  const json: GrowthJson = {
    method: o.name,
    ...backendFields(),
    operator: o.method,
    steps: grown.steps,
    options: { ...o.options, ...(plan.width === 'ligo' ? { ligo: o.ligo } : {}) } as Record<string, unknown>,
    config: grown.cfg,
    sources: o.sources.map((dir) => ({ path: dir, sha256: sha256(join(dir, 'model.safetensors')), config_sha256: sha256(join(dir, 'config.json')) })),
    operator_flops: operatorFlops,
    charged: chargedFor(o.sources, grown.used, operatorFlops),
    val_loss: valLoss,
    sources_val_loss: sourcesValLoss,
    ...(ensemble ? { ensemble } : {}),
    ...(ligoInfo ? { ligo: ligoInfo } : {}),
    ...(grown.moments ? { optimizer: { carried: true, step: carriedStep ?? 0, file: 'optimizer.safetensors' } } : {}),
    wall_s: (Date.now() - t0) / 1000,
  };
  await writeDirAtomic(o.out, (tmp) => {
    saveModel(tmp, grown.cfg, grown.weights, { growth_method: o.name });
    if (grown.moments) writeMoments(tmp, grown.moments, carriedStep ?? 0);
    writeFileSync(join(tmp, 'growth.json'), JSON.stringify(json, null, 2) + '\n');
  });
  return json;
}
