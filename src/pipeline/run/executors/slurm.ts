/**
 * Runs a stage as a Slurm batch job. The stage's commands go into a small batch script
 * (`.grow/slurm/<stage>.sh`), submitted with `sbatch --parsable`; the job's stdout and stderr go
 * straight to the stage's log, which this executor owns for Slurm stages (Slurm writes it, we
 * follow it by offset and feed each line to `onLine`, so `::progress` reaches the live view).
 *
 * The job is tracked by polling `scontrol show job -o <id>`, never `sbatch --wait` (which polls at
 * 2 s, 10 s, 42 s, then every 32 s, and has returned 0 for a cancelled job). Polls start at
 * 100 ms and back off to 1 s, and to 5 s after a minute, so short jobs finish promptly without
 * hammering slurmctld with long ones.
 * Aborting `req.signal` runs `scancel` and waits for the job's final state.
 *
 * The project directory (cwd, log, outs) must be on a file system the compute nodes share.
 */
import { execFile } from 'node:child_process';
import { appendFileSync, chmodSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ExecRequest, ExecResult, Executor } from '../../types.ts';
import { FINAL_STATES, parseJobLine, resultOf, type JobInfo } from './slurm/job-state.ts';
import { LogTail } from './slurm/log-tail.ts';
import { sbatchArgs } from './slurm/sbatch-args.ts';
import { batchScript } from './slurm/script.ts';
import { commandsOf } from './commands.ts';

export interface SlurmExecutorOptions {
  /** Absolute project root; batch scripts go under `<root>/.grow/slurm/`. */
  root: string;
  /**
   * Longest pause between two polls of a job (or env GROW_SLURM_POLL_MS). Default: 1 s during a
   * job's first minute, then 5 s — prompt for short jobs, light on slurmctld for long ones.
   */
  pollMs?: number;
}

/** How long scontrol may keep failing (slurmctld restarting, network) before the job counts as lost. */
const QUERY_FAILURE_GRACE_MS = 60_000;
const FIRST_POLL_MS = 100;

interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Set when the program could not be started at all (ENOENT: Slurm's clients not installed). */
  spawnError?: NodeJS.ErrnoException;
}

function runCommand(file: string, args: string[]): Promise<CommandResult> {
  return new Promise((resolve) => {
    execFile(file, args, { encoding: 'utf8', maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const e = err as (NodeJS.ErrnoException & { code?: number | string }) | null;
      if (e && typeof e.code === 'string') resolve({ code: null, stdout, stderr, spawnError: e });
      else resolve({ code: e ? (typeof e.code === 'number' ? e.code : 1) : 0, stdout, stderr });
    });
  });
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Sleeps `ms`, or less if the signal aborts meanwhile (so a Ctrl-C is acted on at once). */
function pause(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
  });
}

function safeName(stage: string): string {
  return stage.replace(/[^A-Za-z0-9._@=+-]/g, '_');
}

function oneLine(text: string): string {
  return text.trim().split('\n').filter(Boolean).join('; ');
}

