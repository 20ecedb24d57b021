/** Temp projects with real files for the spec/graph tests. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { after } from 'node:test';
import { GrowError } from '../../src/pipeline/errors.ts';

const made: string[] = [];
after(() => {
  for (const d of made) rmSync(d, { recursive: true, force: true });
});

/** A temp project holding `files` (path → text); returns its absolute root. */
export function project(files: Record<string, string>): string {
  const root = mkdtempSync(path.join(tmpdir(), 'grow-spec-'));
  made.push(root);
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    writeFileSync(path.join(root, rel), text);
  }
  return root;
}

/** Strip the common indentation of a template literal, so YAML in tests reads naturally. */
export function yaml(s: string): string {
  const lines = s.replace(/^\n/, '').split('\n');
  const indent = Math.min(...lines.filter((l) => l.trim()).map((l) => l.length - l.trimStart().length));
  return lines.map((l) => l.slice(indent)).join('\n');
}

/** The error `fn` throws (sync or async), which must be a GrowError; message and hint joined. */
export async function errorOf(fn: () => unknown): Promise<GrowError & { text: string }> {
  try {
    await fn();
  } catch (e) {
    if (!(e instanceof GrowError)) throw e;
    return Object.assign(e, { text: `${e.message}\n${e.hint ?? ''}` });
  }
  throw new Error('expected an error, but none was thrown');
}
