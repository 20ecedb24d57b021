/**
 * A small study of the levers after growth (docs/growth.md, "Measured results"): trains n small
 * models and a from-scratch baseline M0 on the real WordNet token streams, then grows M1' by each
 * variant and refines it on M0's exact batches, recording every validation curve.
 *
 *   node --import tsx src/ml/growth/study.ts --tokens <tokens dir> --out <dir> [--backend wasm]
 *     [--small-steps 500] [--steps 600] [--only "exact name,exact name"] [--seed 1]
 *   node --import tsx src/ml/growth/study.ts --plot <out>/study.json --svg <file.svg>
 *
 * Prints one JSON line per run and writes <out>/study.json. Not a test: it takes minutes.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { initBackend, type BackendChoice } from '../backend/index.ts';
import { gptConfig, type HostWeights, type ModelConfig } from '../config.ts';
import { loadModel } from '../checkpoint.ts';
import { readTokens } from '../sampler.ts';
import { train, type TrainOptions } from '../train.ts';
import { growHost, type GrowOptions } from './index.ts';
import { growLigo } from './ligo.ts';
import { BatchSampler } from '../sampler.ts';
import { readMoments } from './optimizer.ts';
import { parseArgs } from '../../../stages/lib/params.ts';

interface Variant {
  name: string;
  method: string;
  options?: GrowOptions;
  lr?: number;
  rewarmup?: number;
  carry?: boolean;
  ligoSteps?: number;
}

const VARIANTS: Variant[] = [
  { name: 'merge', method: 'merge' },
  { name: 'merge, no re-warmup', method: 'merge', rewarmup: 0 },
  { name: 'merge, lr ×0.5', method: 'merge', lr: 0.5 },
  { name: 'merge, carried AdamW', method: 'merge', carry: true },
  { name: 'merge, off-diagonal 0.1', method: 'merge', options: { offDiagonal: 0.1 } },
  { name: 'fpi', method: 'fpi' },
  { name: 'fpi split ε=0.01', method: 'fpi', options: { symmetry: 'split', epsilon: 0.01 } },
  { name: 'fpi noise ε=0.1', method: 'fpi', options: { symmetry: 'noise', epsilon: 0.1 } },
  { name: 'fpi noise ε=0.5', method: 'fpi', options: { symmetry: 'noise', epsilon: 0.5 } },
  { name: 'fpi noise ε=0.5 + fresh units', method: 'fpi', options: { symmetry: 'noise', epsilon: 0.5, newUnits: 'fresh' } },
  { name: 'fpi noise ε=1 + fresh units', method: 'fpi', options: { symmetry: 'noise', epsilon: 1, newUnits: 'fresh' } },
  { name: 'fpi noise ε=2 + fresh units', method: 'fpi', options: { symmetry: 'noise', epsilon: 2, newUnits: 'fresh' } },
  { name: 'fpi noise ε=4 + fresh units', method: 'fpi', options: { symmetry: 'noise', epsilon: 4, newUnits: 'fresh' } },
  { name: 'fpi noise ε=0.5, carried AdamW', method: 'fpi', options: { symmetry: 'noise', epsilon: 0.5 }, carry: true },
  { name: 'ligo (50 steps)', method: 'ligo', ligoSteps: 50 },
];

function concat(a: Uint16Array[]): Uint16Array {
  const out = new Uint16Array(a.reduce((n, x) => n + x.length, 0));
  let o = 0;
  for (const x of a) {
    out.set(x, o);
    o += x.length;
  }
  return out;
}

function curve(dir: string): { step: number; flops: number; val_loss: number }[] {
  return readFileSync(join(dir, 'metrics.jsonl'), 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

/** First step (linear interpolation between evaluations) at which the curve reaches `target`. */
function reach(c: { step: number; val_loss: number }[], target: number): number | null {
  for (let i = 0; i < c.length; i++) {
    if (c[i].val_loss <= target) {
      if (i === 0) return c[0].step;
      const a = c[i - 1];
      const b = c[i];
      return a.step + ((a.val_loss - target) / (a.val_loss - b.val_loss)) * (b.step - a.step);
    }
  }
  return null;
}

/** Validation curves of every run, one panel per operator family, M0 in each. */
async function plot(studyFile: string, svgFile: string): Promise<void> {
  const { renderSvg } = await import('../../report/charts.ts');
  const study = JSON.parse(readFileSync(studyFile, 'utf8')) as { rows: { run: string; curve: { step: number; val_loss: number }[] }[] };
  const family = (run: string) => (run === 'M0' ? '' : run.split(/[ ,(]/)[0]);
  const families = [...new Set(study.rows.map((r) => family(r.run)).filter(Boolean))];
  const values = study.rows.flatMap((r) =>
    (r.run === 'M0' ? families : [family(r.run)]).flatMap((f) => r.curve.filter((p) => p.step > 0 || r.run !== 'M0').map((p) => ({ family: f, run: r.run, step: p.step, val_loss: p.val_loss }))),
  );
  // M0 starts at ln(vocab) ≈ 7.6, which would flatten every other curve: its step 0 is left out.
  const spec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    data: { values },
    facet: { column: { field: 'family', type: 'nominal', title: null } },
    spec: {
      width: 260,
      height: 220,
      mark: { type: 'line', strokeWidth: 1.5 },
      encoding: {
        x: { field: 'step', type: 'quantitative', title: 'refine step (M0: training step)' },
        y: { field: 'val_loss', type: 'quantitative', title: 'validation loss (D1+D2)', scale: { zero: false } },
        color: { field: 'run', type: 'nominal', title: null, legend: { labelLimit: 320 } },
        strokeDash: { condition: { test: "datum.run === 'M0'", value: [4, 3] }, value: [1, 0] },
      },
    },
    resolve: { scale: { color: 'independent' } },
  };
  writeFileSync(svgFile, await renderSvg(spec as never));
}

