// The report page in a real headless Chromium, at a phone's width (390 px) and a desktop's: the
// charts fit the screen without clipping, the model legend tells the M1 variants apart by colour
// and by point shape, and the line-style legend names the target rule.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildProfile, loadRuns } from '../../src/experiment/profile.ts';
import { assembleReport } from '../../src/report/assemble.ts';
import { TARGET } from '../../src/report/charts.ts';
import { writeReport } from '../../src/report/index.ts';
import { writeSyntheticRun } from './fixtures.ts';
import { CHROMIUM, launchChromium } from '../helpers/chromium.ts';

test('the report page fits a 390 px phone and a desktop; variants and the target are in the legends', { timeout: 120_000 }, async (t) => {
  if (!existsSync(CHROMIUM)) {
    t.skip(`${CHROMIUM} is absent (apt-get install -y chromium)`);
    return;
  }
  const root = mkdtempSync(join(tmpdir(), 'growline-page-'));
  t.after(() => rmSync(root, { recursive: true, force: true }));
  const { refs, evalMetrics } = writeSyntheticRun(root, [1, 2], ['merge', 'fpi_copy', 'fpi_sb']);
  const profile = buildProfile(loadRuns(refs, root), { small: [], large: [] }, root);
  await writeReport(assembleReport({ root, refs, evalMetrics, profile }), join(root, 'report'));

  const browser = await launchChromium(t);
  try {
    for (const width of [390, 1280]) {
      const page = await browser.newPage();
      await page.setViewportSize({ width, height: 800 });
      await page.goto(pathToFileURL(join(root, 'report/index.html')).href, { waitUntil: 'load' });
      // GROWLINE_SCREENSHOTS=DIR: keep a picture of the first chart at each width, to look at.
      if (process.env.GROWLINE_SCREENSHOTS)
        await page
          .locator('figure.chart')
          .first()
          .screenshot({ path: join(process.env.GROWLINE_SCREENSHOTS, `chart-${width}.png`) });
      const layout = await page.evaluate(() => ({
        scrollWidth: document.documentElement.scrollWidth,
        charts: [...document.querySelectorAll('figure.chart')].map((f) => {
          const shown = [...f.querySelectorAll('svg')].filter((s) => s.getBoundingClientRect().width > 0);
          const svg = shown[0];
          const box = svg?.getBoundingClientRect();
          const native = Number(svg?.getAttribute('width'));
          // The smallest legend label as drawn on screen: its font size times the SVG's scale.
          const fonts = [...(svg?.querySelectorAll('.role-legend-label text') ?? [])].map((el) =>
            parseFloat(getComputedStyle(el).fontSize || el.getAttribute('font-size') || '0'),
          );
          return {
            id: f.id,
            shown: shown.length,
            right: box ? box.right : 0,
            scale: box && native ? box.width / native : 0,
            minFont: Math.min(...fonts),
            legendText: [...(svg?.querySelectorAll('.role-legend text') ?? [])].map((el) => el.textContent),
            symbols: [...(svg?.querySelectorAll('.role-legend-symbol path') ?? [])].map((el) => el.getAttribute('d')),
          };
        }),
      }));
      assert.ok(layout.scrollWidth <= width, `at ${width} px the page scrolls sideways (${layout.scrollWidth} px wide)`);
      assert.equal(layout.charts.length, 3);
      for (const c of layout.charts) {
        assert.equal(c.shown, 1, `${c.id}: exactly one rendering shown at ${width} px`);
        assert.ok(c.right <= width, `${c.id} ends at ${c.right} px, past the ${width} px screen`);
        assert.ok(c.minFont * c.scale >= 8, `${c.id} legend text is ${(c.minFont * c.scale).toFixed(1)} px on screen at ${width} px`);
      }
      for (const id of ['chart-loss-vs-tflops', 'chart-loss-vs-wall']) {
        const c = layout.charts.find((x) => x.id === id)!;
        assert.ok(c.legendText.includes(TARGET), `${id}: the target rule is in the legend (${c.legendText.join(' | ')})`);
        for (const v of ['M1 (merge)', 'M1 (fpi_copy)', 'M1 (fpi_sb)'])
          assert.ok(
            c.legendText.some((x) => x?.startsWith(v)),
            `${id}: ${v} in the legend`,
          );
      }
      // The model legend's point shapes differ (the variants are told apart without colour).
      const tf = layout.charts.find((x) => x.id === 'chart-loss-vs-tflops')!;
      assert.ok(new Set(tf.symbols).size >= 4, `distinct legend shapes: ${tf.symbols.length}`);
      await page.close();
    }
  } finally {
    await browser.close();
  }
});
