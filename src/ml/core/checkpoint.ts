/**
 * Model checkpoints in the Hugging Face layout — `model.safetensors` + `config.json` (GPT-2 keys,
 * so `transformers.GPT2LMHeadModel.from_pretrained(dir)` loads them) — and the resume state of a
 * training run (weights, AdamW moments, step, sampler and RNG state, cumulative wall time).
 */
import { existsSync, mkdirSync, readFileSync, rmSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../../util/atomic-write.ts';
import { paramCount, weightShapes, type HostWeights, type ModelConfig } from './config.ts';
import { readSafetensors, writeSafetensors, SafetensorsError } from './safetensors.ts';
import type { RngState } from './rng.ts';

export class CheckpointError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CheckpointError';
  }
}

/** HF GPT-2 config.json for a ModelConfig, plus our own config under `growline`. */
function hfConfig(cfg: ModelConfig): Record<string, unknown> {
  return {
    model_type: 'gpt2',
    architectures: ['GPT2LMHeadModel'],
    vocab_size: cfg.vocabSize,
    n_positions: cfg.blockSize,
    n_ctx: cfg.blockSize,
    n_embd: cfg.nEmbd,
    n_layer: cfg.nLayer,
    n_head: cfg.nHead,
    n_inner: cfg.nInner,
    layer_norm_epsilon: cfg.lnEps,
    activation_function: 'gelu_new',
    tie_word_embeddings: true,
    resid_pdrop: 0,
    embd_pdrop: 0,
    attn_pdrop: 0,
    bos_token_id: 0,
    eos_token_id: 0,
    growline: { ...cfg, params: paramCount(cfg) },
  };
}

const CONFIG_KEYS: (keyof ModelConfig)[] = ['vocabSize', 'blockSize', 'nLayer', 'nHead', 'nEmbd', 'headSize', 'nInner', 'lnEps'];

function configFromJson(path: string, j: Record<string, unknown>): ModelConfig {
  const g = j.growline as Record<string, unknown> | undefined;
  if (g && typeof g === 'object') {
    for (const k of CONFIG_KEYS) {
      if (typeof g[k] !== 'number' || !(Number(g[k]) > 0))
        throw new CheckpointError(`${path}: growline.${k} must be a positive number, got ${JSON.stringify(g[k])}`);
    }
    return Object.fromEntries(CONFIG_KEYS.map((k) => [k, g[k]])) as unknown as ModelConfig;
  }
  // A plain HF GPT-2 config (no growline block): derive ours from the standard keys.
  const need = ['vocab_size', 'n_positions', 'n_layer', 'n_head', 'n_embd'];
  for (const k of need)
    if (typeof j[k] !== 'number') throw new CheckpointError(`${path}: missing numeric "${k}" (and no "growline" block)`);
  const nEmbd = j.n_embd as number;
  const nHead = j.n_head as number;
  return {
    vocabSize: j.vocab_size as number,
    blockSize: j.n_positions as number,
    nLayer: j.n_layer as number,
    nHead,
    nEmbd,
    headSize: nEmbd / nHead,
    nInner: typeof j.n_inner === 'number' ? j.n_inner : 4 * nEmbd,
    lnEps: typeof j.layer_norm_epsilon === 'number' ? j.layer_norm_epsilon : 1e-5,
  };
}

/** Checks a set of named tensors against the names and shapes a config requires. */
export function checkAgainstConfig(file: string, cfg: ModelConfig, tensors: HostWeights, prefix = ''): void {
  const expected = weightShapes(cfg);
  const names = new Set(expected.map((e) => prefix + e.name));
  for (const { name, shape } of expected) {
    const t = tensors.get(prefix + name);
    if (!t) throw new CheckpointError(`${file}: missing tensor "${prefix + name}" required by the config (shape [${shape}])`);
    if (t.shape.length !== shape.length || t.shape.some((s, i) => s !== shape[i])) {
      throw new CheckpointError(`${file}: tensor "${prefix + name}" has shape [${t.shape}] but the config needs [${shape}]`);
    }
  }
  for (const name of tensors.keys()) {
    if (!names.has(name)) throw new CheckpointError(`${file}: unexpected tensor "${name}" (not part of a model with this config)`);
  }
}

