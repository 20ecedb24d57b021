/**
 * The training loop: AdamW with warmup + cosine decay and global-norm clipping, seeded data order,
 * evaluation every N steps on a fixed validation set, a JSONL metrics log, progress reported to a
 * callback (stage programs turn it into the runner's `::progress` lines), and periodic resume
 * checkpoints. Same options + same backend ⇒ byte-identical final
 * weights, also when the run is killed and resumed (every piece of state is checkpointed exactly:
 * weights, moments, step, sampler RNG, pending losses, wall time).
 *
 * Output directory:
 *   model.safetensors, config.json   final weights (Hugging Face GPT-2 layout)
 *   optimizer.safetensors            final AdamW moments (m.*, v.*) and step, for growth to carry
 *   metrics.jsonl                    one line per evaluation
 *   train.json                       run summary
 *   resume/                          latest checkpoint (deleted when the run completes)
 */
import { createHash } from 'node:crypto';
import { appendFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { paramCount, type HostWeights, type ModelConfig } from './config.ts';
import { backendFields } from '../backend/index.ts';
import { checkAgainstConfig, loadResume, saveModel, saveResume, writeModelMoments } from './checkpoint.ts';
import { writeFileAtomic } from '../../util/atomic-write.ts';
import { evaluateBatches } from './score.ts';
import { stepFlops } from './flops.ts';
import { initWeights } from './model.ts';
import { AdamW } from './adamw.ts';
import { BatchSampler, fixedBatches, type Batch } from './sampler.ts';
import { lrAt } from './schedule.ts';
import { createStepper } from './step.ts';

export interface TrainOptions {
  config: ModelConfig;
  train: Uint16Array;
  val: Uint16Array;
  steps: number;
  batch: number;
  seq: number;
  lr: number;
  minLr: number;
  warmupSteps: number;
  weightDecay: number;
  beta1: number;
  beta2: number;
  /** Adam epsilon (default 1e-8). */
  eps?: number;
  /** Global gradient-norm clip (0 disables). */
  clip: number;
  /** Equal slices each batch is split into, their gradients averaged (default 1; must divide batch). */
  microBatches?: number;
  /** Threads computing the micro-batches (default 1). Changes speed only, never a result bit. */
  workers?: number;
  /** Initialisation seed (ignored when initialWeights is given). */
  seed: number;
  /** Data-order seed, separate from `seed` so differently initialised models see the same batches. */
  dataSeed: number;
  evalEvery: number;
  evalBatches: number;
  /** Steps between resume checkpoints (0: never). */
  checkpointEvery: number;
  outDir: string;
  /** Start from these weights (e.g. a grown model) instead of a fresh init. */
  initialWeights?: HostWeights;
  /** Carry AdamW moments (and their step count, for bias correction) into this run. */
  initialMoments?: { m: HostWeights; v: HostWeights; step?: number };
  /** Warmup length to use instead of warmupSteps (e.g. a short re-warmup when refining). */
  rewarmupSteps?: number;
  /** Called after every step with the latest training loss and validation loss (NaN before the first evaluation). */
  onProgress?: (step: number, total: number, values: { loss: number; val: number }) => void;
  /** Called after each resume checkpoint is written (tests use it to kill a run mid-way). */
  onCheckpoint?: (step: number) => void | Promise<void>;
}

export interface MetricsLine {
  step: number;
  backend: string;
  /** The GPU adapter, on webgpu only. */
  adapter?: string;
  tokens: number;
  flops: number;
  wall_s: number;
  train_loss: number | null;
  val_loss: number;
  lr: number;
}

export interface TrainSummary {
  backend: string;
  /** The GPU adapter, on webgpu only. */
  adapter?: string;
  config: ModelConfig;
  params: number;
  micro_batches: number;
  workers: number;
  steps: number;
  tokens: number;
  flops: number;
  flops_per_step: number;
  wall_s: number;
  ms_per_step: number;
  final_train_loss: number | null;
  final_val_loss: number;
  final_val_accuracy: number;
  peak_rss_mb: number;
  resumed_from_step: number | null;
  weight_decay_rule: string;
}

export class TrainOptionsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TrainOptionsError';
  }
}

