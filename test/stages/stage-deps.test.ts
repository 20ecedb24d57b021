import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { build } from 'esbuild';
import { parse } from 'yaml';

/**
 * Every stage that runs a stages/*.ts program must list, in its deps, every source file that
 * program loads: a file outside the deps can change without invalidating the stage, and the cache
 * would then serve results the current code would not produce. esbuild resolves the imports as
 * tsx does at run time (static and dynamic, type-only imports dropped) and lists the whole closure.
 */
const root = resolve(import.meta.dirname, '../..');

interface StageSpec {
  cmd?: string;
  deps?: unknown[];
  do?: StageSpec;
}

function stages(): { name: string; program: string; deps: string[] }[] {
  const doc = parse(readFileSync(resolve(root, 'pipeline.yaml'), 'utf8'), { merge: true }) as { stages: Record<string, StageSpec> };
  const out: { name: string; program: string; deps: string[] }[] = [];
  for (const [name, raw] of Object.entries(doc.stages)) {
    const spec = raw.do ?? raw;
    const program = /\bstages\/[\w/.-]+\.ts\b/.exec(spec.cmd ?? '')?.[0];
    if (!program) continue;
    out.push({
      name,
      program,
      deps: (spec.deps ?? []).filter((d): d is string => typeof d === 'string').map((d) => d.replace(/\/+$/, '')),
    });
  }
  return out;
}

async function importClosure(program: string): Promise<string[]> {
  const r = await build({
    entryPoints: [resolve(root, program)],
    bundle: true,
    write: false,
    metafile: true,
    platform: 'node',
    format: 'esm',
    packages: 'external',
    logLevel: 'silent',
  });
  // metafile paths are relative to esbuild's working directory.
  return Object.keys(r.metafile.inputs).map((f) => relative(root, resolve(process.cwd(), f)).split('\\').join('/'));
}

test("every file a stage program imports is covered by one of that stage's deps", async () => {
  const found = stages();
  assert.ok(found.length >= 8, `expected the experiment's stages in pipeline.yaml, found ${found.map((s) => s.name).join(', ')}`);
  const gaps: string[] = [];
  const closures = new Map<string, string[]>();
  for (const s of found) {
    if (!closures.has(s.program)) closures.set(s.program, await importClosure(s.program));
    const files = closures.get(s.program)!;
    assert.ok(files.includes(s.program), `${s.program} is in its own closure`);
    for (const f of files) {
      if (!s.deps.some((d) => f === d || f.startsWith(`${d}/`)))
        gaps.push(`${s.name}: ${f} (imported by ${s.program}) is not under any dep`);
    }
  }
  assert.deepEqual(gaps, [], "add the file or its folder to the stage's deps in pipeline.yaml");
});
