/**
 * Stage programs `train_small@<i>-<seed>`, `train_m0@<seed>` and `refine@<method>-<seed>`: one
 * training run of the experiment (src/ml/core/train.ts does the training).
 *
 *   node --import tsx stages/train.ts --role small --index <i> --seed <s>   small model on role-"small" data (D1)
 *   node --import tsx stages/train.ts --role m0 --seed <s>                  large model from scratch on role-"large" data (D1+D2)
 *   node --import tsx stages/train.ts --role m1 --method <m> --seed <s>     M1' (combine's out) refined on role-"large" data
 *   node --import tsx stages/train.ts --role cont --seed <s>                small model continue.source trained on at its own
 *                                                                          width on role-"large" data (the baseline growth must beat)
 *
 * The study (stages/study.ts, pipeline stages study_*) trains the same runs under other names:
 *   --method <m> alone picks the role from the name (m0, small_cont, or a growth method);
 *   --full-val also scores the final model on the whole validation split (train.json `full_val`);
 *   --lr / --warmup override the role's peak lr and warmup; --select FILE reads them from the
 *   study_select stage's selected.json instead; --budget <b> multiplies the role's step count
 *   (for small_cont: the M0 budget its total compute is matched to); --out / --work put the
 *   model and its resume directory elsewhere than artifacts/models / artifacts/ckpt.
 *
 * M0 and every M1 of a seed share the data seed, batch size, optimizer and schedule shape, so they
 * see the same batches in the same order. The run trains inside its resume directory
 * artifacts/ckpt/… (a persist out: a killed run resumes from it) and moves the finished model
 * (model.safetensors, config.json, optimizer.safetensors, metrics.jsonl, train.json) to its
 * model directory artifacts/models/….
 *
 * Params keys read: model.block_size, backend, train.{batch_size, weight_decay, beta1, beta2,
 * grad_clip, min_lr_ratio, eval_every, eval_batches, checkpoint_every, micro_batches}, and per role
 * model.small + small.{steps, lr, warmup} | model.large + m0.{steps, lr, warmup} |
 * refine.{steps, lr, warmup} | continue.{source, lr, warmup} + m0.steps + small.steps + model.small +
 * model.large (the continued small model's step count is derived: see continueSteps).
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join, resolve } from 'node:path';
import { splitJsonFile, splitJsonlFile } from '../src/experiment/timings.ts';
import { CONTINUE_METHOD, ckptDir, derivedSeeds, modelRef, type ModelRef } from '../src/experiment/artifacts/layout.ts';
import { stepFlops } from '../src/ml/core/flops.ts';
import { initBackend, type BackendChoice } from '../src/ml/backend/index.ts';
import { loadModel, MOMENTS_FILE, type ModelMoments, readModelMoments } from '../src/ml/core/checkpoint.ts';
import type { HostWeights, ModelConfig } from '../src/ml/core/config.ts';
import { evaluateStream } from '../src/ml/core/score.ts';
import { toTensors } from '../src/ml/core/model.ts';
import * as tf from '../src/ml/backend/tf.ts';
import { train } from '../src/ml/core/train.ts';
import { runMain } from './lib/main.ts';
import { modelConfigFromParams } from './lib/models.ts';
import { loadParams, parseArgs, type Params } from './lib/params.ts';
import { reportProgress } from './lib/progress.ts';
import { concatSplit, readTokensMeta, sourcesFor, TOKENS_DIR } from '../src/experiment/artifacts/tokens.ts';

const MODEL_FILES = ['model.safetensors', 'config.json', 'optimizer.safetensors', 'metrics.jsonl', 'train.json'];

/** The role a study method name stands for. */
function roleOf(method: string): string {
  return method === 'm0' ? 'm0' : method === CONTINUE_METHOD ? 'cont' : 'm1';
}

function refFromArgs(args: Record<string, string>, sourceIndex: number): ModelRef {
  const seed = Number(args.seed);
  if (!Number.isInteger(seed)) throw new Error(`--seed must be an integer, got ${JSON.stringify(args.seed)}`);
  switch (args.role ?? (args.method ? roleOf(args.method) : undefined)) {
    case 'small': {
      const index = Number(args.index);
      if (!Number.isInteger(index)) throw new Error(`--role small needs --index <i>, got ${JSON.stringify(args.index)}`);
      return modelRef('small', seed, { index });
    }
    case 'm0':
      return modelRef('m0', seed);
    case 'm1':
      if (!args.method) throw new Error('--role m1 needs --method <growth method>');
      if (args.method === CONTINUE_METHOD) throw new Error(`--method ${CONTINUE_METHOD} is the continued small model: use --role cont`);
      return modelRef('m1', seed, { method: args.method });
    case 'cont':
      return modelRef('m1', seed, { method: CONTINUE_METHOD, index: sourceIndex });
    default:
      throw new Error(`--role must be small, m0, m1 or cont, got ${JSON.stringify(args.role)}`);
  }
}

