import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildProfile, loadRuns } from '../../src/experiment/profile.ts';
import { assembleReport } from '../../src/report/assemble.ts';
import { renderSvg, largeModelsSpec } from '../../src/report/charts.ts';
import { fmtLoss, fmtSaving, fmtTflops } from '../../src/report/format.ts';
import { writeReport } from '../../src/report/index.ts';
import { texEscape } from '../../src/report/latex.ts';
import { DATASETS, writeSyntheticRun } from './fixtures.ts';

function build(root: string, seeds = [1]) {
  const { refs, evalMetrics } = writeSyntheticRun(root, seeds);
  const profile = buildProfile(loadRuns(refs, root), { small: [{ name: 'BatchMatMul', ms: 3.5, count: 4 }], large: [] }, root);
  return { refs, evalMetrics, profile, input: assembleReport({ root, refs, evalMetrics, profile }) };
}

test('the profile computes savings from the synthetic curves: merge reaches M0, stack does not', () => {
  const root = mkdtempSync(join(tmpdir(), 'growline-report-'));
  try {
    const { profile } = build(root);
    const merge = profile.savings.find((s) => s.method === 'merge')!;
    const stack = profile.savings.find((s) => s.method === 'stack')!;
    assert.equal(merge.reached, true);
    assert.ok(merge.saving_refine_only! > 0.5, `merge saving ${merge.saving_refine_only}`);
    assert.equal(merge.small_flops, 2 * 200 * 1e9);
    assert.deepEqual(
      merge.charged_sources.map((c) => c.id),
      ['small/s1/1', 'small/s1/2'],
    );
    // A one-source method is charged for the one small model it grew, not for both.
    assert.equal(stack.small_flops, 200 * 1e9);
    assert.deepEqual(stack.charged_sources, [{ id: 'small/s1/1', flops: 200 * 1e9 }]);
    assert.equal(stack.reached, false);
    assert.equal(stack.operator_flops, 5e10);
    assert.equal(profile.best?.model, 's1/m1/merge');
    const m0 = profile.stages.find((s) => s.id === 's1/m0')!;
    assert.equal(m0.tflops_per_s, (400 * 4e9) / 4 / 1e12);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('charts render to SVG with one line mark per series, and M1 appears with and without its overhead', async () => {
  const root = mkdtempSync(join(tmpdir(), 'growline-report-'));
  try {
    const { input } = build(root);
    const svg = await renderSvg(largeModelsSpec(input, 'flops'));
    assert.match(svg, /^<svg[^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
    // M0 + 2 methods × (refine only, incl. small models) = 5 line paths.
    const lines = svg.match(/<path[^>]*aria-roledescription="line mark"/g) ?? [];
    assert.equal(lines.length, 5, svg.slice(0, 400));
    assert.match(svg, /incl\. small models/);
    assert.match(svg, /M1 \(merge\)/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("writeReport writes a self-contained page, Markdown and LaTeX with the metrics files' numbers", async () => {
  const root = mkdtempSync(join(tmpdir(), 'growline-report-'));
  try {
    const { input, evalMetrics, profile } = build(root, [1, 2]);
    const out = join(root, 'report');
    const files = await writeReport(input, out);
    assert.deepEqual(files.sort(), ['index.html', 'loss-vs-tflops.svg', 'loss-vs-wall.svg', 'report.md', 'small-models.svg', 'table.tex']);
    const html = readFileSync(join(out, 'index.html'), 'utf8');
    const md = readFileSync(join(out, 'report.md'), 'utf8');
    const tex = readFileSync(join(out, 'table.tex'), 'utf8');
    // Each chart twice: wide and narrow (the page shows the one that fits the screen).
    assert.equal((html.match(/<svg/g) ?? []).length, 6);
    assert.doesNotMatch(html, /<script|<link|src="http|url\(http|@import/);
    for (const m of evalMetrics.models.filter((x) => x.role !== 'm1p')) {
      for (const d of DATASETS) {
        const loss = fmtLoss(m.datasets[d].loss);
        assert.ok(md.includes(loss) && html.includes(loss) && tex.includes(loss), `${m.id} ${d} loss ${loss}`);
      }
      const cost = profile.stages.find((s) => s.id === m.id)!;
      assert.ok(md.includes(fmtTflops(cost.flops)), `${m.id} TFLOPs`);
    }
    const merge = profile.savings.find((s) => s.model === 's1/m1/merge')!;
    assert.ok(md.includes(fmtSaving(merge.saving_refine_only)));
    assert.ok(tex.includes(texEscape(fmtSaving(merge.saving_refine_only))));
    assert.match(md, /not reached/);
    // Equal compute: M0's loss interpolated at M1's refine budget is shown beside M1's final loss.
    assert.match(md, /## Validation loss at equal compute/);
    assert.ok(merge.at_refine_budget.m0_val_loss !== null);
    assert.ok(
      md.includes(
        `| M1 (merge) | 1 | refine only | ${fmtTflops(merge.at_refine_budget.flops)} | ${fmtLoss(merge.at_refine_budget.m0_val_loss)} | ${fmtLoss(merge.m1_final_val_loss)} |`,
      ),
    );
    // Two seeds: the per-method spread table is there.
    assert.match(md, /## Growth methods over seeds/);
    assert.match(md, /\| merge \| 2 \| 2\/2 \|/);
    assert.match(tex, /\\toprule[\s\S]*\\midrule[\s\S]*\\bottomrule/);
    assert.match(tex, /\\cmidrule\(lr\)\{6-8\}/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
