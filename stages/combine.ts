/**
 * Stage `combine`: M1' = the n small models grown into the large model's shape (docs/growth.md).
 *
 *   node --import tsx stages/combine.ts --method <name> --sources <dir> --out <dir> [--tokens artifacts/tokens]
 *
 * --sources is a directory of small-model checkpoints (its numbered subdirectories 1, 2, …, in
 * numeric order) or a comma-separated list of checkpoint directories. --method is a
 * growth.methods entry: an operator composition (fpi, lemon, merge, ligo, + stack|stack_zero) or
 * the name of a growth.variants entry. Writes <out>/model.safetensors, config.json, growth.json.
 *
 * Params keys read (all under growth optional except where the method needs them):
 *   model.large.{n_layer,n_head,n_embd[,n_inner,head_size]}, backend,
 *   growth.variants.<name>.{method, …option overrides}, growth.{symmetry, epsilon, new_units,
 *   off_diagonal, source_index, seed, carry_optimizer}, growth.ligo.{steps, lr, batch_size, depth_init, seed},
 *   growth.eval.{split, batch_size, max_tokens}
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { backendFields, initBackend, type BackendChoice } from '../src/ml/backend/index.ts';
import { loadModel, readModelMoments, saveModel, writeModelMoments } from '../src/ml/core/checkpoint.ts';
import type { ModelConfig } from '../src/ml/core/config.ts';
import { BatchSampler, fixedBatches } from '../src/ml/core/sampler.ts';
import { concatSplit, readSplit, readTokensMeta, TOKENS_DIR, type TokensMeta } from '../src/experiment/artifacts/tokens.ts';
import { type GrowOptions, type SourceModel, parseMethod } from '../src/ml/growth/index.ts';
import { type LigoParams, type TargetShape, growAndScore } from '../src/ml/growth/grow-and-score.ts';
import { GrowthError } from '../src/ml/growth/weights.ts';
import { writeDirAtomic } from '../src/util/atomic-write.ts';
import { loadParams, parseArgs, type Params } from './lib/params.ts';
import { reportProgress } from './lib/progress.ts';
import { splitJsonFile } from '../src/experiment/timings.ts';

/**
 * growth.json, written beside M1':
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
interface GrowthJson {
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
interface Charged {
  /** The sources the grown weights came from, in source order; `index` is 1-based in `sources`. */
  sources: { index: number; path: string; train_flops: number | null }[];
  /** Sum of the used sources' training FLOPs; null when one of them has no train.json. */
  small_flops: number | null;
  operator_flops: number;
}

interface EvalParams {
  /** Token split evaluated ("val"). */
  split: string;
  batchSize: number;
  /** Tokens evaluated per dataset (rounded down to whole batches; at least one batch). */
  maxTokens: number;
}