/** AdamW moments combine carried over into M1' (growth.carry_optimizer), if it wrote them. */
function carriedMoments(dir: string): ModelMoments | undefined {
  return existsSync(join(dir, MOMENTS_FILE)) ? readModelMoments(dir) : undefined;
}

/**
 * Threads for the micro-batches: GROW_TRAIN_WORKERS, else one per micro-batch up to the cores this
 * stage was given (the runner's GROW_CPUS, a Slurm job's SLURM_CPUS_PER_TASK, else the machine's).
 * An environment variable rather than a param because it changes speed, never results.
 */
function trainWorkers(microBatches: number): number {
  const env = process.env.GROW_TRAIN_WORKERS;
  const cores = Number(process.env.GROW_CPUS || process.env.SLURM_CPUS_PER_TASK || availableParallelism());
  if (env === undefined || env === '') return Math.max(1, Math.min(microBatches, Number.isInteger(cores) ? cores : 1));
  const n = Number(env);
  if (!Number.isInteger(n) || n < 1) throw new Error(`GROW_TRAIN_WORKERS must be a positive integer, got ${JSON.stringify(env)}`);
  return n;
}

function schedule(p: Params, section: 'small' | 'm0' | 'refine' | 'continue', steps = p.num(`${section}.steps`)) {
  const lr = p.num(`${section}.lr`);
  return { steps, lr, minLr: lr * p.num('train.min_lr_ratio'), warmupSteps: p.num(`${section}.warmup`) };
}

/**
 * Steps of the continued small model: enough that its whole cost — its own training on D1 plus
 * the continuation — equals M0's training FLOPs, so it is compared with M0 at M0's budget and with
 * every M1 at any budget up to that on the same total-compute axis.
 */
function continueSteps(p: Params, vocabSize: number, budget = 1): number {
  const batch = p.num('train.batch_size');
  const seq = p.num('model.block_size');
  const small = stepFlops(modelConfigFromParams(p, 'small', vocabSize), batch, seq).training;
  const large = stepFlops(modelConfigFromParams(p, 'large', vocabSize), batch, seq).training;
  const left = Math.round(p.num('m0.steps') * budget) * large - p.num('small.steps') * small;
  if (left <= 0)
    throw new Error(
      `${p.file}: the small model's training (small.steps) already costs more than M0's (m0.steps); nothing is left to continue it with`,
    );
  return Math.floor(left / small);
}

/** --lr/--warmup, or this method's entry of a study_select selected.json (--select). */
function hyperOverrides(args: Record<string, string>, method: string): { lr?: number; warmup?: number } {
  const out: { lr?: number; warmup?: number } = {};
  if (args.select) {
    let sel: { selected?: Record<string, { lr: number; warmup: number }> };
    try {
      sel = JSON.parse(readFileSync(args.select, 'utf8'));
    } catch (e) {
      throw new Error(`--select ${args.select}: cannot read the selection (${(e as Error).message}); run the study_select stage first`);
    }
    const pick = sel.selected?.[method];
    if (!pick)
      throw new Error(`--select ${args.select}: no selected lr/warmup for "${method}"; add it to study.methods and re-run study_select`);
    out.lr = pick.lr;
    out.warmup = pick.warmup;
  }
  for (const k of ['lr', 'warmup'] as const) {
    if (args[k] === undefined) continue;
    const v = Number(args[k]);
    if (!Number.isFinite(v) || v < 0) throw new Error(`--${k} must be a non-negative number, got ${JSON.stringify(args[k])}`);
    out[k] = v;
  }
  return out;
}

/** Loss and accuracy of the model in `dir` on every window of `tokens`. */
async function scoreFullSplit(
  dir: string,
  tokens: Uint16Array,
  batch: number,
): Promise<{ loss: number; accuracy: number; tokens: number }> {
  const { config, weights } = loadModel(dir);
  const tensors = toTensors(weights);
  try {
    const r = await evaluateStream(config, tensors, tokens, { seq: config.blockSize, batch });
    return { loss: r.loss, accuracy: r.accuracy, tokens: r.tokens };
  } finally {
    tf.dispose(Object.values(tensors));
  }
}

