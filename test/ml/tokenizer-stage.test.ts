// The download and tokenize stage programs, run as real child processes in a temp project,
// the way the runner runs them (cwd = project root, params file relative to it).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { loadTokenizer } from '../../src/ml/tokenizer/index.ts';
import { readTokens, readTokensMeta } from '../../src/experiment/artifacts/tokens.ts';

const repo = resolve(import.meta.dirname, '../..');
const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

function stage(root: string, name: string, args: string[] = [], env: Record<string, string> = {}): string {
  return execFileSync(process.execPath, ['--import', tsx, join(repo, 'stages', `${name}.ts`), ...args], {
    cwd: root,
    env: { ...process.env, GROW_ROOT: root, ...env },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

const PARAMS = `
data:
  val_fraction: 0.1
  test_fraction: 0.1
  sources:
    - {name: stories, type: file, path: corpus/stories.txt, format: text, roles: [small, large]}
    - {name: d1, type: wordnet-examples, roles: [small, large], max_sentences: 3000}
tokenizer:
  vocab_size: 400
  max_train_bytes: 60000
`;

test('download then tokenize: a file source and a WordNet source become datasets and token streams', () => {
  const root = mkdtempSync(join(tmpdir(), 'growline-stage-'));
  try {
    mkdirSync(join(root, 'params'));
    mkdirSync(join(root, 'corpus'));
    writeFileSync(join(root, 'params/experiment.yaml'), PARAMS);
    const story = Array.from({ length: 300 }, (_, i) => `Tom had ${i} red apples. He gave one to Sue, who said "thanks!"\n\n`).join('');
    writeFileSync(join(root, 'corpus/stories.txt'), story);

    const out = stage(root, 'download');
    assert.match(out, /::progress current=2 total=2/);
    const manifest = JSON.parse(readFileSync(join(root, 'artifacts/data/manifest.json'), 'utf8'));
    assert.deepEqual(
      manifest.sources.map((s: { name: string }) => s.name),
      ['stories', 'd1'],
    );
    const d1 = manifest.sources[1];
    assert.equal(d1.splits.train.sentences + d1.splits.val.sentences + d1.splits.test.sentences, 3000);

    // A runner override (grow run --set) changes the vocabulary without editing the file.
    stage(root, 'tokenize', [], {
      GROW_PARAMS_OVERRIDES: JSON.stringify({ 'params/experiment.yaml': { tokenizer: { vocab_size: 420 } } }),
    });
    const tokDir = join(root, 'artifacts/tokens');
    assert.deepEqual(readdirSync(tokDir).sort(), ['d1', 'meta.json', 'stories', 'tokenizer.json', 'tokenizer_config.json']);
    const meta = readTokensMeta(tokDir);
    assert.equal(meta.vocab_size, 420);
    assert.equal(meta.dtype, 'uint16');
    assert.equal(meta.eot_id, 0);
    assert.ok(meta.training.bytes <= 60000 && meta.training.bytes > 50000, String(meta.training.bytes));
    const tok = loadTokenizer(join(tokDir, 'tokenizer.json'));
    assert.equal(tok.vocabSize, 420);
    assert.equal(
      meta.tokenizer.sha256,
      createHash('sha256')
        .update(readFileSync(join(tokDir, 'tokenizer.json')))
        .digest('hex'),
    );

    for (const src of meta.sources) {
      for (const split of ['train', 'val', 'test'] as const) {
        const info = src.splits[split];
        const bytes = readFileSync(join(tokDir, info.file));
        assert.equal(info.sha256, createHash('sha256').update(bytes).digest('hex'));
        assert.equal(bytes.length, info.tokens * 2);
        const ids = readTokens(join(tokDir, info.file));
        if (bytes.length > 0) assert.equal(ids[0], bytes.readUInt16LE(0));
        // Decoding the stream and cutting at the eot ids gives back exactly the split's sentences.
        const sentences = readFileSync(join(root, 'artifacts/data', src.name, `${split}.txt`), 'utf8')
          .split('\n')
          .slice(0, -1);
        assert.equal(info.sentences, sentences.length);
        const decoded = ids.length === 0 ? [] : tok.decode(ids).split('<|endoftext|>');
        assert.deepEqual(decoded, sentences);
      }
    }
    assert.deepEqual(meta.sources[1].roles, ['small', 'large']);
    assert.equal(readdirSync(join(root, 'artifacts')).sort().join(), 'data,tokens'); // no temp dirs

    // --params picks another file; a bad key fails with a message naming it, leaving the outs.
    writeFileSync(join(root, 'params/bad.yaml'), PARAMS.replace('vocab_size: 400', 'vocab_size: 10'));
    assert.throws(
      () => stage(root, 'tokenize', ['--params', 'params/bad.yaml']),
      (e: { status: number; stderr: string }) =>
        e.status === 1 && /params\/bad.yaml: tokenizer.vocab_size must be an integer/.test(e.stderr),
    );
    assert.equal(JSON.parse(readFileSync(join(tokDir, 'meta.json'), 'utf8')).vocab_size, 420);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
