/**
 * Stage `profile`: the cost side of the comparison, in artifacts/profile/profile.json —
 * per training run its analytic FLOPs, measured wall time, achieved TFLOP/s, backend and peak
 * memory (from each run's train.json); the top kernels of one profiled training step of the small
 * and of the large configuration (tf.profile); and the headline: the FLOPs M1 needed to reach M0's
 * final validation loss and the saving, without and with the small models' and the growth
 * operator's cost, plus validation loss at equal FLOPs.
 *
 * Params keys read: seeds, small.models, growth.methods, model.block_size, model.small,
 * model.large, train.batch_size, profile.top_kernels, backend.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { PROFILE_FILE } from '../src/experiment/artifacts/layout.ts';
import { profileTrainingStep } from '../src/experiment/kernels.ts';
import { type KernelTime, buildProfile, loadRuns } from '../src/experiment/profile.ts';
import { splitJsonFile } from '../src/experiment/timings.ts';
import { readTokensMeta, TOKENS_DIR } from '../src/experiment/artifacts/tokens.ts';
import { initBackend, type BackendChoice } from '../src/ml/backend/index.ts';
import { fmtSaving, fmtTflops } from '../src/report/format.ts';
import { experimentRefs } from './lib/experiment.ts';
import { runMain } from './lib/main.ts';
import { modelConfigFromParams } from './lib/models.ts';
import { loadParams, parseArgs } from './lib/params.ts';
import { reportProgress } from './lib/progress.ts';

async function main(): Promise<void> {
  const args = parseArgs();
  const params = loadParams(args.params);
  const root = resolve(process.env.GROW_ROOT ?? '.');
  const refs = experimentRefs(params);
  const runs = loadRuns(refs, root);

  await initBackend(params.str('backend') as BackendChoice);
  const vocabSize = readTokensMeta(join(root, TOKENS_DIR)).vocab_size;
  const top = params.num('profile.top_kernels');
  const batch = params.num('train.batch_size');
  const kernels: Record<string, KernelTime[]> = {};
  const configs = ['small', 'large'] as const;
  for (const [i, which] of configs.entries()) {
    reportProgress(i, configs.length, { config: which });
    const cfg = modelConfigFromParams(params, which, vocabSize);
    const p = await profileTrainingStep(cfg, batch, top);
    kernels[which] = p.kernels;
    console.log(
      `profile: ${which} step: ${p.kernel_count} kernels, ${p.wall_ms.toFixed(0)} ms profiled; top ${p.kernels
        .slice(0, 3)
        .map((k) => `${k.name} ${k.ms.toFixed(1)} ms`)
        .join(', ')}`,
    );
  }
  reportProgress(configs.length, configs.length);

  const profile = buildProfile(runs, kernels, root);
  mkdirSync(dirname(join(root, PROFILE_FILE)), { recursive: true });
  writeFileSync(join(root, PROFILE_FILE), JSON.stringify(profile, null, 2) + '\n');
  // Wall times, TFLOP/s, RSS and kernel milliseconds to artifacts/timings/profile/profile.json
  // (declared `verify: false`): profile.json keeps FLOPs and savings, which reproduce exactly.
  splitJsonFile(join(root, PROFILE_FILE), root);
  for (const s of profile.savings) {
    console.log(
      `profile: ${s.model}: ${s.reached ? `reached M0's ${s.target_val_loss.toFixed(4)} after ${fmtTflops(s.refine_flops_to_target)} / ${fmtTflops(s.m0_flops)} TFLOPs, saving ${fmtSaving(s.saving_refine_only)} refine-only, ${fmtSaving(s.saving_with_small)} with small models` : `did not reach M0's ${s.target_val_loss.toFixed(4)} (final ${s.m1_final_val_loss.toFixed(4)})`}`,
    );
  }
}

runMain(import.meta, 'profile', main);
