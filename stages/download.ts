/**
 * Stage `download`: the sentence datasets. Reads params (default params/experiment.yaml,
 * `--params FILE` to choose another) and writes
 *
 *   artifacts/data/<source>/{train,val,test}.txt  and  artifacts/data/manifest.json
 *
 * Params keys read (list them in pipeline.yaml): data.sources, data.val_fraction,
 * data.test_fraction, data.download_dir (optional; default artifacts/downloads, a cache of url
 * sources that is not an out). See docs/data.md.
 */
import { isAbsolute, join, resolve } from 'node:path';
import { buildDatasets, type DataManifest } from '../src/data/dataset.ts';
import { DataError } from '../src/data/errors.ts';
import { parseSources } from '../src/data/sources.ts';
import { loadParams, parseArgs, type Params } from './lib/params.ts';
import { runMain } from './lib/main.ts';
import { reportProgress } from './lib/progress.ts';

export const DATA_DIR = 'artifacts/data';
const DEFAULT_DOWNLOAD_DIR = 'artifacts/downloads';

/** Build the datasets the params describe under `root` (the project root). */
async function runDownload(params: Params, root: string, log: (line: string) => void = console.error): Promise<DataManifest> {
  const sourcesRaw = params.get('data.sources');
  const sources = parseSources(sourcesRaw, `${params.file}: data.sources`);
  const fractions = { val: params.num('data.val_fraction'), test: params.num('data.test_fraction') };
  const downloadDir = params.opt<unknown>('data.download_dir', DEFAULT_DOWNLOAD_DIR);
  if (typeof downloadDir !== 'string' || downloadDir === '') {
    throw new DataError(`${params.file}: data.download_dir must be a directory path, got ${JSON.stringify(downloadDir)}`);
  }
  const manifest = await buildDatasets({
    root,
    sources,
    fractions,
    outDir: join(root, DATA_DIR),
    downloadDir: isAbsolute(downloadDir) ? downloadDir : join(root, downloadDir),
    params: { sources: sourcesRaw, val_fraction: fractions.val, test_fraction: fractions.test },
    log,
    onProgress: (source, read) =>
      reportProgress(
        sources.findIndex((s) => s.name === source),
        sources.length,
        { source, read },
      ),
  });
  reportProgress(sources.length, sources.length);
  for (const s of manifest.sources) {
    const n = s.splits;
    log(
      `${s.name}: train ${n.train.sentences}, val ${n.val.sentences}, test ${n.test.sentences} sentences ` +
        `(read ${s.read}; dropped ${s.dropped.empty} empty, ${s.dropped.duplicate} duplicate, ${s.dropped.overLimit} over max_sentences)`,
    );
  }
  return manifest;
}

async function main(): Promise<void> {
  const args = parseArgs();
  const params = loadParams(args.params);
  await runDownload(params, resolve(args.root ?? process.env.GROW_ROOT ?? '.'));
}

runMain(import.meta, 'download', main);
