/**
 * Stage `evaluate`: every model of the run (small models, M0, each M1' and M1) on every dataset's
 * held-out split — mean next-token loss, perplexity and next-token accuracy — into
 * artifacts/eval/metrics.json (a grow `metrics:` file). "combined" is the token-weighted mean over
 * the datasets. Small models are scored on D2 as well: how little they know of it is the point.
 *
 * Params keys read: seeds, small.models, growth.methods, eval.split, eval.batch_size,
 * eval.max_tokens, backend.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { EVAL_FILE } from '../src/experiment/artifacts/layout.ts';
import { combineScores, type DatasetScore, type EvalMetrics } from '../src/experiment/eval-metrics.ts';
import { backendFields, initBackend, type BackendChoice } from '../src/ml/backend/index.ts';
import { loadModel } from '../src/ml/core/checkpoint.ts';
import { paramCount } from '../src/ml/core/config.ts';
import { evaluateStream } from '../src/ml/core/score.ts';
import { toTensors } from '../src/ml/core/model.ts';
import * as tf from '../src/ml/backend/tf.ts';
import { experimentRefs } from './lib/experiment.ts';
import { runMain } from './lib/main.ts';
import { loadParams, parseArgs } from './lib/params.ts';
import { reportProgress } from './lib/progress.ts';
import { readSplit, readTokensMeta, TOKENS_DIR } from '../src/experiment/artifacts/tokens.ts';

async function main(): Promise<void> {
  const args = parseArgs();
  const params = loadParams(args.params);
  const root = resolve(process.env.GROW_ROOT ?? '.');
  await initBackend(params.str('backend') as BackendChoice);
  const split = params.str('eval.split');
  const batch = params.num('eval.batch_size');
  const maxTokens = params.num('eval.max_tokens');
  const tokensDir = join(root, TOKENS_DIR);
  const meta = readTokensMeta(tokensDir);
  const streams = meta.sources.map((s) => {
    const all = readSplit(tokensDir, s, split);
    return { name: s.name, tokens: all.subarray(0, Math.min(all.length, maxTokens + 1)) };
  });
  const refs = experimentRefs(params);
  const models: EvalMetrics['models'] = [];
  for (const [i, ref] of refs.entries()) {
    reportProgress(i, refs.length, { model: ref.id });
    const { config, weights } = loadModel(join(root, ref.dir));
    const tensors = toTensors(weights);
    const datasets: Record<string, DatasetScore> = {};
    try {
      for (const s of streams) {
        const r = await evaluateStream(config, tensors, s.tokens, { seq: config.blockSize, batch });
        datasets[s.name] = { loss: r.loss, ppl: r.perplexity, accuracy: r.accuracy, tokens: r.tokens };
      }
    } finally {
      tf.dispose(Object.values(tensors));
    }
    datasets.combined = combineScores(Object.values(datasets));
    models.push({
      id: ref.id,
      label: ref.label,
      role: ref.role,
      seed: ref.seed,
      ...(ref.index !== undefined ? { index: ref.index } : {}),
      ...(ref.method ? { method: ref.method } : {}),
      params: paramCount(config),
      datasets,
    });
    console.log(
      `evaluate: ${ref.id}: ${Object.entries(datasets)
        .map(([d, s]) => `${d} ${s.loss.toFixed(4)}`)
        .join(', ')}`,
    );
  }
  reportProgress(refs.length, refs.length);
  const metrics: EvalMetrics = { schema: 1, ...backendFields(), split, datasets: streams.map((s) => s.name), models };
  mkdirSync(dirname(join(root, EVAL_FILE)), { recursive: true });
  writeFileSync(join(root, EVAL_FILE), JSON.stringify(metrics, null, 2) + '\n');
}

runMain(import.meta, 'evaluate', main);
