/**
 * `grow verify`: does pipeline.lock describe what the committed inputs really produce? Copy the
 * project's inputs (its git-tracked files; without git, everything but outs, `.grow/`, `.git/` and
 * `node_modules/`) to a fresh temp directory, run the selected stages there from scratch (`--force`,
 * no run-cache, a private empty cache), and compare every out's hash with the lock.
 *
 * The copy is what makes this a reproducibility check rather than a status check: nothing the
 * workspace happens to hold (an untracked file, an out left by an older run, a warm cache) can
 * make a stage look reproducible.
 */
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { EXIT, GrowError } from '../errors.ts';
import { LOCK_FILE, LockStore, type LockEntry } from '../store/lockfile.ts';
import { findRoot, Project } from '../project/project.ts';
import type { Reporter, RunSummary } from './events.ts';
import { runPipeline } from './scheduler.ts';

export interface VerifyOptions {
  /** Where to find the project (default: the current directory). */
  cwd?: string;
  targets?: string[];
  jobs?: number;
  /** Out paths whose hashes are not compared (known non-deterministic, e.g. a timing file). */
  skipOuts?: string[];
  /** Keep the temp copy for inspection (its path is in the result). */
  keep?: boolean;
  reporter?: Reporter;
  signal?: AbortSignal;
}

export interface OutVerdict {
  stage: string;
  path: string;
  expected: string;
  /** The hash the isolated run produced; null when it produced nothing (stage failed or skipped). */
  got: string | null;
  reproduced: boolean;
  skipped?: boolean;
  /** Why it was not compared: declared `verify: false` in the pipeline, or named by `--skip-out`. */
  skippedBy?: 'declaration' | 'flag';
}

/** A lock entry whose recorded inputs are not those of the committed project (the lock is out of date). */
export interface StaleInput {
  stage: string;
  /** What differs: `cmd`, `params <file>`, or `dep <path>`. */
  what: string;
  expected: string;
  got: string;
}

export interface VerifyResult {
  outs: OutVerdict[];
  /** Inputs (command, params, deps) the lock records differently from the committed project. */
  staleInputs: StaleInput[];
  /** Selected stages with no entry in pipeline.lock: nothing to compare them with. */
  unlocked: string[];
  run: RunSummary;
  /** The temp copy (already deleted unless `keep`). */
  workDir: string;
  exitCode: number;
}

/** Directories never copied: runner state, VCS metadata, installed packages. */
const NEVER_COPIED = ['.grow', '.git', 'node_modules'];

function isUnder(path: string, dirs: string[]): boolean {
  return dirs.some((d) => path === d || path.startsWith(`${d}/`));
}

function gitTrackedFiles(root: string): string[] | null {
  try {
    const out = execFileSync('git', ['ls-files', '-z', '--cached'], {
      cwd: root,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      maxBuffer: 1 << 28,
    });
    return out.split('\0').filter(Boolean);
  } catch {
    return null; // not a git work tree, or git is not installed
  }
}