/** Saves a model as model.safetensors + config.json in `dir` (created if needed). */
export function saveModel(dir: string, cfg: ModelConfig, weights: HostWeights, metadata: Record<string, string> = {}): void {
  mkdirSync(dir, { recursive: true });
  checkAgainstConfig(join(dir, 'model.safetensors'), cfg, weights);
  const ordered = weightShapes(cfg).map(({ name }) => [name, weights.get(name)!] as [string, { shape: number[]; data: Float32Array }]);
  writeSafetensors(join(dir, 'model.safetensors'), ordered, { format: 'pt', ...metadata });
  writeFileAtomic(join(dir, 'config.json'), JSON.stringify(hfConfig(cfg), null, 2) + '\n');
}

function readConfig(dir: string): ModelConfig {
  const path = join(dir, 'config.json');
  let j: unknown;
  try {
    j = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new CheckpointError(
      `${path}: ${code ? `cannot read (${code}); is ${dir} a model directory?` : `not valid JSON (${(e as Error).message})`}`,
    );
  }
  if (typeof j !== 'object' || j === null) throw new CheckpointError(`${path}: not a JSON object`);
  return configFromJson(path, j as Record<string, unknown>);
}

/** Loads and validates a model directory written by saveModel (or a compatible HF GPT-2 one). */
export function loadModel(dir: string): { config: ModelConfig; weights: HostWeights; metadata: Record<string, string> } {
  const config = readConfig(dir);
  const file = join(dir, 'model.safetensors');
  const { tensors, metadata } = readSafetensors(file);
  checkAgainstConfig(file, config, tensors);
  return { config, weights: tensors, metadata };
}

/** Everything besides weights and moments needed to continue a run exactly. */
export interface ResumeState {
  step: number;
  tokens: number;
  /** Cumulative seconds spent in training steps, over all sessions. */
  wallSeconds: number;
  samplerState: RngState;
  optimizerStep: number;
  /** Identity of the run's options; a checkpoint from different options is not resumed. */
  optionsKey: string;
  /** Train losses accumulated since the last evaluation (they feed the next metrics line). */
  pendingLosses: number[];
}

/**
 * Writes a resume checkpoint as `dir/step-<n>/` then points `dir/latest.json` at it (atomic
 * rename), then deletes older step directories: a kill at any moment leaves a complete one.
 */
export function saveResume(dir: string, cfg: ModelConfig, params: HostWeights, m: HostWeights, v: HostWeights, state: ResumeState): void {
  const name = `step-${state.step}`;
  const sub = join(dir, name);
  rmSync(sub, { recursive: true, force: true });
  mkdirSync(sub, { recursive: true });
  const order = weightShapes(cfg).map((w) => w.name);
  writeSafetensors(
    join(sub, 'model.safetensors'),
    order.map((n) => [n, params.get(n)!]),
  );
  const inOrder = (w: HostWeights): HostWeights => new Map(order.map((n) => [n, w.get(n)!]));
  writeMoments(join(sub, 'optimizer.safetensors'), inOrder(m), inOrder(v));
  writeFileAtomic(join(sub, 'state.json'), JSON.stringify(state) + '\n', { sync: true });
  // Synced so that after a power loss latest.json never points at a checkpoint still in flight.
  writeFileAtomic(join(dir, 'latest.json'), JSON.stringify({ checkpoint: name }) + '\n', { sync: true });
  for (const entry of readdirSync(dir)) {
    if (entry.startsWith('step-') && entry !== name) rmSync(join(dir, entry), { recursive: true, force: true });
  }
}

/**
 * AdamW moments on disk: `m.<weight>` and `v.<weight>` tensors in one safetensors file, with the
 * optimizer's step count (and anything else) in its metadata. Training writes it beside the final
 * weights and in every resume checkpoint; growth carries it into M1'.
 */
