/**
 * The experiment end to end: the project's pipeline.yaml, params/ and stages/ in a fresh temp
 * directory, run by the real `grow` CLI with the smoke configuration. Then:
 *   - every artifact exists and parses;
 *   - a second run does nothing and leaves pipeline.lock byte-identical;
 *   - editing one refine param re-runs only refine, evaluate, profile and report;
 *   - the report's numbers equal those in the metrics files;
 *   - the report page, opened in a real headless Chromium, shows SVG marks and logs no errors.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';
import { parse } from 'yaml';
import { evalCurve, readMetrics } from '../../src/experiment/curves.ts';
import type { EvalMetrics } from '../../src/experiment/eval-metrics.ts';
import { CONTINUE_METHOD, experimentModels } from '../../src/experiment/artifacts/layout.ts';
import type { ProfileReport } from '../../src/experiment/profile.ts';
import { readJsonWithTimings } from '../../src/experiment/timings.ts';
import { CHROMIUM, launchChromium, pageErrors } from '../helpers/chromium.ts';
import { fmtAcc, fmtLoss, fmtPpl, fmtSaving, fmtTflops } from '../../src/report/format.ts';

const run = promisify(execFile);
const REPO = resolve(import.meta.dirname, '../..');

interface GrowRun {
  stdout: string;
  /** Stage name → what happened to it ("done", "up to date", "restored", ...). */
  outcome: Map<string, string>;
}

async function grow(cwd: string, ...args: string[]): Promise<GrowRun> {
  const r = await run(process.execPath, [join(REPO, 'bin/grow.js'), ...args], {
    cwd,
    // Run the runner from its TypeScript sources so the test exercises the checkout as it is.
    env: { ...process.env, GROW_DEV: '1', CI: '1', GROW_BACKEND: 'wasm' },
    maxBuffer: 64 * 2 ** 20,
  }).catch((e: { stdout?: string; stderr?: string; message: string }) => {
    throw new Error(`grow ${args.join(' ')} failed: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`);
  });
  const outcome = new Map<string, string>();
  for (const m of r.stdout.matchAll(/^[✔✓] (\S+): (done|up to date|restored)/gmu)) outcome.set(m[1], m[2]);
  return { stdout: r.stdout, outcome };
}

function json<T>(file: string): T {
  return JSON.parse(readFileSync(file, 'utf8')) as T;
}

/** The cells of the Markdown table row whose first two cells are `label` and `seed`. */
function mdRow(md: string, label: string, seed: number): string[] {
  for (const line of md.split('\n')) {
    const cells = line.split(' | ').map((c) => c.replace(/^\| ?| ?\|$/g, '').trim());
    if (cells[0] === label && cells[1] === String(seed)) return cells;
  }
  throw new Error(`report.md has no row for ${label} (seed ${seed})`);
}

function project(): string {
  const dir = mkdtempSync(join(tmpdir(), 'growline-e2e-'));
  for (const p of ['pipeline.yaml', 'params', 'stages', 'src', 'asm', 'package.json', 'tsconfig.json']) {
    cpSync(join(REPO, p), join(dir, p), { recursive: true });
  }
  symlinkSync(join(REPO, 'node_modules'), join(dir, 'node_modules'), 'dir');
  return dir;
}