export function createSlurmExecutor(opts: SlurmExecutorOptions): Executor {
  const envPoll = Number(process.env.GROW_SLURM_POLL_MS);
  const fixedPoll = opts.pollMs ?? (envPoll > 0 ? envPoll : undefined);
  const maxPause = (elapsedMs: number) => fixedPoll ?? (elapsedMs < 60_000 ? 1000 : 5000);
  const scriptDir = join(opts.root, '.grow', 'slurm');

  /** Latest state of the job, or an error text when Slurm could not be asked. */
  async function query(id: string): Promise<JobInfo | { error: string; gone: boolean }> {
    const r = await runCommand('scontrol', ['show', 'job', '-o', id]);
    if (r.code === 0) {
      const info = parseJobLine(r.stdout.split('\n').find((l) => l.includes(`JobId=${id} `) || l.startsWith(`JobId=${id}`)) ?? '');
      if (info) return info;
      return { error: `unexpected scontrol output: ${oneLine(r.stdout).slice(0, 200)}`, gone: false };
    }
    const text = oneLine(r.stderr || r.stdout || r.spawnError?.message || 'scontrol failed');
    return { error: text, gone: /invalid job id/i.test(text) };
  }

  /**
   * A grow that was killed outright (SIGKILL, a lost login session) leaves its jobs running. Before
   * a stage is submitted again, its previous job — remembered in `.grow/slurm/<stage>.job` — is
   * cancelled and waited for, so two jobs never write the same outs at once.
   */
  async function cancelLeftover(stage: string, jobFile: string, log: (line: string) => void): Promise<void> {
    let id: string;
    try {
      id = readFileSync(jobFile, 'utf8').trim();
    } catch {
      return;
    }
    const deadline = Date.now() + 120_000;
    let cancelled = false;
    for (;;) {
      const info = await query(id);
      // Gone, finished, or a different job reusing the id (a cluster whose ids restarted).
      if ('error' in info || FINAL_STATES.has(info.state) || info.name !== `grow:${stage}`) break;
      if (!cancelled) {
        log(`::grow job ${id} of an earlier grow is still ${info.state}: cancelling it before submitting again`);
        await runCommand('scancel', [id]);
        cancelled = true;
      }
      if (Date.now() > deadline) break;
      await sleep(200);
    }
    rmSync(jobFile, { force: true });
  }

  async function run(req: ExecRequest): Promise<ExecResult> {
    const log = (line: string) => appendFileSync(req.logFile, line + '\n');
    mkdirSync(dirname(req.logFile), { recursive: true });
    mkdirSync(scriptDir, { recursive: true });
    const script = join(scriptDir, `${safeName(req.stage.name)}.sh`);
    const jobFile = join(scriptDir, `${safeName(req.stage.name)}.job`);
    // Before the log is started afresh: a leftover job may still be appending to it.
    const notes: string[] = [];
    await cancelLeftover(req.stage.name, jobFile, (line) => notes.push(line));
    writeFileSync(req.logFile, notes.map((l) => l + '\n').join('')); // a fresh log per run, as the local executor does
    if (req.signal.aborted) return { exitCode: null, state: 'cancelled', message: 'cancelled before submission' };

    writeFileSync(script, batchScript({ stage: req.stage.name, cwd: req.cwd, env: req.env, cmds: commandsOf(req.stage.cmd) }));
    chmodSync(script, 0o755);
    const args = sbatchArgs({ stage: req.stage.name, cwd: req.cwd, logFile: req.logFile, script, resources: req.stage.resources });

    const tail = new LogTail(req.logFile, (line) => req.onLine(line, 'stdout'));
    const sub = await runCommand('sbatch', args);
    if (sub.spawnError) {
      const message = `cannot submit stage \`${req.stage.name}\` to Slurm: sbatch is not available here (${sub.spawnError.code}); run grow on a Slurm login node, or use --executor local`;
      log(`::grow ${message}`);
      return { exitCode: null, state: 'failed', message };
    }
    const id = /^(\d+)/.exec(sub.stdout.trim())?.[1];
    if (sub.code !== 0 || !id) {
      const why = oneLine(sub.stderr || sub.stdout) || `sbatch exited with code ${sub.code}`;
      const message = `Slurm rejected stage \`${req.stage.name}\`: ${why}`;
      log(`::grow sbatch ${args.join(' ')}`);
      log(`::grow ${message}`);
      return { exitCode: sub.code, state: 'failed', message };
    }
    log(`::grow job ${id} submitted (sbatch ${args.slice(0, -1).join(' ')})`);
    writeFileSync(jobFile, `${id}\n`);

    let cancelSent = false;
    const submittedAt = Date.now();
    let firstFailureAt: number | undefined;
    let delay = FIRST_POLL_MS;
    for (;;) {
      if (req.signal.aborted && !cancelSent) {
        // scancel's TERM reaches every process of the job; Slurm sends KILL after KillWait.
        const c = await runCommand('scancel', [id]);
        cancelSent = c.code === 0;
        if (!cancelSent) log(`::grow scancel ${id} failed: ${oneLine(c.stderr) || c.spawnError?.message || ''}`);
      }
      const info = await query(id);
      tail.poll();
      if ('error' in info) {
        firstFailureAt ??= Date.now();
        if (info.gone || Date.now() - firstFailureAt > QUERY_FAILURE_GRACE_MS) {
          tail.flush();
          const message = info.gone
            ? `Slurm no longer knows job ${id} (purged before grow saw it finish: raise MinJobAge); its outcome is unknown`
            : `lost track of Slurm job ${id}: ${info.error}`;
          log(`::grow ${message}`);
          // A job we merely lost sight of may still run: the next submission cancels it first.
          if (info.gone) rmSync(jobFile, { force: true });
          return { exitCode: null, state: 'lost', message };
        }
      } else {
        firstFailureAt = undefined;
        if (FINAL_STATES.has(info.state)) {
          rmSync(jobFile, { force: true });
          tail.poll();
          tail.flush();
          const result = resultOf(info);
          log(`::grow job ${id} ${info.state} ExitCode=${info.exitStatus ?? '?'}:${info.exitSignal ?? '?'}`);
          // A cancel we asked for is a cancel, whatever state the job reached meanwhile.
          if (req.signal.aborted && result.state !== 'ok') return { ...result, state: 'cancelled', message: `Slurm job ${id} cancelled` };
          return result;
        }
      }
      // Once cancelling, the abort has been acted on: keep the ordinary pace until the job ends.
      await (req.signal.aborted ? sleep(delay) : pause(delay, req.signal));
      delay = Math.min(maxPause(Date.now() - submittedAt), Math.ceil(delay * 1.5));
    }
  }

  return { name: 'slurm', run };
}