interface CombineOptions {
  /** growth.methods entry: an operator composition or a growth.variants key. */
  name: string;
  /** Operator composition, e.g. "merge+stack" (the variant's `method`, or `name` itself). */
  method: string;
  options: GrowOptions;
  /** Carry the sources' AdamW moments (their optimizer.safetensors) into <out>/optimizer.safetensors. */
  carryOptimizer?: boolean;
  ligo: LigoParams;
  eval: EvalParams;
  target: TargetShape;
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

function fail(msg: string): never {
  throw new GrowthError(msg);
}

/** Training batches for ligo: the large model's datasets (role "large"; all when none has it), sampled at random offsets. */
function ligoSampler(tokensDir: string, meta: TokensMeta, p: LigoParams, seq: number): BatchSampler {
  const large = meta.sources.filter((t) => t.roles.includes('large'));
  const use = large.length > 0 ? large : meta.sources;
  return new BatchSampler(
    concatSplit(tokensDir, meta, use, 'train'),
    p.batchSize,
    seq,
    p.seed,
    `ligo training tokens (${use.map((t) => t.name).join(' + ')})`,
  );
}

/** Grows M1' from the checkpoints in `sourceDirs` and writes `out` (model.safetensors, config.json, growth.json) atomically. */
async function runCombine(o: CombineOptions, sourceDirs: string[], tokensDir: string, out: string): Promise<GrowthJson> {
  const t0 = Date.now();
  if (sourceDirs.length === 0)
    throw new GrowthError('combine: no source models given; pass --sources DIR (a directory of small-model checkpoints)');
  const sources: SourceModel[] = sourceDirs.map((dir) => {
    const m = loadModel(dir);
    return { cfg: m.config, weights: m.weights };
  });
  const seq = sources[0].cfg.blockSize;
  const meta = readTokensMeta(tokensDir);
  const scoreSets = meta.sources.map((t) => {
    if (!t.splits[o.eval.split])
      fail(`dataset ${t.name} has no "${o.eval.split}" split; set growth.eval.split to one of ${Object.keys(t.splits).join(', ')}`);
    const count = Math.max(1, Math.floor(o.eval.maxTokens / (o.eval.batchSize * seq)));
    return {
      name: t.name,
      batches: fixedBatches(readSplit(tokensDir, t, o.eval.split), count, o.eval.batchSize, seq, `${t.name} ${o.eval.split} tokens`),
    };
  });
  const isLigo = parseMethod(o.method).width === 'ligo';
  if (o.carryOptimizer && isLigo)
    throw new GrowthError(
      "growth.carry_optimizer is not supported for ligo (its weights are not copies of the sources'); turn it off for this method",
    );
  const sampler = isLigo ? ligoSampler(tokensDir, meta, o.ligo, seq) : undefined;
  const g = await growAndScore(sources, {
    method: o.method,
    options: o.options,
    target: o.target,
    ligo: o.ligo,
    ...(sampler ? { ligoBatches: () => sampler.next() } : {}),
    ...(o.carryOptimizer ? { moments: sourceDirs.map((dir) => readModelMoments(dir)) } : {}),
    scoreSets,
    onProgress: (phase, current, total, values) => reportProgress(current, total, { phase, ...values }),
  });
  const json: GrowthJson = {
    method: o.name,
    ...backendFields(),
    operator: o.method,
    steps: g.steps,
    options: { ...o.options, ...(isLigo ? { ligo: o.ligo } : {}) } as Record<string, unknown>,
    config: g.cfg,
    sources: sourceDirs.map((dir) => ({
      path: dir,
      sha256: sha256(join(dir, 'model.safetensors')),
      config_sha256: sha256(join(dir, 'config.json')),
    })),
    operator_flops: g.operatorFlops,
    charged: chargedFor(sourceDirs, g.used, g.operatorFlops),
    val_loss: g.valLoss,
    sources_val_loss: g.sourcesValLoss,
    ...(g.ensemble ? { ensemble: g.ensemble } : {}),
    ...(g.ligo ? { ligo: g.ligo } : {}),
    ...(g.moments ? { optimizer: { carried: true, step: g.momentsStep ?? 0, file: 'optimizer.safetensors' } } : {}),
    wall_s: (Date.now() - t0) / 1000,
  };
  await writeDirAtomic(out, (tmp) => {
    saveModel(tmp, g.cfg, g.weights, { growth_method: o.name });
    if (g.moments) writeModelMoments(tmp, g.moments, g.momentsStep ?? 0, { carried_by: 'growth' });
    writeFileSync(join(tmp, 'growth.json'), JSON.stringify(json, null, 2) + '\n');
  });
  return json;
}

/** Small-model directories under `dir` (numbered subdirectories in numeric order) or a list. */
export function sourceDirs(spec: string): string[] {
  if (spec.includes(','))
    return spec
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
  if (existsSync(join(spec, 'model.safetensors'))) return [spec];
  if (!existsSync(spec)) throw new GrowthError(`--sources ${spec}: no such directory; train the small models first (train_small stages)`);
  const subs = readdirSync(spec)
    .filter((d) => existsSync(join(spec, d, 'model.safetensors')))
    .sort((a, b) => Number(a) - Number(b) || a.localeCompare(b));
  if (subs.length === 0) throw new GrowthError(`--sources ${spec}: no checkpoint subdirectories (with model.safetensors) inside`);
  return subs.map((d) => join(spec, d));
}

/** Options for one method name: growth-wide defaults, then growth.variants.<name> overrides. */
function combineOptions(p: Params, name: string): CombineOptions {
  const variant = p.opt<Record<string, unknown> | null>(`growth.variants.${name}`, null) ?? {};
  const pick = <T>(key: string, fallback: T): T => (key in variant ? (variant[key] as T) : p.opt<T>(`growth.${key}`, fallback));
  const ligo = { ...p.opt<Record<string, unknown>>('growth.ligo', {}), ...((variant.ligo as Record<string, unknown>) ?? {}) };
  const ev = p.opt<Record<string, unknown>>('growth.eval', {});
  const large = p.get<Record<string, number>>('model.large');
  return {
    name,
    method: typeof variant.method === 'string' ? variant.method : name,
    options: {
      symmetry: pick('symmetry', 'none'),
      epsilon: pick<number | undefined>('epsilon', undefined),
      newUnits: pick('new_units', 'copy'),
      offDiagonal: pick('off_diagonal', 0),
      sourceIndex: pick('source_index', 0),
      seed: pick('seed', 0),
    },
    carryOptimizer: pick<boolean>('carry_optimizer', false) === true,
    ligo: {
      steps: Number(ligo.steps ?? 100),
      lr: Number(ligo.lr ?? 1e-3),
      batchSize: Number(ligo.batch_size ?? 16),
      depthInit: ligo.depth_init === 'stack' ? 'stack' : 'stack_zero',
      seed: Number(ligo.seed ?? 0),
    },
    eval: { split: String(ev.split ?? 'val'), batchSize: Number(ev.batch_size ?? 16), maxTokens: Number(ev.max_tokens ?? 16384) },
    target: { nLayer: large.n_layer, nHead: large.n_head, nEmbd: large.n_embd, nInner: large.n_inner, headSize: large.head_size },
  };
}

async function main(): Promise<void> {
  const args = parseArgs();
  for (const k of ['method', 'sources', 'out'])
    if (!args[k])
      throw new GrowthError(
        `combine: missing --${k}; usage: stages/combine.ts --method merge --sources artifacts/models/s1/small --out artifacts/models/s1/m1p/merge`,
      );
  const p = loadParams(args.params);
  await initBackend(p.opt<string>('backend', 'auto') as BackendChoice);
  const out = resolve(args.out);
  const json = await runCombine(combineOptions(p, args.method), sourceDirs(args.sources), args.tokens ?? TOKENS_DIR, out);
  // Its wall time goes to artifacts/timings/… (declared `verify: false`); growth.json keeps the rest.
  splitJsonFile(join(out, 'growth.json'));
  const fmt = (t: Record<string, number>) => t.combined.toFixed(4);
  process.stdout.write(
    `combine ${json.method}: ${json.steps.join(' | ')}; val loss ${fmt(json.val_loss)} (sources ${json.sources_val_loss.map(fmt).join(', ')}` +
      `${json.ensemble ? `; exact ensemble ${fmt(json.ensemble.val_loss)}` : ''}); operator FLOPs ${json.operator_flops.toExponential(3)}\n`,
  );
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((e: Error) => {
    process.stderr.write(`combine: ${e.message}\n`);
    process.exit(e instanceof GrowthError ? 2 : 1);
  });
}
