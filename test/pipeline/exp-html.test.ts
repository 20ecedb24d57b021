/**
 * `grow exp show --html`: the page in a real headless Chromium — the table, one chart per logged
 * value with a line per experiment (read from the cache, so an experiment whose files were
 * overwritten since still plots), nothing fetched from the network, nothing wider than a phone.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { after, test } from 'node:test';
import { CHROMIUM, launchChromium, pageErrors } from '../helpers/chromium.ts';
import { TestProject } from '../helpers/grow-project.ts';

const projects: TestProject[] = [];
after(() => projects.forEach((p) => p.cleanup()));

/** A stage that logs loss and acc per step (JSON lines) and a final metric, shaped by `lr`. */
function project(): TestProject {
  const p = new TestProject({
    'params.yaml': 'lr: 0.1\n',
    'train.sh': `lr=$1
awk -v lr="$lr" 'BEGIN { for (s = 1; s <= 8; s++) printf "{\\"step\\": %d, \\"loss\\": %.6f, \\"acc\\": %.4f}\\n", s, 5 / (s * lr * 10 + 1), s * lr / 8 }' > log.jsonl
awk -v lr="$lr" 'BEGIN { printf "{\\"loss\\": %.6f}\\n", 5 / (80 * lr + 1) }' > metrics.json
`,
    'pipeline.yaml': `stages:
  train:
    cmd: sh train.sh \${lr}
    deps: [train.sh]
    params: [lr]
    metrics: [metrics.json]
    plots: [log.jsonl]
`,
  });
  projects.push(p);
  return p;
}

test('exp show --html writes one page: the table and overlaid curves, readable at 390 px', async (t) => {
  const p = project();
  await p.ok(['run', '-n', 'lr-0.1']);
  await p.ok(['run', '-n', 'lr-0.3', '--set', 'lr=0.3']);
  await p.ok(['run', '-n', 'lr-1', '--set', 'lr=1']);
  const r = await p.ok(['exp', 'show', '--html', 'report/exps.html']);
  assert.equal(r.stdout.trim(), 'wrote report/exps.html: 3 experiments, 2 charts');
  const html = p.read('report/exps.html');
  assert.doesNotMatch(html, /<script|https?:\/\/(?!www\.w3\.org)/, 'self-contained: no scripts, nothing to fetch');
  const only = await p.ok(['exp', 'show', 'lr-0.1', 'lr-1', '--html', 'two.html', '--plot', 'loss']);
  assert.equal(only.stdout.trim(), 'wrote two.html: 2 experiments, 1 chart');

  if (!existsSync(CHROMIUM)) {
    t.diagnostic(`SKIPPED browser check: ${CHROMIUM} is absent (apt-get install -y chromium)`);
    return;
  }
  const browser = await launchChromium(t);
  try {
    const page = await browser.newPage();
    const errors = pageErrors(page);
    for (const width of [1100, 390]) {
      await page.setViewportSize({ width, height: 800 });
      await page.goto(pathToFileURL(p.path('report/exps.html')).href, { waitUntil: 'load' });
      const rows = await page.$$eval('table#experiments tbody tr', (trs) =>
        trs.map((tr) => [...tr.children].map((c) => c.textContent?.trim())),
      );
      assert.deepEqual(
        rows.map((row) => [row[0], row[2], row[3]]),
        [
          ['lr-0.1', '0.1', '0.55556'],
          ['lr-0.3', '0.3', '0.2'],
          ['lr-1', '1', '0.061728'],
        ],
      );
      const charts = await page.$$eval('figure.chart', (figs) =>
        figs.map((f) => {
          const box = f.querySelector('svg')!.getBoundingClientRect();
          return {
            title: f.querySelector('figcaption')?.textContent,
            lines: f.querySelectorAll('svg .mark-line path').length,
            legend: [...f.querySelectorAll('svg .role-legend-label text')].map((x) => x.textContent),
            left: box.left,
            right: box.right,
          };
        }),
      );
      assert.deepEqual(
        charts.map((c) => c.title),
        ['loss — log.jsonl', 'acc — log.jsonl'],
      );
      for (const c of charts) {
        assert.equal(c.lines, 3, `${c.title}: a line per experiment`);
        assert.deepEqual(c.legend, ['lr-0.1', 'lr-0.3', 'lr-1']);
        assert.ok(c.left >= 0 && c.right <= width, `${c.title} fits ${width} px (${c.left}–${c.right})`);
      }
      // Nothing makes the page scroll sideways; only the table may, inside its own box.
      assert.equal(await page.evaluate(() => document.documentElement.scrollWidth), width);
    }
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
});

test('exp show --html: curves come from the cache; without plots the page says how to get them', async () => {
  const p = project();
  await p.ok(['run', '-n', 'a']);
  await p.ok(['run', '-n', 'b', '--set', 'lr=0.5']);
  // The workspace now holds b's log only: a's curve must come from the cache.
  p.remove('log.jsonl');
  await p.ok(['exp', 'show', '--html', 'x.html']);
  const page = p.read('x.html');
  assert.equal(page.match(/<figure class="chart"/g)?.length, 2);
  // Both experiments in each chart's legend.
  assert.equal(page.match(/<text[^>]*>a<\/text>/g)?.length, 2);
  assert.equal(page.match(/<text[^>]*>b<\/text>/g)?.length, 2);

  const bare = new TestProject({
    'm.src': '{"v": 1}\n',
    'pipeline.yaml': 'stages:\n  s:\n    cmd: cp m.src m.json\n    deps: [m.src]\n    metrics: [m.json]\n',
  });
  projects.push(bare);
  await bare.ok(['run', '-n', 'only']);
  const r = await bare.ok(['exp', 'show', '--html', 'y.html']);
  assert.equal(r.stdout.trim(), 'wrote y.html: 1 experiment, 0 charts');
  assert.match(bare.read('y.html'), /No curves: declare a per-step log/);
});