function allFiles(root: string, rel = ''): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(join(root, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${entry.name}` : entry.name;
    if (entry.isDirectory()) out.push(...allFiles(root, r));
    else out.push(r);
  }
  return out;
}

/** The project-relative files a from-scratch run may read: inputs, never outs or runner state. */
export function inputFiles(root: string, outs: string[]): { files: string[]; source: 'git' | 'walk' } {
  const tracked = gitTrackedFiles(root);
  // The lock is what we compare against, never an input: the isolated run writes a fresh one.
  const excluded = [...NEVER_COPIED, LOCK_FILE, ...outs];
  const files = (tracked ?? allFiles(root)).filter((f) => !isUnder(f, excluded));
  return { files, source: tracked ? 'git' : 'walk' };
}

function copyInputs(root: string, files: string[], dest: string): void {
  for (const f of files) {
    const from = join(root, f);
    if (!existsSync(from)) continue; // tracked but deleted in the work tree: the run will say if it matters
    mkdirSync(dirname(join(dest, f)), { recursive: true });
    cpSync(from, join(dest, f), { verbatimSymlinks: true, preserveTimestamps: false });
  }
}

export async function verifyPipeline(opts: VerifyOptions = {}): Promise<VerifyResult> {
  const root = findRoot(opts.cwd ?? process.cwd());
  if (!existsSync(join(root, LOCK_FILE))) {
    throw new GrowError(
      `nothing to verify: ${LOCK_FILE} does not exist in ${root}`,
      EXIT.usage,
      'run `grow run` and commit pipeline.lock, then verify',
    );
  }
  // Opening the real project validates pipeline.yaml, the params and the lock before any copying.
  const original = await Project.open({ cwd: root });
  const lock = new LockStore(root);
  const allOuts = original.pipeline.stages.flatMap((s) => s.outs.map((o) => o.path));
  const { files, source } = inputFiles(root, allOuts);
  if (source === 'git' && !files.includes(original.pipeline.file)) {
    throw new GrowError(
      `${original.pipeline.file} is not tracked by git, and verify copies only tracked files`,
      EXIT.usage,
      `\`git add\` the pipeline, its params and its inputs (what a fresh clone would have), then verify`,
    );
  }

  const workDir = mkdtempSync(join(tmpdir(), 'grow-verify-'));
  // The run must neither read nor fill any shared cache: GROW_CACHE_DIR wins over .growrc.yaml.
  const savedCacheEnv = process.env.GROW_CACHE_DIR;
  try {
    copyInputs(root, files, workDir);
    // Packages are the environment, not inputs: let stages resolve them as in the project.
    if (existsSync(join(root, 'node_modules')) && !existsSync(join(workDir, 'node_modules'))) {
      symlinkSync(join(root, 'node_modules'), join(workDir, 'node_modules'), 'dir');
    }
    process.env.GROW_CACHE_DIR = join(workDir, '.grow', 'verify-cache');
    const run = await runPipeline({
      cwd: workDir,
      targets: opts.targets,
      force: true,
      runCache: false,
      jobs: opts.jobs,
      reporter: opts.reporter,
      signal: opts.signal,
    });
    // Outs the pipeline itself declares as varying (`verify: false`): never compared, whoever runs verify.
    const undeclared = new Set(
      original.pipeline.stages.flatMap((s) => s.outs.filter((o) => o.verify === false).map((o) => `${s.name}\0${o.path}`)),
    );
    // Deps inside (or holding) some stage's out are that stage's results, judged by its own out
    // verdict; only the project's own inputs (code, data, params) are compared as deps.
    const producedPaths = original.pipeline.stages.flatMap((s) => s.outs.map((o) => o.path));
    const fresh = new LockStore(workDir);
    const outs: OutVerdict[] = [];
    const staleInputs: StaleInput[] = [];
    const unlocked: string[] = [];
    for (const { name } of run.stages) {
      const expected: LockEntry | undefined = lock.get(name);
      if (!expected) {
        unlocked.push(name);
        continue;
      }
      // The copy has no lock, so an entry here was written by this forced run.
      const now = fresh.get(name);
      if (now) staleInputs.push(...inputDifferences(name, expected, now, producedPaths));
      const got = new Map((now?.outs ?? []).map((o) => [o.path, o.hash]));
      for (const o of expected.outs) {
        const now = got.get(o.path) ?? null;
        const declared = undeclared.has(`${name}\0${o.path}`);
        const flagged = (opts.skipOuts ?? []).some((p) => o.path === p || o.path.startsWith(`${p}/`));
        const skipped = declared || flagged;
        outs.push({
          stage: name,
          path: o.path,
          expected: o.hash,
          got: now,
          reproduced: skipped || now === o.hash,
          skipped,
          ...(skipped ? { skippedBy: declared ? ('declaration' as const) : ('flag' as const) } : {}),
        });
      }
    }
    let exitCode: number = EXIT.ok;
    if (run.exitCode === EXIT.interrupted) exitCode = EXIT.interrupted;
    else if (run.exitCode !== EXIT.ok || unlocked.length || staleInputs.length || outs.some((o) => !o.reproduced))
      exitCode = EXIT.stageFailed;
    return { outs, staleInputs, unlocked, run, workDir, exitCode };
  } finally {
    if (savedCacheEnv === undefined) delete process.env.GROW_CACHE_DIR;
    else process.env.GROW_CACHE_DIR = savedCacheEnv;
    if (!opts.keep) rmSync(workDir, { recursive: true, force: true });
  }
}

const overlaps = (a: string, b: string) => a === b || a.startsWith(`${b}/`) || b.startsWith(`${a}/`);

