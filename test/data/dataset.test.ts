import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { test } from 'node:test';
import { buildDatasets, readManifest } from '../../src/data/dataset.ts';
import { DataError } from '../../src/data/errors.ts';
import { parseSources } from '../../src/data/sources.ts';

function project(): string {
  return mkdtempSync(join(tmpdir(), 'growline-data-'));
}

function lines(file: string): string[] {
  const t = readFileSync(file, 'utf8');
  return t === '' ? [] : t.slice(0, -1).split('\n');
}

test('file sources are cleaned, de-duplicated within and across sources, split and hashed', async () => {
  const root = project();
  try {
    writeFileSync(join(root, 'a.txt'), 'The cat sat.\n  The   cat sat. \n\nA dog ran\u0007 home.\n\t\nﬁsh swim\n');
    writeFileSync(join(root, 'b.txt'), 'The cat sat.\nBirds fly south. They come back in spring.\n<|endoftext|>\nNew paragraph here.\n');
    const sources = parseSources(
      [
        { name: 'a', type: 'file', path: 'a.txt', roles: ['small', 'large'] },
        { name: 'b', type: 'file', path: join(root, 'b.txt'), format: 'text', role: 'large' },
      ],
      'test',
    );
    const outDir = join(root, 'artifacts/data');
    const m = await buildDatasets({ root, sources, fractions: { val: 0.3, test: 0.3 }, outDir, downloadDir: join(root, 'dl') });
    const read = (name: string) => ['train', 'val', 'test'].flatMap((s) => lines(join(outDir, name, `${s}.txt`)));
    assert.deepEqual(read('a').sort(), ['A dog ran home.', 'The cat sat.', 'fish swim']);
    // "The cat sat." belongs to a, the first source that has it.
    assert.deepEqual(read('b').sort(), ['Birds fly south.', 'New paragraph here.', 'They come back in spring.']);
    assert.deepEqual(m.sources[0].dropped, { empty: 2, duplicate: 1, overLimit: 0 });
    assert.equal(m.sources[1].dropped.duplicate, 1);
    assert.deepEqual(m.sources[1].roles, ['large']);
    assert.equal(m.sources[0].input.file, 'a.txt'); // project-relative: the manifest is portable
    for (const src of m.sources) {
      for (const split of ['train', 'val', 'test'] as const) {
        const bytes = readFileSync(join(outDir, src.name, `${split}.txt`));
        assert.equal(src.splits[split].bytes, bytes.length);
        assert.equal(src.splits[split].sentences, lines(join(outDir, src.name, `${split}.txt`)).length);
        assert.equal(src.splits[split].sha256, createHash('sha256').update(bytes).digest('hex'));
      }
    }
    assert.deepEqual(readManifest(outDir), JSON.parse(JSON.stringify(m)));
    assert.deepEqual(readdirSync(join(root, 'artifacts')), ['data']); // no temp dirs left
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('adding sentences to a source never moves existing ones to another split', async () => {
  const root = project();
  try {
    const base = Array.from({ length: 400 }, (_, i) => `base sentence ${i}.`);
    const extra = Array.from({ length: 400 }, (_, i) => `extra sentence ${i}.`);
    const run = async (content: string[]) => {
      writeFileSync(join(root, 'c.txt.gz'), gzipSync(content.join('\n')));
      const sources = parseSources([{ name: 'c', type: 'file', path: 'c.txt.gz', roles: ['small'] }], 'test');
      const outDir = join(root, 'out');
      await buildDatasets({ root, sources, fractions: { val: 0.2, test: 0.2 }, outDir, downloadDir: root });
      const where = new Map<string, string>();
      for (const s of ['train', 'val', 'test']) for (const l of lines(join(outDir, 'c', `${s}.txt`))) where.set(l, s);
      return where;
    };
    const before = await run(base);
    assert.equal(before.size, 400);
    const after = await run([...extra.slice(0, 200), ...base.reverse(), ...extra.slice(200)]);
    assert.equal(after.size, 800);
    for (const [s, split] of before) assert.equal(after.get(s), split, s);
    assert.ok(new Set(before.values()).size === 3);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('a failing source leaves the previous dataset untouched and no temp dirs', async () => {
  const root = project();
  try {
    writeFileSync(join(root, 'ok.txt'), 'one.\ntwo.\n');
    const outDir = join(root, 'data');
    const ok = parseSources([{ name: 'ok', type: 'file', path: 'ok.txt', roles: ['small'] }], 'test');
    await buildDatasets({ root, sources: ok, fractions: { val: 0, test: 0 }, outDir, downloadDir: root });
    const before = readFileSync(join(outDir, 'manifest.json'), 'utf8');
    const bad = parseSources(
      [
        ...[{ name: 'ok', type: 'file', path: 'ok.txt', roles: ['small'] }],
        { name: 'missing', type: 'file', path: 'nope.txt', roles: ['small'] },
      ],
      'test',
    );
    await assert.rejects(
      buildDatasets({ root, sources: bad, fractions: { val: 0, test: 0 }, outDir, downloadDir: root }),
      (e: Error) => e instanceof DataError && /nope\.txt/.test(e.message),
    );
    assert.equal(readFileSync(join(outDir, 'manifest.json'), 'utf8'), before);
    assert.deepEqual(readdirSync(root).sort(), ['data', 'ok.txt']);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('source specs are validated with messages that name the key and the fix', () => {
  const bad: [unknown, RegExp][] = [
    [[], /non-empty list/],
    [[{ name: 'x', type: 'url', url: 'https://example.org/a.txt', roles: ['small'], max_bytes: 10 }], /sha256 is required/],
    [[{ name: 'x', type: 'ftp', roles: ['small'] }], /type must be one of/],
    [[{ name: 'x/y', type: 'file', path: 'a', roles: ['small'] }], /name must be/],
    [[{ name: 'x', type: 'file', path: 'a' }], /roles/],
    [
      [
        { name: 'x', type: 'file', path: 'a', roles: ['s'] },
        { name: 'x', type: 'file', path: 'b', roles: ['s'] },
      ],
      /unique/,
    ],
    [[{ name: 'x', type: 'file', path: 'a', roles: ['s'], colour: 1 }], /unknown key "colour"/],
    [[{ name: 'x', type: 'url', url: 'https://e.org/a', sha256: 'a'.repeat(64), roles: ['s'] }], /max_bytes/],
  ];
  for (const [raw, re] of bad) {
    assert.throws(
      () => parseSources(raw, 'p.yaml: data.sources'),
      (e: Error) => e instanceof DataError && re.test(e.message) && e.message.startsWith('p.yaml: data.sources'),
    );
  }
});
