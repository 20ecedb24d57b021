import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildProfile, loadRuns } from '../../src/experiment/profile.ts';
import { assembleReport } from '../../src/report/assemble.ts';
import { writeReport } from '../../src/report/index.ts';
import { bannerFor, describeParams } from '../../src/report/provenance.ts';
import { writeSyntheticRun } from './fixtures.ts';

const clean = { commit: 'abc123', dirty: false };

test('only a study on at least five seeds from a clean commit has no banner', () => {
  assert.deepEqual(bannerFor({ kind: 'study', seeds: [11, 12, 13, 14, 15], ...clean }), []);
  assert.match(bannerFor({ kind: 'smoke', seeds: [1], ...clean }).join(' '), /^SMOKE RUN — NOT A RESULT/);
  assert.match(bannerFor({ kind: 'quick', seeds: [1], ...clean }).join(' '), /^QUICK LOOK — NOT THE STUDY/);
  assert.match(bannerFor({ kind: 'study', seeds: [1, 2, 3], ...clean }).join(' '), /ONLY 3 REPORTING SEED/);
  assert.match(bannerFor({ kind: 'study', seeds: [1, 2, 3, 4, 5], commit: 'abc', dirty: true }).join(' '), /UNCOMMITTED CHANGES/);
  assert.match(bannerFor({ kind: 'study', seeds: [1, 2, 3, 4, 5], commit: null, dirty: null }).join(' '), /NO COMMIT RECORDED/);
});

test('the params description quotes the overrides laid over the file', () => {
  assert.equal(describeParams('params/experiment.yaml', undefined), 'params/experiment.yaml (no overlay, no --set)');
  const d = describeParams('params/experiment.yaml', JSON.stringify({ 'params/experiment.yaml': { seeds: [2], refine: { lr: 0.002 } } }));
  assert.match(d, /\{"seeds":\[2\],"refine":\{"lr":0\.002\}\}/);
});

test('the banner heads report.md and index.html and marks table.tex', async () => {
  const root = mkdtempSync(join(tmpdir(), 'growline-provenance-'));
  try {
    const { refs, evalMetrics } = writeSyntheticRun(root);
    const profile = buildProfile(loadRuns(refs, root), { small: [], large: [] }, root);
    const banner = bannerFor({ kind: 'smoke', seeds: [1], commit: null, dirty: null });
    await writeReport(assembleReport({ root, refs, evalMetrics, profile, banner }), join(root, 'report'));
    const md = readFileSync(join(root, 'report', 'report.md'), 'utf8');
    // Right under the title, before any number.
    assert.match(md.split('\n').slice(0, 3).join('\n'), /> \*\*SMOKE RUN — NOT A RESULT/);
    const html = readFileSync(join(root, 'report', 'index.html'), 'utf8');
    assert.ok(html.indexOf('id="banner"') < html.indexOf('id="headline"'));
    assert.match(html, /NO COMMIT RECORDED/);
    assert.match(readFileSync(join(root, 'report', 'table.tex'), 'utf8'), /\\caption\{\\textbf\{NOT A RESULT/);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