async function main(): Promise<void> {
  const args = parseArgs();
  const params = loadParams(args.params);
  const root = resolve(process.env.GROW_ROOT ?? '.');
  const role = args.role ?? (args.method ? roleOf(args.method) : undefined);
  const ref = refFromArgs(args, role === 'cont' ? params.num('continue.source') : 0);
  const continued = ref.method === CONTINUE_METHOD;
  await initBackend(params.str('backend') as BackendChoice);

  const tokensDir = join(root, TOKENS_DIR);
  const meta = readTokensMeta(tokensDir);
  const sources = sourcesFor(meta, ref.role === 'small' ? 'small' : 'large');
  const trainTokens = concatSplit(tokensDir, meta, sources, 'train');
  const valTokens = concatSplit(tokensDir, meta, sources, 'val');

  let config: ModelConfig;
  let initialWeights: HostWeights | undefined;
  let initialMoments: ReturnType<typeof carriedMoments>;
  if (continued) {
    const from = loadModel(join(root, modelRef('small', ref.seed, { index: ref.index }).dir));
    config = from.config;
    initialWeights = from.weights;
  } else if (ref.role === 'm1') {
    const grownDir = join(root, modelRef('m1p', ref.seed, { method: ref.method }).dir);
    const grown = loadModel(grownDir);
    config = grown.config;
    initialWeights = grown.weights;
    initialMoments = carriedMoments(grownDir);
  } else {
    config = modelConfigFromParams(params, ref.role === 'small' ? 'small' : 'large', meta.vocab_size);
  }
  if (config.blockSize !== params.num('model.block_size')) {
    throw new Error(
      `${ref.id}: the model's context ${config.blockSize} differs from model.block_size ${params.num('model.block_size')}; re-run combine`,
    );
  }

  const seeds = derivedSeeds(ref);
  if ((args.out === undefined) !== (args.work === undefined))
    throw new Error('give --out and --work together (the model directory and its resume directory)');
  const work = join(root, args.work ?? ckptDir(ref));
  const out = join(root, args.out ?? ref.dir);
  const budget = args.budget === undefined ? 1 : Number(args.budget);
  if (!(budget > 0))
    throw new Error(`--budget must be a positive number (a multiple of the configured steps), got ${JSON.stringify(args.budget)}`);
  const section = continued ? 'continue' : ref.role === 'small' ? 'small' : ref.role === 'm0' ? 'm0' : 'refine';
  const plan = continued
    ? schedule(params, 'continue', continueSteps(params, meta.vocab_size, budget))
    : schedule(params, section, Math.round(params.num(`${section}.steps`) * budget));
  const chosen = hyperOverrides(args, ref.method ?? ref.role);
  if (chosen.lr !== undefined) Object.assign(plan, { lr: chosen.lr, minLr: chosen.lr * params.num('train.min_lr_ratio') });
  if (chosen.warmup !== undefined) plan.warmupSteps = chosen.warmup;
  console.log(
    `${ref.id}: d${config.nEmbd} L${config.nLayer} h${config.nHead} on ${sources.map((s) => s.name).join(' + ')} (${trainTokens.length} training tokens); init seed ${seeds.init}, data seed ${seeds.data}${continued ? `, from small model ${ref.index}` : initialWeights ? ", from M1'" : ''}${initialMoments ? ' with carried AdamW moments' : ''}`,
  );
  const summary = await train({
    config,
    train: trainTokens,
    val: valTokens,
    ...plan,
    batch: params.num('train.batch_size'),
    seq: params.num('model.block_size'),
    weightDecay: params.num('train.weight_decay'),
    beta1: params.num('train.beta1'),
    beta2: params.num('train.beta2'),
    clip: params.num('train.grad_clip'),
    seed: seeds.init,
    dataSeed: seeds.data,
    evalEvery: params.num('train.eval_every'),
    evalBatches: params.num('train.eval_batches'),
    checkpointEvery: params.num('train.checkpoint_every'),
    microBatches: params.num('train.micro_batches'),
    workers: trainWorkers(params.num('train.micro_batches')),
    outDir: work,
    onProgress: (step, total, values) => reportProgress(step, total, values),
    ...(initialWeights ? { initialWeights } : {}),
    ...(initialMoments ? { initialMoments } : {}),
  });

  // The finished model moves to its out; the (now empty) resume directory stays as the persist out.
  rmSync(out, { recursive: true, force: true });
  mkdirSync(out, { recursive: true });
  for (const f of MODEL_FILES) if (existsSync(join(work, f))) renameSync(join(work, f), join(out, f));
  // Wall time, ms/step and RSS go to artifacts/timings/… (an out declared `verify: false`), so the
  // model's out holds only what the same code and inputs reproduce bit for bit.
  // The periodic evaluations read train.eval_batches batches (a few thousand tokens) to keep the
  // curves cheap; --full-val scores the final model once on the whole validation split, so that
  // the study selects and reports on the full split rather than on that sample.
  if (args['full-val'] === 'true') {
    const full = await scoreFullSplit(out, valTokens, params.num('eval.batch_size'));
    const file = join(out, 'train.json');
    writeFileSync(file, JSON.stringify({ ...JSON.parse(readFileSync(file, 'utf8')), full_val: full }, null, 2) + '\n');
    console.log(`${ref.id}: full validation split: loss ${full.loss.toFixed(4)} on ${full.tokens} tokens`);
  }
  splitJsonFile(join(out, 'train.json'), root);
  splitJsonlFile(join(out, 'metrics.jsonl'), root);
  console.log(
    `${ref.id}: ${summary.steps} steps, ${(summary.flops / 1e12).toFixed(4)} TFLOPs in ${summary.wall_s.toFixed(1)} s ` +
      `(${summary.ms_per_step} ms/step, ${summary.backend}); final val loss ${summary.final_val_loss.toFixed(4)}`,
  );
}

runMain(import.meta, 'train', main);
