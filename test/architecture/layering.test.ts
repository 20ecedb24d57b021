import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { test } from 'node:test';
import { execFileSync } from 'node:child_process';

/**
 * The layering of docs/ARCHITECTURE.md ("Layering"), read from its table and checked against every
 * relative import in src/ and stages/. The table is the one place the rule is written: the test
 * reads it rather than holding a copy that could drift from the docs.
 */
const root = join(import.meta.dirname, '../..');

function layeringTable(): Map<string, string[]> {
  const doc = readFileSync(join(root, 'docs/ARCHITECTURE.md'), 'utf8');
  const section = doc.split(/^## Layering$/m)[1]?.split(/^## /m)[0];
  assert.ok(section, 'docs/ARCHITECTURE.md has a "## Layering" section');
  const rows = new Map<string, string[]>();
  for (const line of section.split('\n')) {
    const m = /^\| `([^`]+)` \| (.*) \|$/.exec(line);
    if (m)
      rows.set(
        m[1],
        [...m[2].matchAll(/`([^`]+)`/g)].map((x) => x[1]),
      );
  }
  assert.ok(rows.size >= 10, `the Layering table has its rows (found ${rows.size})`);
  return rows;
}

/** The row a path belongs to: the longest row path equal to it or containing it. */
function rowOf(rows: Map<string, string[]>, path: string): string | undefined {
  let best: string | undefined;
  for (const key of rows.keys()) {
    if ((path === key || path.startsWith(`${key}/`)) && (best === undefined || key.length > best.length)) best = key;
  }
  return best;
}

/** Relative specifiers of every import, export-from and dynamic import (type-only ones included). */
function importsOf(text: string): string[] {
  const found: string[] = [];
  for (const m of text.matchAll(/(?:^|\s)(?:import|export)\s[^'";]*?from\s*['"](\.{1,2}\/[^'"]+)['"]/g)) found.push(m[1]);
  for (const m of text.matchAll(/\bimport\s*\(?\s*['"](\.{1,2}\/[^'"]+)['"]/g)) found.push(m[1]);
  return found;
}

const sources = execFileSync('git', ['ls-files', 'src', 'stages'], { cwd: root, encoding: 'utf8' })
  .split('\n')
  .filter((f) => f.endsWith('.ts'));

test('every source file belongs to a row of the layering table', () => {
  const rows = layeringTable();
  assert.ok(sources.length > 100, `found the sources (${sources.length})`);
  assert.deepEqual(
    sources.filter((f) => rowOf(rows, f) === undefined),
    [],
    'add a row for their folder to the Layering table in docs/ARCHITECTURE.md',
  );
});

test('every import in src/ and stages/ is one the layering table allows', () => {
  const rows = layeringTable();
  const violations: string[] = [];
  let checked = 0;
  for (const file of sources) {
    const from = rowOf(rows, file);
    if (from === undefined) continue;
    for (const spec of importsOf(readFileSync(join(root, file), 'utf8'))) {
      const target = relative(root, normalize(join(root, dirname(file), spec)))
        .split('\\')
        .join('/');
      const to = rowOf(rows, target) ?? target;
      checked++;
      if (to !== from && !rows.get(from)!.includes(to)) violations.push(`${file} imports ${target} (${from} may not import ${to})`);
    }
  }
  assert.ok(checked > 300, `the scan found the imports (${checked})`);
  assert.deepEqual(violations, [], 'move the code to a part that may import it, or change the table with a reason');
});

test('the rule catches an upward import (the runner importing the experiment)', () => {
  const rows = layeringTable();
  assert.equal(rowOf(rows, 'src/pipeline/run/scheduler.ts'), 'src/pipeline/run');
  assert.equal(rowOf(rows, 'src/pipeline/types.ts'), 'src/pipeline');
  assert.ok(!rows.get('src/pipeline/run')!.includes(rowOf(rows, 'src/ml/core/train.ts')!));
  assert.ok(!rows.get('src/ml/core')!.includes(rowOf(rows, 'stages/lib/params.ts')!));
  assert.deepEqual(importsOf("import type { A } from '../x.ts';\nexport { b } from './y.ts';\nawait import('./z.ts');"), [
    '../x.ts',
    './y.ts',
    './z.ts',
  ]);
});