function validate(o: TrainOptions): void {
  const pos = ['steps', 'batch', 'seq', 'evalEvery', 'evalBatches'] as const;
  for (const k of pos)
    if (!Number.isInteger(o[k]) || o[k] <= 0) throw new TrainOptionsError(`train option ${k} must be a positive integer, got ${o[k]}`);
  const k = o.microBatches ?? 1;
  if (!Number.isInteger(k) || k < 1 || o.batch % k !== 0)
    throw new TrainOptionsError(`train option microBatches must be a positive integer dividing batch ${o.batch}, got ${k}`);
  const w = o.workers ?? 1;
  if (!Number.isInteger(w) || w < 1) throw new TrainOptionsError(`train option workers must be a positive integer, got ${w}`);
  if (o.seq > o.config.blockSize)
    throw new TrainOptionsError(`train option seq ${o.seq} exceeds the model's blockSize ${o.config.blockSize}`);
  if (!(o.lr > 0) || !(o.minLr >= 0)) throw new TrainOptionsError(`train options need lr > 0 and minLr >= 0 (got ${o.lr}, ${o.minLr})`);
  if (!(o.beta1 >= 0 && o.beta1 < 1 && o.beta2 >= 0 && o.beta2 < 1))
    throw new TrainOptionsError(`beta1/beta2 must be in [0, 1) (got ${o.beta1}, ${o.beta2})`);
}

function hashTokens(t: Uint16Array): string {
  return createHash('sha256')
    .update(Buffer.from(t.buffer, t.byteOffset, t.byteLength))
    .digest('hex')
    .slice(0, 16);
}

function hashHost(w: HostWeights | undefined): string | null {
  if (!w) return null;
  const h = createHash('sha256');
  for (const [k, v] of [...w].sort(([a], [b]) => (a < b ? -1 : 1)))
    h.update(k).update(Buffer.from(v.data.buffer, v.data.byteOffset, v.data.byteLength));
  return h.digest('hex').slice(0, 16);
}

/** What makes two runs the same run (a resume checkpoint is only used when this matches). */
function optionsKey(o: TrainOptions): string {
  // workers is left out: it changes speed, not results, so a resume may use a different count.
  const { train, val, outDir, onCheckpoint, initialWeights, initialMoments, onProgress, workers, ...rest } = o;
  void workers;
  void outDir;
  void onCheckpoint;
  void onProgress;
  return createHash('sha256')
    .update(
      JSON.stringify({
        rest,
        train: hashTokens(train),
        val: hashTokens(val),
        init: hashHost(initialWeights),
        m: hashHost(initialMoments?.m),
        v: hashHost(initialMoments?.v),
        mstep: initialMoments?.step ?? null,
      }),
    )
    .digest('hex');
}

const WEIGHT_DECAY_RULE = 'decay tensors with >= 2 dims (matrices, token and position embeddings); no decay on biases and LayerNorm';

