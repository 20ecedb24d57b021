/**
 * Reading a job's state from `scontrol show job -o <id>` (one line of `Key=Value` pairs) and
 * turning a final state into the runner's ExecResult. Pure functions: the executor polls, this
 * decides.
 */
import { constants } from 'node:os';
import type { ExecResult } from '../../../types.ts';

export interface JobInfo {
  id: string;
  /** JobName (grow submits `grow:<stage>`). */
  name?: string;
  /** JobState, e.g. PENDING, RUNNING, COMPLETING, COMPLETED, FAILED, CANCELLED, TIMEOUT. */
  state: string;
  reason?: string;
  /** From `ExitCode=X:S`: exit status X, or the signal S that ended the batch script. */
  exitStatus?: number;
  exitSignal?: number;
  /** TimeLimit as Slurm prints it: `UNLIMITED`, `MM:SS`, `HH:MM:SS` or `D-HH:MM:SS`. */
  timeLimit?: string;
  nodeList?: string;
}

/**
 * States after which the job will never change again. COMPLETING is not one of them: the job's
 * processes may still be writing (and the log may still grow).
 */
export const FINAL_STATES = new Set([
  'COMPLETED',
  'FAILED',
  'CANCELLED',
  'TIMEOUT',
  'NODE_FAIL',
  'OUT_OF_MEMORY',
  'PREEMPTED',
  'BOOT_FAIL',
  'DEADLINE',
  'SPECIAL_EXIT',
  'REVOKED',
]);

function field(line: string, key: string): string | undefined {
  const m = new RegExp(`(?:^|\\s)${key}=(\\S*)`).exec(line);
  return m?.[1];
}

export function parseJobLine(line: string): JobInfo | undefined {
  const id = field(line, 'JobId');
  const state = field(line, 'JobState');
  if (!id || !state) return undefined;
  const info: JobInfo = { id, state };
  const name = field(line, 'JobName');
  if (name) info.name = name;
  const reason = field(line, 'Reason');
  if (reason && reason !== 'None') info.reason = reason;
  const exit = /^(\d+):(\d+)$/.exec(field(line, 'ExitCode') ?? '');
  if (exit) {
    info.exitStatus = Number(exit[1]);
    info.exitSignal = Number(exit[2]);
  }
  info.timeLimit = field(line, 'TimeLimit');
  const nodes = field(line, 'NodeList');
  if (nodes && nodes !== '(null)') info.nodeList = nodes;
  return info;
}

/** `00:01:00` → 1, `1-02:00:00` → 1560, `UNLIMITED` → undefined. */
export function timeLimitMinutes(limit: string | undefined): number | undefined {
  const m = /^(?:(\d+)-)?(?:(\d+):)?(\d+):(\d+)$/.exec(limit ?? '');
  if (!m) return undefined;
  const [days, hours, minutes, seconds] = [m[1], m[2], m[3], m[4]].map((x) => Number(x ?? 0));
  return days * 1440 + hours * 60 + minutes + seconds / 60;
}

function signalName(n: number): string {
  const entry = Object.entries(constants.signals).find(([, v]) => v === n);
  return entry ? entry[0] : `signal ${n}`;
}

/** The runner's view of a job in a final state. */
export function resultOf(job: JobInfo): ExecResult {
  const what = `Slurm job ${job.id}`;
  const on = job.nodeList ? ` on ${job.nodeList}` : '';
  const node = job.nodeList ? `node ${job.nodeList}` : 'node';
  switch (job.state) {
    case 'COMPLETED':
      return { exitCode: 0, state: 'ok' };
    case 'CANCELLED':
      return { exitCode: null, state: 'cancelled', message: `${what} was cancelled (scancel, or by an administrator)` };
    case 'TIMEOUT': {
      const minutes = timeLimitMinutes(job.timeLimit);
      const limit = minutes === undefined ? '' : ` of ${Number.isInteger(minutes) ? minutes : minutes.toFixed(1)} min`;
      return {
        exitCode: null,
        state: 'timeout',
        message: `${what} exceeded its time limit${limit} (TIMEOUT); raise \`resources.time\` (minutes) for this stage`,
      };
    }
    case 'NODE_FAIL':
      return { exitCode: null, state: 'lost', message: `${what} was lost: its ${node} failed (NODE_FAIL); run the stage again` };
    case 'BOOT_FAIL':
      return { exitCode: null, state: 'lost', message: `${what} was lost: its ${node} failed to boot (BOOT_FAIL); run the stage again` };
    case 'PREEMPTED':
      return { exitCode: null, state: 'lost', message: `${what} was preempted by a higher-priority job (PREEMPTED); run the stage again` };
    case 'OUT_OF_MEMORY':
      return {
        exitCode: null,
        state: 'failed',
        message: `${what} ran out of memory${on} (OUT_OF_MEMORY); raise \`resources.mem\` for this stage`,
      };
    case 'DEADLINE':
      return { exitCode: null, state: 'failed', message: `${what} reached its deadline before it finished (DEADLINE)` };
  }
  // FAILED, SPECIAL_EXIT, REVOKED: read the exit status or signal.
  if (job.exitSignal) {
    const sig = signalName(job.exitSignal);
    return { exitCode: null, signal: sig, state: 'failed', message: `${what} was killed by ${sig}${on}` };
  }
  if (job.exitStatus) {
    return { exitCode: job.exitStatus, state: 'failed', message: `${what} exited with code ${job.exitStatus}${on}` };
  }
  const reason = job.reason ? ` (${job.reason})` : '';
  return { exitCode: null, state: 'failed', message: `${what} ended ${job.state}${reason}${on}` };
}
