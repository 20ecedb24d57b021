/**
 * Synthetic run directories for the report tests: what the training, combine and evaluate stages
 * would write, with hand-chosen curves, so report generation is tested without training anything.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type ModelRef, experimentModels } from '../../src/experiment/artifacts/layout.ts';
import type { EvalMetrics } from '../../src/experiment/eval-metrics.ts';

/** val loss falls from `start` to `end` over `steps`, evaluated every `every` steps. */
function rows(steps: number, every: number, flopsPerStep: number, start: number, end: number): string {
  const out: string[] = [];
  for (let step = 0; step <= steps; step += every) {
    const f = step / steps;
    out.push(
      JSON.stringify({
        step,
        tokens: step * 1024,
        flops: step * flopsPerStep,
        wall_s: step * 0.01,
        train_loss: start + (end - start) * Math.sqrt(f) + 0.05,
        val_loss: start + (end - start) * Math.sqrt(f),
        lr: 1e-3,
      }),
    );
  }
  return out.join('\n') + '\n';
}

export const DATASETS = ['wordnet-examples', 'wordnet-definitions'];

export function writeSyntheticRun(root: string, seeds = [1], methods = ['merge', 'stack']): { refs: ModelRef[]; evalMetrics: EvalMetrics } {
  const refs = experimentModels({ seeds, small: [1, 2], methods });
  const models: EvalMetrics['models'] = [];
  for (const ref of refs) {
    const dir = join(root, ref.dir);
    mkdirSync(dir, { recursive: true });
    const small = ref.role === 'small';
    const fps = small ? 1e9 : 4e9;
    const steps = small ? 200 : ref.role === 'm0' ? 400 : 300;
    // merge reaches M0's final loss (3.0) early, stack never does.
    const [start, end] = small
      ? [7, 3.5]
      : ref.role === 'm0'
        ? [7.6, 3.0 + 0.01 * ref.seed]
        : ref.method === 'merge'
          ? [3.9, 2.8]
          : [4.2, 3.2];
    if (ref.role === 'm1p') {
      // merge uses both small models; the other method (like fpi) grows small model 1 only.
      const used = ref.method === 'merge' ? [1, 2] : [1];
      const operator = ref.method === 'stack' ? 5e10 : 0;
      writeFileSync(
        join(dir, 'growth.json'),
        JSON.stringify({
          method: ref.method,
          operator_flops: operator,
          charged: {
            sources: used.map((i) => ({ index: i, path: `artifacts/models/small/s${ref.seed}/${i}`, train_flops: 200 * 1e9 })),
            small_flops: used.length * 200 * 1e9,
            operator_flops: operator,
          },
        }),
      );
    } else {
      writeFileSync(join(dir, 'metrics.jsonl'), rows(steps, 50, fps, start, end));
      writeFileSync(
        join(dir, 'train.json'),
        JSON.stringify({
          backend: 'wasm',
          params: small ? 100_000 : 400_000,
          flops_per_step: fps,
          steps,
          flops: steps * fps,
          wall_s: steps * 0.01,
          peak_rss_bytes: 300 * 2 ** 20,
          final_val_loss: end,
        }),
      );
    }
    const scores = Object.fromEntries(
      DATASETS.map((d, i) => {
        const loss = end + 0.1 * i + 0.001 * ref.seed;
        return [d, { loss, ppl: Math.exp(loss), accuracy: 0.3 - 0.01 * i, tokens: 1000 }];
      }),
    );
    models.push({
      id: ref.id,
      label: ref.label,
      role: ref.role,
      seed: ref.seed,
      ...(ref.method ? { method: ref.method } : {}),
      params: small ? 100_000 : 400_000,
      datasets: scores,
    });
  }
  return { refs, evalMetrics: { schema: 1, backend: 'wasm', split: 'test', datasets: DATASETS, models } };
}