async function main(): Promise<void> {
  const args = parseArgs();
  if (args.plot) return plot(args.plot, args.svg ?? 'growth-study.svg');
  const tokensDir = args.tokens ?? 'artifacts/tokens';
  const out = args.out ?? 'artifacts/growth-study';
  mkdirSync(out, { recursive: true });
  await initBackend((args.backend ?? 'wasm') as BackendChoice);
  const meta = JSON.parse(readFileSync(join(tokensDir, 'meta.json'), 'utf8')) as { vocab_size: number; sources: { name: string; roles: string[]; splits: Record<string, { file: string }> }[] };
  const stream = (role: string, split: string) => concat(meta.sources.filter((s) => s.roles.includes(role)).map((s) => readTokens(join(tokensDir, s.splits[split].file))));
  const d1 = { train: stream('small', 'train'), val: stream('small', 'val') };
  const large = { train: stream('large', 'train'), val: stream('large', 'val') };

  const seq = 32;
  const small = gptConfig({ vocabSize: meta.vocab_size, blockSize: seq, nLayer: 2, nHead: 2, nEmbd: Number(args['small-embd'] ?? 32) });
  const big: ModelConfig = gptConfig({ vocabSize: meta.vocab_size, blockSize: seq, nLayer: 2, nHead: 4, nEmbd: 2 * small.nEmbd });
  const steps = Number(args.steps ?? 600);
  const common = { batch: 16, seq, minLr: 0, weightDecay: 0.1, beta1: 0.9, beta2: 0.95, clip: 1, evalEvery: 50, evalBatches: 8, checkpointEvery: 0, progress: false };
  const base = (o: Partial<TrainOptions> & Pick<TrainOptions, 'config' | 'outDir' | 'steps' | 'lr' | 'seed' | 'dataSeed' | 'train' | 'val'>): TrainOptions =>
    ({ warmupSteps: 50, ...common, ...o, minLr: o.lr * 0.1 }) as TrainOptions;

  // --seed s shifts every seed (inits, data orders, operator noise) for a second independent group.
  const seed = Number(args.seed ?? 1);
  const smallDirs = [1, 2].map((i) => join(out, `small-${i}`));
  for (const [k, dir] of smallDirs.entries()) {
    const s = await train(base({ config: small, outDir: dir, steps: Number(args['small-steps'] ?? 500), lr: 3e-3, seed: seed * 1000 + k, dataSeed: seed * 1000 + k, ...d1 }));
    console.log(JSON.stringify({ run: `small ${k + 1}`, final_val_loss: s.final_val_loss, flops: s.flops, wall_s: s.wall_s }));
  }
  const m0 = await train(base({ config: big, outDir: join(out, 'm0'), steps, lr: 2e-3, seed, dataSeed: seed * 1000 - 1, ...large }));
  const target = m0.final_val_loss;
  console.log(JSON.stringify({ run: 'M0', final_val_loss: target, flops: m0.flops, wall_s: m0.wall_s }));
  const sources = smallDirs.map((d) => {
    const m = loadModel(d);
    return { cfg: m.config, weights: m.weights };
  });
  const only = args.only?.split(',');
  const rows: Record<string, unknown>[] = [{ run: 'M0', final_val_loss: target, curve: curve(join(out, 'm0')) }];
  for (const v of VARIANTS) {
    if (only && !only.includes(v.name)) continue;
    let weights: HostWeights;
    let cfg: ModelConfig;
    let moments: { m: HostWeights; v: HostWeights; step: number } | undefined;
    let operatorFlops = 0;
    if (v.method === 'ligo') {
      const sampler = new BatchSampler(large.train, 16, seq, 4241 + seed);
      const r = await growLigo(sources, big, { steps: v.ligoSteps ?? 50, lr: 1e-3, batchAt: () => sampler.next() });
      ({ weights, cfg } = r);
      operatorFlops = r.flops;
    } else {
      const srcMoments = v.carry ? smallDirs.map((d) => readMoments(d)) : undefined;
      const g = growHost(v.method, sources, big, { seed: 6 + seed, ...v.options }, srcMoments);
      ({ weights, cfg } = g);
      if (g.moments) moments = { ...g.moments, step: srcMoments![0].step };
    }
    const dir = join(out, v.name.replace(/[^a-z0-9.]+/gi, '_'));
    const s = await train(
      base({ config: cfg, outDir: dir, steps, lr: 2e-3 * (v.lr ?? 1), seed, dataSeed: seed * 1000 - 1, initialWeights: weights, initialMoments: moments, rewarmupSteps: v.rewarmup ?? 20, ...large }),
    );
    const c = curve(dir);
    const row = { run: v.name, initial_val_loss: c[0].val_loss, final_val_loss: s.final_val_loss, gap_to_m0: s.final_val_loss - target, reach_step: reach(c, target), operator_flops: operatorFlops, curve: c };
    rows.push(row);
    console.log(JSON.stringify({ ...row, curve: undefined }));
    writeFileSync(join(out, 'study.json'), JSON.stringify({ small, big, steps, m0_final_val_loss: target, rows }, null, 1));
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((e: Error) => {
    process.stderr.write(`${e.stack}\n`);
    process.exit(1);
  });
}
