/**
 * The profile-based cost analysis: per training run its analytic FLOPs, measured wall time,
 * achieved TFLOP/s, backend and peak memory; the top kernels of one profiled step per model
 * configuration; and the headline savings (savings.ts) for every grown model.
 *
 * Inputs are the files the training and combine stages write (train.json, metrics.jsonl,
 * growth.json); this module only reads and computes, so it is tested on hand-made files.
 */
import { join, resolve } from 'node:path';
import type { CurvePoint } from './curves.ts';
import { ArtifactError, type GrowthCharge, type TrainSummary, readCurve, readGrowthCharge, readTrainSummary } from './run-files.ts';
import { CONTINUE_METHOD, type ModelRef, modelRef } from './artifacts/layout.ts';
import { type MethodSummary, type Saving, computeSaving, summariseByMethod } from './savings.ts';

export interface KernelTime {
  name: string;
  ms: number;
  count: number;
}

export interface ProfileStage {
  id: string;
  label: string;
  role: 'small' | 'm0' | 'm1';
  seed: number;
  method?: string;
  backend: string;
  /** The GPU adapter (webgpu runs only). */
  adapter?: string;
  params: number;
  steps: number;
  flops_per_step: number;
  flops: number;
  wall_s: number;
  tflops_per_s: number;
  peak_rss_mb: number | null;
  /** The model configuration's key in `kernels` ("small" or "large"). */
  config: string;
}

export interface ProfileReport {
  schema: 1;
  backend: string;
  stages: ProfileStage[];
  /** Top kernels of one profiled training step, per model configuration. */
  kernels: Record<string, KernelTime[]>;
  savings: Saving[];
  by_method: MethodSummary[];
  /** The grown model with the largest refine-only saving (null when none reached M0). */
  best: Saving | null;
}

export interface RunData {
  ref: ModelRef;
  train: TrainSummary;
  curve: CurvePoint[];
  /** M1 only: what its M1' growth.json says it was built from. */
  growth?: GrowthCharge;
}

/** Loads what the analysis needs of every trained model (small, m0, m1) in `refs`. */
export function loadRuns(refs: ModelRef[], root = '.'): RunData[] {
  const m1p = new Map(refs.filter((r) => r.role === 'm1p').map((r) => [`${r.seed}/${r.method}`, r]));
  return refs
    .filter((r) => r.role !== 'm1p')
    .map((ref) => {
      const dir = join(root, ref.dir);
      const run: RunData = { ref, train: readTrainSummary(dir), curve: readCurve(dir) };
      if (ref.role === 'm1' && ref.method === CONTINUE_METHOD) {
        // The continued small model is charged for the one small model it started from.
        run.growth = {
          sources: [{ path: modelRef('small', ref.seed, { index: ref.index ?? 1 }).dir, train_flops: null }],
          operator_flops: 0,
        };
      } else if (ref.role === 'm1') {
        const grown = m1p.get(`${ref.seed}/${ref.method}`);
        if (!grown) throw new ArtifactError(`${ref.id} has no M1' in this run: nothing says which sources it was grown from`);
        run.growth = readGrowthCharge(join(root, grown.dir));
      }
      return run;
    });
}

/** One charged source: the run's small model it is (by path), else the FLOPs combine recorded. */
export interface ChargedSource {
  id: string;
  flops: number;
}

/**
 * The small models a grown model is charged for: exactly the sources its growth used (merge all,
 * fpi one), each at its measured training FLOPs. Combine records the paths it read; they are
 * matched to this run's small models so the FLOPs are the ones the profile shows for them.
 */
function chargedSources(run: RunData, runs: RunData[], root = '.'): ChargedSource[] {
  if (!run.growth) return [];
  const smalls = runs.filter((r) => r.ref.role === 'small');
  return run.growth.sources.map((s) => {
    const match = smalls.find((r) => resolve(root, r.ref.dir) === resolve(root, s.path));
    if (match) return { id: match.ref.id, flops: match.train.flops };
    if (s.train_flops === null)
      throw new ArtifactError(`${run.ref.id}: source ${s.path} has no train.json, so its training cost cannot be charged`);
    return { id: s.path, flops: s.train_flops };
  });
}

/** Every M1's saving against the M0 of its own seed, charged for the small models it used. */
function savingsOf(runs: RunData[], root = '.'): Saving[] {
  const out: Saving[] = [];
  for (const m1 of runs.filter((r) => r.ref.role === 'm1')) {
    const seed = m1.ref.seed;
    const m0 = runs.find((r) => r.ref.role === 'm0' && r.ref.seed === seed);
    if (!m0) throw new ArtifactError(`no M0 for seed ${seed}: ${m1.ref.id} has nothing to be compared with`);
    const used = chargedSources(m1, runs, root);
    const smalls = used.map((u) => runs.find((r) => r.ref.id === u.id));
    out.push(
      computeSaving(
        { name: m0.ref.id, curve: m0.curve, flops: m0.train.flops, wall_s: m0.train.wall_s },
        {
          name: m1.ref.id,
          method: m1.ref.method ?? 'unknown',
          curve: m1.curve,
          flops: m1.train.flops,
          wall_s: m1.train.wall_s,
          small_flops: used.reduce((a, u) => a + u.flops, 0),
          small_wall_s: smalls.reduce((a, r) => a + (r?.train.wall_s ?? 0), 0),
          operator_flops: m1.growth?.operator_flops ?? 0,
          charged_sources: used,
        },
      ),
    );
  }
  return out;
}

function profileStages(runs: RunData[]): ProfileStage[] {
  return runs.map(({ ref, train }) => ({
    id: ref.id,
    label: ref.label,
    role: ref.role as ProfileStage['role'],
    seed: ref.seed,
    ...(ref.method ? { method: ref.method } : {}),
    backend: train.backend,
    ...(train.adapter ? { adapter: train.adapter } : {}),
    params: train.params,
    steps: train.steps,
    flops_per_step: train.flops_per_step,
    flops: train.flops,
    wall_s: train.wall_s,
    tflops_per_s: train.wall_s > 0 ? train.flops / train.wall_s / 1e12 : 0,
    peak_rss_mb: train.peak_rss_bytes === null ? null : train.peak_rss_bytes / 2 ** 20,
    config: ref.role === 'small' || ref.method === CONTINUE_METHOD ? 'small' : 'large',
  }));
}

export function buildProfile(runs: RunData[], kernels: Record<string, KernelTime[]>, root = '.'): ProfileReport {
  const savings = savingsOf(runs, root);
  const reached = savings.filter((s) => s.saving_refine_only !== null);
  const best = reached.length === 0 ? null : reached.reduce((a, b) => (b.saving_refine_only! > a.saving_refine_only! ? b : a));
  const backends = [...new Set(runs.map((r) => r.train.backend))];
  return {
    schema: 1,
    backend: backends.join(', '),
    stages: profileStages(runs),
    kernels,
    savings,
    by_method: summariseByMethod(savings),
    best,
  };
}
