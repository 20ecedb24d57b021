/**
 * What the reliability and watch tests share: real temp projects, the real `grow` CLI as a child
 * process, and file-based handshakes instead of sleeps (a stage creates `<name>.started` and waits
 * for the test to create `<name>.release`, as wireit's test rig does).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureBuilt } from '../helpers/grow-project.ts';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const GROW_BIN = join(REPO, 'bin', 'grow.js');
/** Generous: a test that waits this long has failed; it never paces a passing test. */
export const TIMEOUT_MS = 60_000;

export function tempProject(files: Record<string, string> = {}): string {
  const dir = mkdtempSync(join(tmpdir(), 'grow-rel-'));
  for (const [rel, text] of Object.entries(files)) writeFile(dir, rel, text);
  return dir;
}

export function writeFile(root: string, rel: string, text: string): void {
  mkdirSync(dirname(join(root, rel)), { recursive: true });
  writeFileSync(join(root, rel), text);
}

export function removeProject(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** Polls until `check` returns a truthy value; throws with `what` after the timeout. */
export async function waitFor<T>(what: string, check: () => T | undefined | null | false, timeoutMs = TIMEOUT_MS): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = check();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 15));
  }
}

export const waitForFile = (path: string, timeoutMs = TIMEOUT_MS) => waitFor(`file ${path}`, () => existsSync(path), timeoutMs);

/**
 * A shell snippet for a stage: announce the start (its pid into `<dir>/<name>.started`), wait for
 * `<dir>/<name>.release`, then go on. `dir` is absolute so it works from any wdir.
 */
export function handshake(dir: string, name: string): string {
  const started = join(dir, `${name}.started`);
  const release = join(dir, `${name}.release`);
  return `echo $$ > ${started}.tmp && mv ${started}.tmp ${started} && while [ ! -e ${release} ]; do sleep 0.02; done`;
}

/**
 * Whether the process still runs. A zombie does not: it has exited and only waits to be reaped,
 * which where pid 1 does not reap (some containers) never happens to a stage's orphaned child.
 * The runner judges its stages' process groups the same way (src/pipeline/run/process-group.ts).
 */
export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '')[0] !== 'Z';
  } catch {
    return !existsSync('/proc'); // no /proc: the signal check is all there is; else it just exited
  }
}

export interface GrowProcess {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** Resolves with the exit code (or 128+signal number style name when killed). */
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Starts the real CLI as users run it (compiled dist/, rebuilt by the shared rig when stale). */
export function startGrow(cwd: string, args: string[], env: Record<string, string> = {}): GrowProcess {
  ensureBuilt();
  const child = spawn(process.execPath, [GROW_BIN, ...args], {
    cwd,
    env: { ...process.env, GROW_DEV: '', GROW_CACHE_DIR: '', CI: 'true', NO_COLOR: '1', FORCE_COLOR: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  const exit = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res) =>
    child.on('close', (code, signal) => res({ code, signal })),
  );
  return { child, stdout: () => out, stderr: () => err, exit };
}

export async function runGrow(cwd: string, args: string[], env: Record<string, string> = {}) {
  const p = startGrow(cwd, args, env);
  const { code, signal } = await p.exit;
  return { code, signal, stdout: p.stdout(), stderr: p.stderr(), output: p.stdout() + p.stderr() };
}

/**
 * Every file and symlink under `root` (except `skip` prefixes) → md5 of its bytes (or link target),
 * so a test can assert that a failed command changed nothing on disk.
 */
export function snapshotTree(root: string, skip: string[] = []): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (rel: string) => {
    const abs = join(root, rel);
    for (const name of readdirSync(abs).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      if (skip.some((s) => r === s || r.startsWith(s + '/'))) continue;
      const st = lstatSync(join(root, r));
      if (st.isDirectory()) {
        out.set(r + '/', 'dir');
        walk(r);
      } else if (st.isSymbolicLink()) out.set(r, 'link:' + readlinkSync(join(root, r)));
      else
        out.set(
          r,
          createHash('md5')
            .update(readFileSync(join(root, r)))
            .digest('hex'),
        );
    }
  };
  walk('');
  return out;
}

/**
 * Checks every object of a content-addressed cache (`<cache>/files/md5/ab/cdef…[.dir]`) against its
 * name. Returns the problems (empty when sound) and the leftover temp files, which are harmless
 * garbage but worth knowing about.
 */
export function auditCache(cacheDir: string): { bad: string[]; temps: string[]; objects: number } {
  const objectsDir = join(cacheDir, 'files', 'md5');
  const bad: string[] = [];
  const temps: string[] = [];
  let objects = 0;
  if (!existsSync(objectsDir)) return { bad, temps, objects };
  for (const sub of readdirSync(objectsDir)) {
    // A store killed before it knew its file's hash leaves `incoming.tmp-…` beside the fan-out dirs.
    if (sub.includes('.tmp')) {
      temps.push(sub);
      continue;
    }
    for (const name of readdirSync(join(objectsDir, sub))) {
      const rel = `${sub}/${name}`;
      if (name.includes('.tmp')) {
        temps.push(rel);
        continue;
      }
      objects++;
      const hex = sub + name.replace(/\.dir$/, '');
      const actual = createHash('md5')
        .update(readFileSync(join(objectsDir, sub, name)))
        .digest('hex');
      if (actual !== hex) bad.push(`${rel}: content hashes to ${actual}`);
    }
  }
  return { bad, temps, objects };
}
