/**
 * Runs a stage on this machine: each command (cmd items, multi-line ones split as commands.ts
 * says) through a shell (execa, `shell: true`), in order, stopping at the first failure. Every command gets its own process group (`detached`), so
 * cancelling kills the whole tree the shell started — SIGTERM first, SIGKILL after a grace period.
 * stdout and stderr are teed to the stage's log file and, line by line, to `onLine`.
 */
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { dirname } from 'node:path';
import { execa } from 'execa';
import type { ExecRequest, ExecResult, Executor } from '../../types.ts';
import { groupAlive, signalGroup } from '../process-group.ts';
import { commandsOf } from './commands.ts';

/** How long a cancelled stage gets to exit cleanly after SIGTERM before SIGKILL. */
export const KILL_GRACE_MS = 5000;

/**
 * After a cancel the shell may be gone while a child that ignores SIGTERM lives on in its group:
 * wait out the grace period for the whole group, then SIGKILL whatever is left.
 */
async function reapGroup(pid: number | undefined): Promise<void> {
  if (pid === undefined) return;
  const deadline = Date.now() + KILL_GRACE_MS;
  while (groupAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  killGroup(pid, 'SIGKILL');
}

function killGroup(pid: number | undefined, signal: NodeJS.Signals): void {
  if (pid !== undefined) signalGroup(pid, signal);
}

/** Splits a byte stream into lines for onLine, keeping an unterminated tail for the next chunk. */
function lineSplitter(emit: (line: string) => void): { push(chunk: Buffer): void; flush(): void } {
  let pending = '';
  return {
    push(chunk) {
      pending += chunk.toString('utf8');
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const l of lines) emit(l.replace(/\r$/, ''));
    },
    flush() {
      if (pending) emit(pending);
      pending = '';
    },
  };
}

async function runOne(cmd: string, req: ExecRequest, log: WriteStream): Promise<ExecResult> {
  log.write(`$ ${cmd}\n`);
  const child = execa(cmd, {
    shell: true,
    cwd: req.cwd,
    env: req.env,
    extendEnv: true,
    detached: true,
    stdin: 'ignore',
    buffer: false,
    reject: false,
  });
  const out = lineSplitter((l) => req.onLine(l, 'stdout'));
  const err = lineSplitter((l) => req.onLine(l, 'stderr'));
  child.stdout?.on('data', (c: Buffer) => {
    log.write(c);
    out.push(c);
  });
  child.stderr?.on('data', (c: Buffer) => {
    log.write(c);
    err.push(c);
  });
  let killTimer: NodeJS.Timeout | undefined;
  const onAbort = () => {
    killGroup(child.pid, 'SIGTERM');
    killTimer = setTimeout(() => killGroup(child.pid, 'SIGKILL'), KILL_GRACE_MS);
    killTimer.unref();
  };
  if (req.signal.aborted) onAbort();
  else req.signal.addEventListener('abort', onAbort, { once: true });
  const result = await child;
  req.signal.removeEventListener('abort', onAbort);
  if (killTimer) clearTimeout(killTimer);
  out.flush();
  err.flush();
  if (req.signal.aborted) await reapGroup(child.pid);
  if (req.signal.aborted) return { exitCode: result.exitCode ?? null, signal: result.signal, state: 'cancelled', message: 'cancelled' };
  if (result.exitCode === 0) return { exitCode: 0, state: 'ok' };
  const code = result.exitCode ?? null;
  let message: string;
  if (code === 127) message = `command not found: \`${cmd}\` (exit 127); check the program name and that it is on PATH`;
  else if (code === 126) message = `command not executable: \`${cmd}\` (exit 126); check the file's permissions`;
  else if (code !== null) message = `\`${cmd}\` exited with code ${code}`;
  else if (result.signal) message = `\`${cmd}\` was killed by ${result.signal}`;
  else message = `\`${cmd}\` could not start: ${result.originalMessage ?? result.shortMessage}`;
  return { exitCode: code, signal: result.signal, state: 'failed', message };
}

export function createLocalExecutor(): Executor {
  return {
    name: 'local',
    async run(req) {
      mkdirSync(dirname(req.logFile), { recursive: true });
      const log = createWriteStream(req.logFile, { flags: 'w' });
      try {
        let last: ExecResult = { exitCode: 0, state: 'ok' };
        for (const cmd of commandsOf(req.stage.cmd)) {
          last = await runOne(cmd, req, log);
          if (last.state !== 'ok') break;
        }
        return last;
      } finally {
        await new Promise<void>((resolve) => log.end(resolve));
      }
    },
  };
}