function writeMoments(file: string, m: HostWeights, v: HostWeights, metadata: Record<string, string> = {}): void {
  const prefixed = (prefix: string, w: HostWeights) =>
    [...w].map(([n, t]) => [`${prefix}${n}`, t] as [string, { shape: number[]; data: Float32Array }]);
  writeSafetensors(file, [...prefixed('m.', m), ...prefixed('v.', v)], metadata);
}

/** The AdamW moments file of a model directory (training writes it beside the final weights). */
export const MOMENTS_FILE = 'optimizer.safetensors';

/** A model directory's AdamW moments and the optimizer step their bias correction has reached. */
export interface ModelMoments {
  m: HostWeights;
  v: HostWeights;
  step: number;
}

/** Writes `<dir>/optimizer.safetensors` with the step (and `metadata`) in its header. */
export function writeModelMoments(
  dir: string,
  moments: { m: HostWeights; v: HostWeights },
  step: number,
  metadata: Record<string, string> = {},
): void {
  writeMoments(join(dir, MOMENTS_FILE), moments.m, moments.v, { step: String(step), ...metadata });
}

/** Reads `<dir>/optimizer.safetensors` as writeModelMoments wrote it; anything else is a clear error. */
export function readModelMoments(dir: string): ModelMoments {
  const file = join(dir, MOMENTS_FILE);
  if (!existsSync(file))
    throw new CheckpointError(
      `${file}: no AdamW moments; the model was trained or grown without them (train writes them; combine only with growth.carry_optimizer)`,
    );
  const { m, v, metadata } = readMoments(file);
  const step = Number(metadata.step);
  if (m.size === 0 || m.size !== v.size)
    throw new CheckpointError(
      `${file}: expected matching m.* and v.* tensors, found ${m.size} and ${v.size}; re-run the stage that wrote it`,
    );
  if (!Number.isInteger(step) || step < 0)
    throw new CheckpointError(
      `${file}: header metadata "step" must be a non-negative integer, got ${JSON.stringify(metadata.step)}; re-run the stage that wrote it`,
    );
  return { m, v, step };
}

function readMoments(file: string): { m: HostWeights; v: HostWeights; metadata: Record<string, string> } {
  const { tensors, metadata } = readSafetensors(file);
  const m: HostWeights = new Map();
  const v: HostWeights = new Map();
  for (const [k, t] of tensors) {
    if (k.startsWith('m.')) m.set(k.slice(2), t);
    else if (k.startsWith('v.')) v.set(k.slice(2), t);
    else throw new SafetensorsError(file, `unexpected tensor "${k}" (expected m.* and v.*)`);
  }
  return { m, v, metadata };
}

export interface LoadedResume {
  state: ResumeState;
  params: HostWeights;
  m: HostWeights;
  v: HostWeights;
}

/** Reads the latest resume checkpoint in `dir`, or null when there is none. */
export function loadResume(dir: string, cfg: ModelConfig): LoadedResume | null {
  const latest = join(dir, 'latest.json');
  if (!existsSync(latest)) return null;
  let name: string;
  try {
    name = JSON.parse(readFileSync(latest, 'utf8')).checkpoint;
  } catch (e) {
    throw new CheckpointError(`${latest}: unreadable (${(e as Error).message}); delete ${dir} to start the run afresh`);
  }
  const sub = join(dir, String(name));
  const state = JSON.parse(readFileSync(join(sub, 'state.json'), 'utf8')) as ResumeState;
  const params = readSafetensors(join(sub, 'model.safetensors')).tensors;
  checkAgainstConfig(join(sub, 'model.safetensors'), cfg, params);
  const { m, v } = readMoments(join(sub, 'optimizer.safetensors'));
  checkAgainstConfig(join(sub, 'optimizer.safetensors') + ' (m.*)', cfg, m);
  checkAgainstConfig(join(sub, 'optimizer.safetensors') + ' (v.*)', cfg, v);
  return { state, params, m, v };
}
