/**
 * The runner's black-box test rig: a real project in a temp directory, the real CLI run as a child
 * process (`node bin/grow.js`, compiled from dist/ as users run it), and helpers to read what it
 * left on disk. Stage commands report to the test through files instead of sleeping:
 * `record` appends the stage name to `.calls`, so a test can assert exactly which stages ran.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

export const REPO = fileURLToPath(new URL('../..', import.meta.url));
const CLI = join(REPO, 'dist', 'src', 'pipeline', 'cli.js');
const GROW = join(REPO, 'bin', 'grow.js');

function newestMtime(dir: string): number {
  let newest = 0;
  for (const f of readdirSync(dir, { recursive: true })) {
    const p = join(dir, String(f));
    const st = statSync(p);
    if (st.isFile() && st.mtimeMs > newest) newest = st.mtimeMs;
  }
  return newest;
}

export interface BuildPaths {
  /** The compiled file whose absence means "never built". */
  cli: string;
  /** Sources whose edits require a rebuild. */
  srcDir: string;
  /** Where the lock directory and the build stamp live. */
  distDir: string;
  /** Runs the compiler (synchronously). */
  build: () => void;
}

/**
 * Builds when the sources changed since the last build. The stamp file records the newest source
 * mtime seen *before* that build started: a source edited while tsc ran is newer than the stamp,
 * so the next call rebuilds — comparing against the output's mtime would call it fresh, since tsc
 * writes its output after the edit. Test files run in parallel processes, so a lock directory makes
 * one of them build while the others wait.
 */
export function ensureBuiltAt(paths: BuildPaths): void {
  const stampFile = join(paths.distDir, '.build-stamp');
  const builtFrom = (): number => {
    try {
      return Number(readFileSync(stampFile, 'utf8'));
    } catch {
      return -1;
    }
  };
  const stale = () => !existsSync(paths.cli) || builtFrom() < newestMtime(paths.srcDir);
  const lockDir = join(paths.distDir, '.build-lock');
  mkdirSync(paths.distDir, { recursive: true });
  for (let i = 0; i < 1200; i++) {
    // Fresh only counts when nobody is mid-build: tsc writes cli.js before the other modules.
    if (!existsSync(lockDir) && !stale()) return;
    try {
      mkdirSync(lockDir);
    } catch {
      spawnSync('sleep', ['0.1']);
      // A lock older than a minute belongs to a crashed build.
      try {
        if (Date.now() - statSync(lockDir).mtimeMs > 60_000) rmSync(lockDir, { recursive: true, force: true });
      } catch {
        /* released meanwhile */
      }
      continue;
    }
    try {
      if (stale()) {
        const sourcesAsOf = newestMtime(paths.srcDir);
        paths.build();
        writeFileSync(stampFile, String(sourcesAsOf));
      }
    } finally {
      rmSync(lockDir, { recursive: true, force: true });
    }
    if (!existsSync(paths.cli)) throw new Error('building dist/ failed: run `npx tsc -p tsconfig.json` to see why');
    return;
  }
  throw new Error('timed out waiting for another test process to build dist/');
}

/** Compiles the sources once per test process when dist/ is older than src/pipeline. */
export function ensureBuilt(): void {
  ensureBuiltAt({
    cli: CLI,
    srcDir: join(REPO, 'src', 'pipeline'),
    distDir: join(REPO, 'dist'),
    // tsc emits even when files outside the runner have type errors; we only need dist.
    build: () => {
      spawnSync(process.execPath, [join(REPO, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(REPO, 'tsconfig.json')], {
        stdio: 'ignore',
      });
    },
  });
}

export interface GrowResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A shell snippet that records that the current stage ran (appends its name to `.calls`). */
export const record = 'echo "$GROW_STAGE" >> "$GROW_ROOT/.calls"';

export class TestProject {
  readonly dir: string;

  constructor(files: Record<string, string> = {}) {
    ensureBuilt();
    this.dir = mkdtempSync(join(tmpdir(), 'grow-test-'));
    for (const [rel, content] of Object.entries(files)) this.write(rel, content);
  }

  path(rel: string): string {
    return join(this.dir, rel);
  }

  write(rel: string, content: string): void {
    mkdirSync(dirname(this.path(rel)), { recursive: true });
    writeFileSync(this.path(rel), content);
  }

  read(rel: string): string {
    return readFileSync(this.path(rel), 'utf8');
  }

  exists(rel: string): boolean {
    return existsSync(this.path(rel));
  }

  remove(rel: string): void {
    rmSync(this.path(rel), { recursive: true, force: true });
  }

  /** Raw pipeline.lock text ('' when absent). */
  lockText(): string {
    return this.exists('pipeline.lock') ? this.read('pipeline.lock') : '';
  }

  lock(): {
    schema: number;
    stages: Record<
      string,
      {
        cmd: string | string[];
        deps?: { path: string; hash: string }[];
        params?: Record<string, Record<string, unknown>>;
        outs?: { path: string; hash: string; size: number; files?: number }[];
      }
    >;
  } {
    return parse(this.lockText());
  }

  /** Stage names recorded by `record`, in the order they ran; clears the record. */
  calls(): string[] {
    if (!this.exists('.calls')) return [];
    const list = this.read('.calls').split('\n').filter(Boolean);
    this.remove('.calls');
    return list;
  }

  grow(args: string[], env: Record<string, string> = {}): Promise<GrowResult> {
    return new Promise((resolve, reject) => {
      const child = spawn(process.execPath, [GROW, ...args], {
        cwd: this.dir,
        env: { ...process.env, CI: '1', GROW_DEV: '', GROW_CACHE_DIR: '', ...env },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (c) => (stdout += c));
      child.stderr.on('data', (c) => (stderr += c));
      child.on('error', reject);
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
  }

  /** Runs grow and fails with its output when the exit code is not the expected one. */
  async ok(args: string[], expected = 0, env: Record<string, string> = {}): Promise<GrowResult> {
    const r = await this.grow(args, env);
    if (r.code !== expected) {
      throw new Error(`grow ${args.join(' ')} exited ${r.code}, expected ${expected}\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`);
    }
    return r;
  }

  cleanup(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}
