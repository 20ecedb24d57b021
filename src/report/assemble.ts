/**
 * Gathers a ReportInput from the run's files: the evaluate stage's metrics.json (held-out
 * scores), the profile stage's profile.json (costs and savings) and each model's metrics.jsonl
 * (curves). Every number in the report comes from one of these files, unchanged.
 */
import { join } from 'node:path';
import type { EvalMetrics } from '../experiment/eval-metrics.ts';
import type { ProfileReport } from '../experiment/profile.ts';
import { readCurve } from '../experiment/run-files.ts';
import type { ModelRef } from '../experiment/artifacts/layout.ts';
import type { ModelRow, ReportInput, Series } from './data.ts';

export interface AssembleOptions {
  root: string;
  refs: ModelRef[];
  evalMetrics: EvalMetrics;
  profile: ProfileReport;
  title?: string;
  facts?: Record<string, string>;
  banner?: string[];
}

export function assembleReport(o: AssembleOptions): ReportInput {
  const trained = o.refs.filter((r) => r.role !== 'm1p');
  const seeds = [...new Set(o.refs.map((r) => r.seed))];
  const models: ModelRow[] = [];
  const series: Series[] = [];
  for (const ref of trained) {
    const cost = o.profile.stages.find((s) => s.id === ref.id);
    const scores = o.evalMetrics.models.find((m) => m.id === ref.id);
    if (!cost) throw new Error(`${ref.id} is missing from the profile; re-run the profile stage`);
    if (!scores) throw new Error(`${ref.id} is missing from the evaluation metrics; re-run the evaluate stage`);
    const saving = o.profile.savings.find((s) => s.model === ref.id);
    const overhead = saving ? saving.small_flops + saving.operator_flops : undefined;
    // Only the small models this model was charged for (merge all, fpi one) count as its overhead.
    const charged = new Set((saving?.charged_sources ?? []).map((c) => c.id));
    const smallWall = o.profile.stages.filter((s) => charged.has(s.id)).reduce((a, s) => a + s.wall_s, 0);
    const role = ref.role as ModelRow['role'];
    models.push({
      id: ref.id,
      label: ref.label,
      role,
      seed: ref.seed,
      ...(ref.method ? { method: ref.method } : {}),
      params: cost.params,
      flops: cost.flops,
      wall_s: cost.wall_s,
      ...(overhead !== undefined ? { overhead_flops: overhead, overhead_wall_s: smallWall } : {}),
      eval: Object.fromEntries(o.evalMetrics.datasets.map((d) => [d, scores.datasets[d]])),
      ...(saving ? { saving_refine_only: saving.saving_refine_only, saving_with_small: saving.saving_with_small } : {}),
    });
    series.push({
      id: ref.id,
      label: ref.label,
      role,
      seed: ref.seed,
      points: readCurve(join(o.root, ref.dir)),
      ...(role === 'm1' ? { offset_flops: overhead ?? 0, offset_wall_s: smallWall } : {}),
    });
  }
  return {
    title: o.title ?? 'Growing a large GPT from small pre-trained ones',
    datasets: o.evalMetrics.datasets,
    models,
    series,
    savings: o.profile.savings,
    // The spread over seeds is only worth a table when there is more than one seed.
    byMethod: seeds.length > 1 ? o.profile.by_method : [],
    profile: o.profile.stages.map((s) => ({
      id: s.id,
      role: s.role,
      backend: s.backend,
      flops_per_step: s.flops_per_step,
      steps: s.steps,
      flops: s.flops,
      wall_s: s.wall_s,
      tflops_per_s: s.tflops_per_s,
      peak_rss_mb: s.peak_rss_mb,
      top_kernels: o.profile.kernels[s.config] ?? [],
    })),
    ...(o.banner && o.banner.length > 0 ? { banner: o.banner } : {}),
    facts: {
      backend: o.profile.backend,
      'evaluation split': o.evalMetrics.split,
      seeds: seeds.join(', '),
      ...o.facts,
    },
  };
}