/**
 * What the committed lock records as a stage's inputs that the committed project does not have:
 * a lock written before the last code or params change reproduces its outs only by luck, so the
 * numbers it vouches for would not provably come from this code. Deps that overlap a stage's out
 * are not compared here: whether an out reproduced is its own verdict (and a `verify: false`
 * out's hash is a timing's).
 */
function inputDifferences(stage: string, expected: LockEntry, now: LockEntry, produced: string[]): StaleInput[] {
  const out: StaleInput[] = [];
  if (JSON.stringify(expected.cmd) !== JSON.stringify(now.cmd))
    out.push({ stage, what: 'cmd', expected: expected.cmd.join(' && '), got: now.cmd.join(' && ') });
  const files = new Set([...Object.keys(expected.params), ...Object.keys(now.params)]);
  for (const f of files) {
    const a = JSON.stringify(expected.params[f] ?? null);
    const b = JSON.stringify(now.params[f] ?? null);
    if (a !== b) out.push({ stage, what: `params ${f}`, expected: a, got: b });
  }
  const gotDeps = new Map(now.deps.map((d) => [d.path, d.hash]));
  const expDeps = new Map(expected.deps.map((d) => [d.path, d.hash]));
  for (const path of new Set([...expDeps.keys(), ...gotDeps.keys()])) {
    if (produced.some((v) => overlaps(path, v))) continue;
    const a = expDeps.get(path) ?? 'not a dep';
    const b = gotDeps.get(path) ?? 'not a dep';
    if (a !== b) out.push({ stage, what: `dep ${path}`, expected: a, got: b });
  }
  return out;
}

/** The report: one block per output that did not reproduce, then a one-line verdict. */
export function formatVerify(r: VerifyResult): string {
  const lines: string[] = [];
  for (const o of r.outs) {
    if (o.reproduced) continue;
    lines.push(`✖ ${o.stage}: ${o.path} did not reproduce`);
    lines.push(`    expected ${o.expected} (${LOCK_FILE})`);
    lines.push(`    got      ${o.got ?? 'nothing (the stage did not complete)'}`);
  }
  for (const d of r.staleInputs) {
    lines.push(`✖ ${d.stage}: ${LOCK_FILE} records another ${d.what} than the committed project has`);
    lines.push(`    expected ${d.expected} (${LOCK_FILE})`);
    lines.push(`    got      ${d.got}`);
  }
  for (const name of r.unlocked) lines.push(`✖ ${name}: no entry in ${LOCK_FILE} to compare with (run \`grow run\` and commit the lock)`);
  for (const s of r.run.stages) if (s.outcome === 'failed') lines.push(`✖ ${s.name}: failed in the isolated run: ${s.message ?? ''}`);
  const compared = r.outs.filter((o) => !o.skipped);
  const bad = compared.filter((o) => !o.reproduced).length;
  const stages = new Set(r.outs.map((o) => o.stage)).size;
  const byDeclaration = r.outs.filter((o) => o.skippedBy === 'declaration').length;
  const byFlag = r.outs.filter((o) => o.skippedBy === 'flag').length;
  const notes = [
    ...(byDeclaration ? [`${byDeclaration} not compared: declared \`verify: false\``] : []),
    ...(byFlag ? [`${byFlag} skipped by --skip-out`] : []),
  ];
  const skipNote = notes.length ? ` (${notes.join('; ')})` : '';
  if (r.exitCode === EXIT.ok) lines.push(`verify: all ${compared.length} outputs of ${stages} stages reproduced${skipNote}`);
  else if (r.exitCode === EXIT.interrupted) lines.push('verify: interrupted');
  else {
    if (bad || !r.staleInputs.length) lines.push(`verify: ${bad} of ${compared.length} outputs did not reproduce${skipNote}`);
    else lines.push(`verify: all ${compared.length} outputs reproduced${skipNote}`);
    if (r.staleInputs.length)
      lines.push(
        `verify: ${new Set(r.staleInputs.map((d) => d.stage)).size} stages' lock entries are out of date: run \`grow run\` and commit ${LOCK_FILE}`,
      );
    if (bad)
      lines.push(
        `hint: if pipeline.lock is simply out of date, \`grow status --check\` says so; otherwise the stage is not deterministic (seeds, timestamps, thread order) or reads something it does not declare`,
      );
  }
  return lines.join('\n');
}