test('smoke configuration end to end through grow run', { timeout: 10 * 60_000 }, async (t) => {
  const dir = project();
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  const smoke = ['run', 'report', '--params', 'params/smoke.yaml'];

  // 1. The whole pipeline runs.
  const first = await grow(dir, ...smoke);
  const a = (p: string) => join(dir, 'artifacts', p);
  const overlay = parse(readFileSync(join(dir, 'params/smoke.yaml'), 'utf8'));
  const base = parse(readFileSync(join(dir, 'params/experiment.yaml'), 'utf8'));
  const refs = experimentModels({
    seeds: overlay.seeds ?? base.seeds,
    small: overlay.small?.models ?? base.small.models,
    methods: overlay.growth?.methods ?? base.growth.methods,
    continueSmall: overlay.continue?.source ?? base.continue.source,
  });
  const stageOf = (ref: (typeof refs)[number]) =>
    ref.role === 'm1p'
      ? `combine@${ref.method}-${ref.seed}`
      : ref.method === CONTINUE_METHOD
        ? `continue_small@${ref.seed}`
        : ref.role === 'm1'
          ? `refine@${ref.method}-${ref.seed}`
          : ref.role === 'm0'
            ? `train_m0@${ref.seed}`
            : `train_small@${ref.index}-${ref.seed}`;
  for (const ref of refs) assert.equal(first.outcome.has(stageOf(ref)), true, `${ref.id} ran\n${first.stdout}`);

  // 2. Every artifact exists and parses.
  json(a('data/manifest.json'));
  const meta = json<{ vocab_size: number }>(a('tokens/meta.json'));
  assert.ok(meta.vocab_size > 0);
  for (const ref of refs) {
    const d = join(dir, ref.dir);
    assert.ok(existsSync(join(d, 'model.safetensors')), `${ref.id}/model.safetensors`);
    json(join(d, 'config.json'));
    if (ref.role === 'm1p') {
      json(join(d, 'growth.json'));
    } else {
      const train = json<{ steps: number; flops: number }>(join(d, 'train.json'));
      assert.ok(train.flops > 0, `${ref.id} train.json flops`);
      assert.ok(evalCurve(readMetrics(join(d, 'metrics.jsonl'))).length >= 2, `${ref.id} has a validation curve`);
    }
  }
  const evalMetrics = json<EvalMetrics>(a('eval/metrics.json'));
  // Timings live apart (artifacts/timings/…, declared `verify: false`), so the results' files hold none.
  assert.doesNotMatch(readFileSync(a('profile/profile.json'), 'utf8'), /wall_s|tflops_per_s|peak_rss|"kernels"/);
  assert.doesNotMatch(readFileSync(a('models/s1/m0/train.json'), 'utf8'), /wall_s|ms_per_step|peak_rss/);
  assert.doesNotMatch(readFileSync(a('models/s1/m0/metrics.jsonl'), 'utf8'), /wall_s/);
  assert.ok(json<{ wall_s: number }>(a('timings/models/s1/m0/train.json')).wall_s > 0, 'M0 wall time in its timings mirror');
  const profile = readJsonWithTimings(a('profile/profile.json'), dir) as ProfileReport;
  assert.ok(
    profile.stages.every((s) => s.wall_s > 0),
    'wall times merged back from artifacts/timings/profile/profile.json',
  );
  assert.deepEqual(evalMetrics.models.map((m) => m.id).sort(), refs.map((r) => r.id).sort());
  assert.ok(profile.kernels.small.length > 0 && profile.kernels.large.length > 0, 'profiled kernels');
  // Each competitor is charged for exactly the small models it used: merge both, the fpi variants
  // and the continued small model one.
  const smallFlops = (i: number) => json<{ flops: number }>(a(`models/small/s1/${i}/train.json`)).flops;
  const charged = (id: string) => profile.savings.find((s) => s.model === id)!;
  assert.deepEqual(charged('s1/m1/merge').charged_sources, [
    { id: 'small/s1/1', flops: smallFlops(1) },
    { id: 'small/s1/2', flops: smallFlops(2) },
  ]);
  for (const id of ['s1/m1/fpi_copy', 's1/m1/fpi_sb', 's1/m1/small_cont']) {
    assert.deepEqual(charged(id).charged_sources, [{ id: 'small/s1/1', flops: smallFlops(1) }], id);
    assert.equal(charged(id).small_flops, smallFlops(1), id);
  }
  // The continued small model's whole cost (its D1 training + the continuation) is at most M0's.
  const cont = json<{ flops: number }>(a('models/s1/m1/small_cont/train.json')).flops;
  const m0 = json<{ flops: number; flops_per_step: number }>(a('models/s1/m0/train.json'));
  assert.ok(
    cont + smallFlops(1) <= m0.flops && cont + smallFlops(1) > m0.flops - (2 * smallFlops(1)) / 30,
    `${cont} + ${smallFlops(1)} vs ${m0.flops}`,
  );
  const report = readdirSync(a('report')).sort();
  for (const f of ['index.html', 'report.md', 'table.tex', 'loss-vs-tflops.svg', 'loss-vs-wall.svg', 'small-models.svg']) {
    assert.ok(report.includes(f), `artifacts/report/${f}`);
  }

  // 3. A second run does nothing and leaves the lock byte-identical.
  const lock = readFileSync(join(dir, 'pipeline.lock'));
  const second = await grow(dir, ...smoke);
  assert.deepEqual(
    [...second.outcome.values()].filter((o) => o !== 'up to date'),
    [],
    second.stdout,
  );
  assert.ok(second.outcome.size > 0, second.stdout);
  assert.ok(readFileSync(join(dir, 'pipeline.lock')).equals(lock), 'pipeline.lock changed on a no-op run');

  // 4. Editing one refine param re-runs refine and what follows, nothing else.
  const refineLr = (overlay.refine?.lr ?? base.refine.lr) as number;
  writeFileSync(
    join(dir, 'params/smoke.yaml'),
    readFileSync(join(dir, 'params/smoke.yaml'), 'utf8').replace(/^refine:\n/m, `refine:\n  lr: ${refineLr * 0.5}\n`),
  );
  const third = await grow(dir, ...smoke);
  const ran = [...third.outcome]
    .filter(([, o]) => o !== 'up to date')
    .map(([s]) => s.replace(/@.*/, ''))
    .sort();
  assert.deepEqual([...new Set(ran)], ['evaluate', 'profile', 'refine', 'report'], third.stdout);

  // 5. The report's numbers equal those in the metrics files (after the third run).
  const ev = json<EvalMetrics>(a('eval/metrics.json'));
  const prof = json<ProfileReport>(a('profile/profile.json'));
  const md = readFileSync(a('report/report.md'), 'utf8');
  const html = readFileSync(a('report/index.html'), 'utf8');
  // A smoke report can never be mistaken for a result, and it says what produced it.
  assert.match(md, /^# .*\n\n> \*\*SMOKE RUN — NOT A RESULT/);
  assert.match(html, /<div id="banner"[^>]*><p>SMOKE RUN — NOT A RESULT/);
  assert.match(md, /\*\*params\*\*: params\/experiment\.yaml with these values laid over it .*"report":\{"kind":"smoke"\}/);
  assert.match(md, /\*\*headline split\*\*: validation/);
  for (const m of ev.models.filter((x) => x.role !== 'm1p')) {
    const cells = mdRow(md, m.label, m.seed);
    const cost = prof.stages.find((s) => s.id === m.id)!;
    assert.equal(cells[3], fmtTflops(cost.flops), `${m.id} TFLOPs`);
    ev.datasets.forEach((d, i) => {
      const s = m.datasets[d];
      assert.deepEqual(cells.slice(5 + 3 * i, 8 + 3 * i), [fmtLoss(s.loss), fmtPpl(s.ppl), fmtAcc(s.accuracy)], `${m.id} on ${d}`);
      assert.ok(html.includes(`<td>${fmtLoss(s.loss)}</td>`), `index.html shows ${m.id}'s loss on ${d}`);
    });
    if (m.role === 'm1') {
      const saving = prof.savings.find((s) => s.model === m.id)!;
      assert.equal(cells[5 + 3 * ev.datasets.length], fmtSaving(saving.saving_refine_only));
      assert.equal(cells[6 + 3 * ev.datasets.length], fmtSaving(saving.saving_with_small));
    }
  }

  // 6. The study graph at smoke size (tuning seed 7, reporting seeds 1 and 2, budgets 1x and 2x):
  // it reuses seed 1's small models and M1's, selects on the tuning seed, reports per budget.
  const study = await grow(dir, 'run', 'study_report', '--params', 'params/smoke.yaml', '--params', 'params/study-smoke.yaml');
  assert.equal(study.outcome.get('train_small@1-1'), 'up to date', study.stdout);
  assert.equal(study.outcome.get('study_report'), 'done', study.stdout);
  const sel = json<{ selected: Record<string, { lr: number; warmup: number }>; tune_seed: number }>(a('study/selected.json'));
  assert.equal(sel.tune_seed, 7);
  const so = parse(readFileSync(join(dir, 'params/study-smoke.yaml'), 'utf8'));
  assert.deepEqual(Object.keys(sel.selected).sort(), [...so.study.methods].sort());
  for (const s of Object.values(sel.selected)) assert.ok(so.study.lrs.includes(s.lr), `selected lr ${s.lr} is from the grid`);
  // Each method's selection also stands alone, the only selection file its study_run depends on.
  for (const [m, s] of Object.entries(sel.selected)) {
    assert.deepEqual(json(a(`study/selected/${m}.json`)), { tune_seed: 7, selected: { [m]: s } });
  }
  const studyJson = json<{
    loss_split: string;
    cells: { method: string; budget: number; seeds: number[]; final_val_loss: { n: number; ci95: unknown } }[];
  }>(a('study/report/study.json'));
  // Every run scored its final model on the whole validation split (--full-val), so the study reports that.
  assert.equal(studyJson.loss_split, 'full');
  const fullVal = json<{ full_val: { loss: number; tokens: number } }>(a(`study/run/b1/s${so.study.seeds[0]}/m0/train.json`)).full_val;
  assert.ok(fullVal.loss > 0 && fullVal.tokens > 0, JSON.stringify(fullVal));
  const cells = studyJson.cells;
  assert.equal(cells.length, so.study.methods.length * so.study.budgets.length);
  for (const c of cells) {
    assert.deepEqual(c.seeds, so.study.seeds, `${c.method} at budget ${c.budget}`);
    assert.ok(c.final_val_loss.ci95 !== null, 'an interval over the reporting seeds');
  }
  const studyMd = readFileSync(a('study/report/study.md'), 'utf8');
  assert.match(studyMd, /SMOKE RUN — NOT A RESULT/);
  // One per-seed row per budget and reporting seed.
  assert.equal(studyMd.match(/^\| \d+ \| \d+ \| \d/gm)?.length, so.study.budgets.length * so.study.seeds.length, studyMd);

  // 7. The page in a real browser: charts rendered, no console errors.
  if (!existsSync(CHROMIUM)) {
    t.diagnostic(`SKIPPED browser check: ${CHROMIUM} is absent (apt-get install -y chromium)`);
    return;
  }
  const browser = await launchChromium(t);
  try {
    const page = await browser.newPage();
    const errors = pageErrors(page);
    await page.goto(pathToFileURL(a('report/index.html')).href, { waitUntil: 'load' });
    const charts = await page.$$eval('figure.chart', (figs) =>
      figs.map((f) => ({
        id: f.id,
        marks: f.querySelectorAll('svg .mark-line path, svg .mark-symbol path').length,
        width: f.querySelector('svg')?.getBoundingClientRect().width ?? 0,
      })),
    );
    assert.deepEqual(charts.map((c) => c.id).sort(), ['chart-loss-vs-tflops', 'chart-loss-vs-wall', 'chart-small-models']);
    for (const c of charts) {
      assert.ok(c.marks > 0, `${c.id} has SVG marks`);
      assert.ok(c.width > 100, `${c.id} is laid out (width ${c.width})`);
    }
    assert.ok((await page.$$('table#models tbody tr')).length === refs.filter((r) => r.role !== 'm1p').length);
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
});
