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
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { initBackend, type BackendChoice } from '../src/ml/backend/index.ts';
import { type CombineOptions, type TokenSource, runCombine } from '../src/ml/growth/combine.ts';
import { GrowthError } from '../src/ml/growth/weights.ts';
import { loadParams, parseArgs, type Params } from './lib/params.ts';
import { reportProgress } from './lib/progress.ts';
import { splitJsonFile } from '../src/experiment/timings.ts';

/** Small-model directories under `dir` (numbered subdirectories in numeric order) or a list. */
export function sourceDirs(spec: string): string[] {
  if (spec.includes(',')) return spec.split(',').map((s) => s.trim()).filter(Boolean);
  if (existsSync(join(spec, 'model.safetensors'))) return [spec];
  if (!existsSync(spec)) throw new GrowthError(`--sources ${spec}: no such directory; train the small models first (train_small stages)`);
  const subs = readdirSync(spec)
    .filter((d) => existsSync(join(spec, d, 'model.safetensors')))
    .sort((a, b) => (Number(a) - Number(b)) || a.localeCompare(b));
  if (subs.length === 0) throw new GrowthError(`--sources ${spec}: no checkpoint subdirectories (with model.safetensors) inside`);
  return subs.map((d) => join(spec, d));
}

/** The tokenize stage's datasets with their split files (paths resolved against the tokens dir). */
function tokenSources(tokensDir: string): TokenSource[] {
  const metaFile = join(tokensDir, 'meta.json');
  let meta: { sources: { name: string; roles: string[]; splits: Record<string, { file: string }> }[] };
  try {
    meta = JSON.parse(readFileSync(metaFile, 'utf8'));
  } catch (e) {
    throw new GrowthError(`${metaFile}: cannot read the token meta (${(e as Error).message}); run the tokenize stage first`);
  }
  return meta.sources.map((s) => ({
    name: s.name,
    roles: s.roles,
    files: Object.fromEntries(Object.entries(s.splits).map(([split, f]) => [split, join(tokensDir, f.file)])),
  }));
}

/** Options for one method name: growth-wide defaults, then growth.variants.<name> overrides. */
function combineOptions(p: Params, name: string): Pick<CombineOptions, 'name' | 'method' | 'options' | 'carryOptimizer' | 'ligo' | 'eval' | 'target'> {
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
  for (const k of ['method', 'sources', 'out']) if (!args[k]) throw new GrowthError(`combine: missing --${k}; usage: stages/combine.ts --method merge --sources artifacts/models/s1/small --out artifacts/models/s1/m1p/merge`);
  const p = loadParams(args.params);
  await initBackend(p.opt<string>('backend', 'auto') as BackendChoice);
  const json = await runCombine({
    ...combineOptions(p, args.method),
    sources: sourceDirs(args.sources),
    out: resolve(args.out),
    tokens: tokenSources(args.tokens ?? 'artifacts/tokens'),
    onProgress: (phase, current, total, values) => reportProgress(current, total, { phase, ...values }),
  });
  // Its wall time goes to artifacts/timings/… (declared `verify: false`); growth.json keeps the rest.
  splitJsonFile(join(resolve(args.out), 'growth.json'));
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