export async function train(o: TrainOptions): Promise<TrainSummary> {
  validate(o);
  const cfg = o.config;
  const { backend, adapter } = backendFields();
  const adapterField = adapter ? { adapter } : {};
  mkdirSync(o.outDir, { recursive: true });
  const resumeDir = join(o.outDir, 'resume');
  const metricsPath = join(o.outDir, 'metrics.jsonl');
  const key = optionsKey(o);
  const flopsPerStep = stepFlops(cfg, o.batch, o.seq).training;
  const tokensPerStep = o.batch * o.seq;
  const schedule = { lr: o.lr, minLr: o.minLr, warmupSteps: o.rewarmupSteps ?? o.warmupSteps, totalSteps: o.steps };

  if (o.initialWeights) checkAgainstConfig('initial weights', cfg, o.initialWeights);
  const opt = new AdamW(
    cfg,
    { beta1: o.beta1, beta2: o.beta2, eps: o.eps ?? 1e-8, weightDecay: o.weightDecay, clip: o.clip },
    o.initialWeights ?? initWeights(cfg, o.seed),
  );
  if (o.initialMoments) {
    opt.load(opt.m, o.initialMoments.m, 'initial moments (m)');
    opt.load(opt.v, o.initialMoments.v, 'initial moments (v)');
    opt.step = o.initialMoments.step ?? 0;
  }
  let step = 0;
  let wallSeconds = 0;
  let samplerSeed: number | [number, number, number, number] = o.dataSeed;
  let pendingLosses: number[] = [];
  let resumedFrom: number | null = null;

  const resume = existsSync(resumeDir) ? loadResume(resumeDir, cfg) : null;
  if (resume && resume.state.optionsKey === key) {
    opt.load(opt.params, resume.params, 'resume weights');
    opt.load(opt.m, resume.m, 'resume moments (m)');
    opt.load(opt.v, resume.v, 'resume moments (v)');
    opt.step = resume.state.optimizerStep;
    step = resume.state.step;
    wallSeconds = resume.state.wallSeconds;
    samplerSeed = resume.state.samplerState;
    pendingLosses = resume.state.pendingLosses;
    resumedFrom = step;
    // Metrics after the checkpoint will be produced again, identically.
    const kept = existsSync(metricsPath)
      ? readFileSync(metricsPath, 'utf8')
          .split('\n')
          .filter((l) => l.trim() && (JSON.parse(l) as MetricsLine).step <= step)
      : [];
    writeFileAtomic(metricsPath, kept.map((l) => l + '\n').join(''));
  } else {
    if (resume) process.stderr.write(`${resumeDir}: checkpoint is from a run with different options; starting afresh\n`);
    rmSync(resumeDir, { recursive: true, force: true });
    writeFileSync(metricsPath, '');
  }

  const sampler = new BatchSampler(o.train, o.batch, o.seq, samplerSeed);
  const valBatches: Batch[] = fixedBatches(o.val, o.evalBatches, o.batch, o.seq);
  const stepper = await createStepper(cfg, opt, { microBatches: o.microBatches ?? 1, workers: o.workers ?? 1 });
  const stepperThreads = stepper.threads;
  let lastVal = NaN;
  let lastValAcc = NaN;
  let lastTrain: number | null = null;

  const evaluate = async (): Promise<void> => {
    const r = await evaluateBatches(cfg, stepper.weights(), valBatches);
    lastVal = r.loss;
    lastValAcc = r.accuracy;
    lastTrain = pendingLosses.length ? pendingLosses.reduce((a, b) => a + b, 0) / pendingLosses.length : null;
    pendingLosses = [];
    const line: MetricsLine = {
      step,
      backend,
      ...adapterField,
      tokens: step * tokensPerStep,
      flops: step * flopsPerStep,
      wall_s: Number(wallSeconds.toFixed(3)),
      train_loss: lastTrain,
      val_loss: r.loss,
      lr: lrAt(schedule, Math.max(0, step - 1)),
    };
    appendFileSync(metricsPath, JSON.stringify(line) + '\n');
  };

  try {
    if (step === 0) await evaluate();
    while (step < o.steps) {
      const batch = sampler.next();
      const lr = lrAt(schedule, step);
      const t0 = performance.now();
      const loss = await stepper.step(batch, lr);
      wallSeconds += (performance.now() - t0) / 1000;
      pendingLosses.push(loss);
      step++;
      if (!Number.isFinite(loss)) throw new Error(`training diverged: loss ${loss} at step ${step}; lower lr (${o.lr}) or check the data`);
      if (step % o.evalEvery === 0 || step === o.steps) await evaluate();
      o.onProgress?.(step, o.steps, { loss, val: lastVal });
      if (o.checkpointEvery > 0 && step % o.checkpointEvery === 0 && step < o.steps) {
        saveResume(resumeDir, cfg, opt.view(opt.params), opt.view(opt.m), opt.view(opt.v), {
          step,
          tokens: step * tokensPerStep,
          wallSeconds,
          samplerState: sampler.state(),
          optimizerStep: opt.step,
          optionsKey: key,
          pendingLosses,
        });
        await o.onCheckpoint?.(step);
      }
    }
  } finally {
    stepper.dispose();
  }

  saveModel(o.outDir, cfg, opt.view(opt.params), { step: String(step), backend });
  writeModelMoments(o.outDir, { m: opt.view(opt.m), v: opt.view(opt.v) }, opt.step);
  rmSync(resumeDir, { recursive: true, force: true });
  const summary: TrainSummary = {
    backend,
    ...adapterField,
    config: cfg,
    params: paramCount(cfg),
    micro_batches: o.microBatches ?? 1,
    workers: stepperThreads,
    steps: step,
    tokens: step * tokensPerStep,
    flops: step * flopsPerStep,
    flops_per_step: flopsPerStep,
    wall_s: Number(wallSeconds.toFixed(3)),
    ms_per_step: Number(((wallSeconds * 1000) / Math.max(1, step)).toFixed(2)),
    final_train_loss: lastTrain,
    final_val_loss: lastVal,
    final_val_accuracy: lastValAcc,
    peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
    resumed_from_step: resumedFrom,
    weight_decay_rule: WEIGHT_DECAY_RULE,
  };
  writeFileAtomic(join(o.outDir, 'train.json'), JSON.stringify(summary, null, 2) + '\n');
  return summary;
}
